"""Sandbox methods: sandbox.plan, command.run, container_build.run (docs/PROTOCOL.md §4)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..core.execution import RuntimeExecutionResult
from ..core.wire import WireModel
from ..operations.invocations import Invocation
from ..operations.runs import run_command, run_container_build
from ..operations.sandbox import Runtime, SandboxRunRequest, ToolName, plan
from ..rpc import reserve_answer_memory
from .registry import AnyMethod, RequestContext, method


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SandboxPlanParams(_Params):
    runtime: Runtime
    request: SandboxRunRequest


class SandboxPlanResult(WireModel):
    """``{tool, argv}`` in this order (a WireModel keeps declaration order on the wire)."""

    tool: ToolName
    argv: list[str]


class RunParams(_Params):
    invocation: Invocation
    runtime: Runtime


async def _sandbox_plan(params: SandboxPlanParams, _: RequestContext) -> SandboxPlanResult:
    argv = plan(params.runtime, params.request)
    return SandboxPlanResult(tool=params.runtime.tool, argv=argv)


ANSWER_MEMORY_FACTOR = 4
"""Memory an answer takes per byte of output: the bytes, their base64, the JSON line."""


async def _reserve_output(nbytes: int) -> None:
    await reserve_answer_memory(ANSWER_MEMORY_FACTOR * nbytes)


async def _command_run(params: RunParams, ctx: RequestContext) -> RuntimeExecutionResult:
    # The output bound keeps the answer (result or -32012 with the partial one) in one line;
    # the reservation keeps many large answers from being in memory at once.
    limit = ctx.settings.max_message_bytes
    return await run_command(
        params.invocation, params.runtime, max_message_bytes=limit, reserve_output=_reserve_output
    )


async def _container_build_run(params: RunParams, ctx: RequestContext) -> RuntimeExecutionResult:
    limit = ctx.settings.max_message_bytes
    return await run_container_build(
        params.invocation, params.runtime, max_message_bytes=limit, reserve_output=_reserve_output
    )


METHODS: list[AnyMethod] = [
    method(
        name="sandbox.plan",
        params=SandboxPlanParams,
        result=SandboxPlanResult,
        handler=_sandbox_plan,
        description="The exact argument vector a sandboxed run would execute; no side effects.",
    ),
    method(
        name="command.run",
        params=RunParams,
        result=RuntimeExecutionResult,
        handler=_command_run,
        description="Run a command invocation in the hardened sandbox.",
    ),
    method(
        name="container_build.run",
        params=RunParams,
        result=RuntimeExecutionResult,
        handler=_container_build_run,
        description="Run a container-build invocation in the root builder sandbox.",
    ),
]
