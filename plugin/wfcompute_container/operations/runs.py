"""The runtime adapters: run a command workload or a container build in the sandbox ().

Checks come in the reference's order with its texts. Error mapping (docs/PROTOCOL.md §3):
availability → RuntimeUnavailable; deadline or output limit → LimitExceeded with the partial
result; the tool failing (exit 125, could not start) → RuntimeFailure with the result;
domain rules → InvalidInput (with the result once a container ran). The workload's own
non-zero exit status is a normal result.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio
from pydantic import BaseModel

from ..core.enums import WORKLOAD_COMMAND, WORKLOAD_CONTAINER_BUILD
from ..core.execution import RuntimeExecutionResult
from ..core.resources import ResourceUsage
from ..core.rules import valid_sha256_digest
from ..core.wire import RawJSON
from ..core.workloads import CommandWorkload, ContainerBuildWorkload
from ..errors import InvalidInput, LimitExceeded, PluginError, RuntimeFailure, RuntimeUnavailable
from ..goparity.gostruct import decode_struct
from ..goparity.jsondecode import GoJSONError
from ..goparity.jsonenc import marshal
from ..goparity.paths import join
from ..goparity.text import first_non_empty, quote
from ..goparity.timefmt import format_duration_ms
from ..runtime_io.tool_process import DEFAULT_OUTPUT_LIMIT
from ..workspace.artifacts import directory_size, hash_workspace_artifacts
from ..workspace.digests import (
    BUILD_DIGEST_FILE_NAME,
    parse_build_digest_marker,
    read_build_digest,
    remove_planted_digest_file,
)
from .container_paths import clean_container_path
from .invocations import (
    DEFAULT_BUILD_TIMEOUT_MS,
    DEFAULT_COMMAND_TIMEOUT_MS,
    DEFAULT_NETWORK,
    DEFAULT_TIMEOUT_LIMIT_HIT,
    Invocation,
    resolve_container_build_paths,
)
from .sandbox import (
    BUILD_TMPFS,
    Runtime,
    SandboxRunRequest,
    SandboxRunResult,
    availability_error,
)
from .sandbox import run as run_sandbox

BUILDER_COMMAND = "/usr/local/bin/wfcompute-container-builder"
BUILD_STATE_DIR = "/wfcompute-build"
BUILD_DIGEST_CONTAINER_PATH = "/wfcompute-build/wfcompute-container-build-digest"
RESERVED_BUILD_ENV_PREFIX = "WORKFLOW_COMPUTE_BUILD_"
OUTPUT_LIMIT_HIT = "output_bytes"
# The Go package of the compute-core types, as Go's decode errors name them.
CORE_GO_PACKAGE = "protocol"

_ModelT = TypeVar("_ModelT", bound=BaseModel)
ReserveOutput = Callable[[int], Awaitable[None]]
"""Awaited with a run's output size before that output is read back into memory."""


async def run_command(
    invocation: Invocation,
    runtime: Runtime | None,
    *,
    max_message_bytes: int | None = None,
    reserve_output: ReserveOutput | None = None,
) -> RuntimeExecutionResult:
    """The Go plugin's RunSandboxedCommand, with the errors of docs/PROTOCOL.md §5."""
    runtime, workload = _workload_of(invocation, runtime, WORKLOAD_COMMAND, CommandWorkload)
    request = invocation.request
    _raise_if(workload.validation_error())
    if not workload.args:
        raise InvalidInput("command args are required")
    await _require_available(runtime)

    timeout_ms = invocation.timeout_ms if invocation.timeout_ms > 0 else DEFAULT_COMMAND_TIMEOUT_MS
    sandbox_request = SandboxRunRequest(
        image=invocation.image,
        command=list(workload.args),
        workspace=invocation.workspace,
        working_dir=workload.working_directory,
        env=dict(request.env) if request.env else None,
        network=first_non_empty(invocation.network, DEFAULT_NETWORK),
        limits=request.limits,
    )
    result = await _run_sandboxed(
        runtime,
        invocation,
        sandbox_request,
        timeout_ms,
        "sandboxed command",
        max_message_bytes,
        reserve_output,
    )

    allowlist = workload.artifact_allowlist or []
    if allowlist:
        try:
            result.artifact_hash = await anyio.to_thread.run_sync(
                functools.partial(
                    hash_workspace_artifacts,
                    invocation.workspace,
                    workload.working_directory,
                    allowlist,
                )
            )
        except PluginError as exc:
            raise InvalidInput(exc.message, result=result) from exc
        result.artifacts = list(allowlist)
    await _fill_workspace_bytes(result, invocation.workspace)
    return result


async def run_container_build(
    invocation: Invocation,
    runtime: Runtime | None,
    *,
    max_message_bytes: int | None = None,
    reserve_output: ReserveOutput | None = None,
) -> RuntimeExecutionResult:
    """Reference SandboxRuntimeContainerBuildAdapter.BuildSandboxedContainer (docs/PROTOCOL.md §5).

    A builder that exits non-zero is a result without a digest; a builder that exits 0
    without a digest is an InvalidInput carrying the result. A digest file that is in the
    workspace before the build is removed first, so only this build can name its digest.
    """
    runtime, workload = _workload_of(
        invocation, runtime, WORKLOAD_CONTAINER_BUILD, ContainerBuildWorkload
    )
    request = invocation.request
    _raise_if(workload.validation_error())
    _, dockerfile = await anyio.to_thread.run_sync(
        resolve_container_build_paths, invocation.workspace, workload
    )
    await _require_available(runtime)

    timeout_ms = invocation.timeout_ms if invocation.timeout_ms > 0 else DEFAULT_BUILD_TIMEOUT_MS
    push = workload.push_target_ref != ""
    host_digest_path = join(invocation.workspace, BUILD_DIGEST_FILE_NAME)
    env = build_env(workload, dockerfile, push, request.env or {})
    sandbox_request = SandboxRunRequest(
        image=invocation.image,
        command=[BUILDER_COMMAND],
        workspace=invocation.workspace,
        working_dir=".",
        run_as_root=True,
        writable_rootfs=True,
        add_capabilities=["CHOWN", "FOWNER"],
        extra_tmpfs=[BUILD_TMPFS],
        env=env,
        network=first_non_empty(invocation.network, DEFAULT_NETWORK),
        limits=request.limits,
    )
    await anyio.to_thread.run_sync(remove_planted_digest_file, invocation.workspace)
    result = await _run_sandboxed(
        runtime,
        invocation,
        sandbox_request,
        timeout_ms,
        "sandboxed container build",
        max_message_bytes,
        reserve_output,
    )

    if result.exit_code == 0:
        # A failed build never names a digest (it may have written half of one, or none).
        await _resolve_build_digest(result, host_digest_path)
    else:
        result.artifact_hash = ""
    if not valid_sha256_digest(result.artifact_hash) and result.exit_code == 0:
        raise InvalidInput(
            "sandboxed container build did not produce a sha256 artifact digest", result=result
        )
    await _fill_workspace_bytes(result, invocation.workspace)
    return result


def build_env(
    workload: ContainerBuildWorkload, dockerfile: str, push: bool, user_env: dict[str, str]
) -> dict[str, str]:
    """The builder's control env (all nine keys, always) plus the user's env."""
    tags = workload.tags
    env = {
        "WORKFLOW_COMPUTE_BUILD_CONTEXT": clean_container_path(workload.context_directory),
        "WORKFLOW_COMPUTE_BUILD_DOCKERFILE": dockerfile,
        "WORKFLOW_COMPUTE_BUILD_TAG": tags[0] if tags else "",
        "WORKFLOW_COMPUTE_BUILD_TAGS": marshal(tags),
        "WORKFLOW_COMPUTE_BUILD_PULL_TARGET_REF": workload.pull_target_ref,
        "WORKFLOW_COMPUTE_BUILD_PUSH_TARGET_REF": workload.push_target_ref,
        "WORKFLOW_COMPUTE_BUILD_STATE_DIR": BUILD_STATE_DIR,
        "WORKFLOW_COMPUTE_BUILD_DIGEST_FILE": BUILD_DIGEST_CONTAINER_PATH,
        "WORKFLOW_COMPUTE_BUILD_PUSH": "true" if push else "false",
    }
    # Go's map order picks which reserved key is named; sorted order makes ours stable.
    for key in sorted(user_env):
        if key.startswith(RESERVED_BUILD_ENV_PREFIX):
            raise InvalidInput(f"reserved workflow-compute build env {quote(key)}")
        env[key] = user_env[key]
    return env


async def _resolve_build_digest(result: RuntimeExecutionResult, host_digest_path: str) -> None:
    """Runtime result, then the stdout marker, then the workspace digest file."""
    if valid_sha256_digest(result.artifact_hash):
        return
    marker = parse_build_digest_marker(result.stdout or b"")
    if marker:
        result.artifact_hash = marker
    if valid_sha256_digest(result.artifact_hash):
        return
    # The fallback file's own errors are not the caller's concern (reference ignores them).
    with contextlib.suppress(PluginError, OSError):
        result.artifact_hash = await anyio.to_thread.run_sync(read_build_digest, host_digest_path)


async def _require_available(runtime: Runtime) -> None:
    error = await availability_error(runtime)
    if error is not None:
        raise RuntimeUnavailable(f"sandbox runtime unavailable: {error}")


async def _run_sandboxed(
    runtime: Runtime,
    invocation: Invocation,
    sandbox_request: SandboxRunRequest,
    timeout_ms: int,
    what: str,
    max_message_bytes: int | None,
    reserve_output: ReserveOutput | None,
) -> RuntimeExecutionResult:
    """Run the container and turn its outcome into a result; a stop (deadline, output limit,
    tool failure) raises with that result attached."""
    started = _now()
    outcome = await run_sandbox(
        runtime,
        sandbox_request,
        timeout=timeout_ms / 1000,
        output_limit=output_bound(invocation.request.limits.output_bytes, max_message_bytes),
        reserve_output=reserve_output,
    )
    if outcome.failure is not None:
        # The tool failed: was it there at all? The check's memory was dropped with the
        # failure, so this asks afresh and answers as an unremembered check would have.
        await _require_available(runtime)
    result = _result(started, outcome)
    limit_hit = first_non_empty(invocation.timeout_limit_hit, DEFAULT_TIMEOUT_LIMIT_HIT)
    _raise_for_stop(result, outcome, what, timeout_ms, limit_hit)
    return result


def output_bound(requested: int, max_message_bytes: int | None) -> int:
    """Bytes of stdout plus stderr a run may keep: the request's bound, or the default, and
    never more than fits one response line of ``max_message_bytes`` (output is base64 there,
    4 bytes for every 3, beside an envelope of at most a quarter of the line or 64 KiB)."""
    bound = requested if requested > 0 else DEFAULT_OUTPUT_LIMIT
    if max_message_bytes is not None and max_message_bytes > 0:
        envelope = min(64 * 1024, max_message_bytes // 4)
        bound = min(bound, max(1, (max_message_bytes - envelope) * 3 // 4))
    return bound


def _result(started: datetime, outcome: SandboxRunResult) -> RuntimeExecutionResult:
    return RuntimeExecutionResult(
        started_at=started,
        finished_at=_now(),
        exit_code=outcome.exit_code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        artifact_hash=outcome.artifact_hash,
        resource_usage=ResourceUsage(
            output_bytes=outcome.output_bytes, workspace_bytes=outcome.workspace_bytes
        ),
    )


def _raise_for_stop(
    result: RuntimeExecutionResult,
    outcome: SandboxRunResult,
    what: str,
    timeout_ms: int,
    limit_hit: str,
) -> None:
    if outcome.stop_reason == "timeout":
        result.resource_usage.limit_hit = limit_hit
        raise LimitExceeded(
            f"{what} timed out after {format_duration_ms(timeout_ms)}: context deadline exceeded",
            result=result,
        )
    if outcome.stop_reason == "output_limit":
        result.resource_usage.limit_hit = OUTPUT_LIMIT_HIT
        raise LimitExceeded(f"{what} output exceeded {outcome.output_bytes} bytes", result=result)
    if outcome.failure is not None:
        raise RuntimeFailure(outcome.failure, result=result)


async def _fill_workspace_bytes(result: RuntimeExecutionResult, workspace: str) -> None:
    if result.resource_usage.workspace_bytes == 0 and workspace != "":
        result.resource_usage.workspace_bytes = await anyio.to_thread.run_sync(
            directory_size, workspace
        )


def _raise_if(error: str | None) -> None:
    if error is not None:
        raise InvalidInput(error)


def _now() -> datetime:
    return datetime.now(UTC)


# The adapter each workload kind belongs to, as its errors name it.
_ADAPTER_NAMES = {
    WORKLOAD_COMMAND: "sandboxed-command",
    WORKLOAD_CONTAINER_BUILD: "sandboxed-container-build",
}


def _workload_of(
    invocation: Invocation, runtime: Runtime | None, kind: str, model: type[_ModelT]
) -> tuple[Runtime, _ModelT]:
    """The checks both adapters make first, in the reference's order: the runtime, and the
    decoded workload of the request's input (not yet validated)."""
    adapter = _ADAPTER_NAMES[kind]
    if runtime is None:
        raise InvalidInput("sandbox runtime is required")
    request = invocation.request
    _raise_if(request.validation_error())
    if request.workload_kind != kind:
        raise InvalidInput(
            f"workload kind {quote(request.workload_kind)} is not supported by {adapter} runtime"
        )
    if request.input is None:
        raise InvalidInput(f"{adapter} runtime input is required")
    return runtime, decode_workload(request.input, model, f"decode {adapter} runtime input")


def decode_workload(raw: RawJSON, model: type[_ModelT], prefix: str) -> _ModelT:
    """Go json.Unmarshal of the request input into the compute-core workload struct:
    the first type mismatch in document order is reported with Go's text; a JSON null
    document, field or list element leaves the zero value."""
    try:
        return decode_struct(raw.value, model, CORE_GO_PACKAGE)
    except GoJSONError as exc:
        raise InvalidInput(f"{prefix}: {exc}") from None
