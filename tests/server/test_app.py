"""Error mapping and result checking of the server, in process."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import pytest

from wfcompute_container.core.execution import RuntimeExecutionResult
from wfcompute_container.core.resources import ResourceUsage
from wfcompute_container.errors import (
    InvalidInput,
    LimitExceeded,
    RuntimeFailure,
    RuntimeUnavailable,
)
from wfcompute_container.rpc.errors import RpcError
from wfcompute_container.server.app import PluginServer, plugin_error_to_rpc
from wfcompute_container.server.registry import ServerSettings


def test_domain_errors_map_to_their_codes() -> None:
    cases: list[tuple[Any, int, str]] = [
        (InvalidInput("workspace is required"), -32010, "invalid_input"),
        (RuntimeUnavailable("sandbox runtime unavailable: x"), -32011, "runtime_unavailable"),
        (LimitExceeded("timed out"), -32012, "limit_exceeded"),
        (RuntimeFailure("exit status 125"), -32013, "runtime_error"),
    ]
    for exc, code, kind in cases:
        err = plugin_error_to_rpc(exc)
        assert (err.code, err.message, err.data) == (code, exc.message, {"kind": kind})


def test_partial_result_travels_in_data() -> None:
    result = RuntimeExecutionResult(exit_code=-1, resource_usage=ResourceUsage(limit_hit="timeout"))
    err = plugin_error_to_rpc(LimitExceeded("sandboxed command timed out", result=result))
    assert err.data is not None
    assert err.data["result"]["resource_usage"] == {"limit_hit": "timeout"}
    assert err.data["result"]["exit_code"] == -1


def test_params_are_checked_before_the_handler_runs() -> None:
    server = PluginServer(ServerSettings())
    handle = server.handler("adapters.contract")

    async def call() -> None:
        await handle({"adapter_id": "nope", "descriptor": {}})

    with pytest.raises(RpcError) as info:
        anyio.run(call)
    assert info.value.code == -32602
    assert info.value.data is not None
    assert info.value.data["errors"][0]["path"] == "/adapter_id"


def test_initialize_lists_every_method_sorted() -> None:
    server = PluginServer(ServerSettings(max_message_bytes=1234, max_concurrent_requests=3))
    result = anyio.run(server.initialize, {"protocol_version": "compute.v1alpha1"})
    assert result["methods"] == sorted(result["methods"])
    for name in ("initialize", "shutdown", "exit", "$/cancelRequest", "command.run"):
        assert name in result["methods"]
    assert result["limits"] == {"max_message_bytes": 1234, "max_concurrent_requests": 3}
    assert result["protocol_version"] == "compute.v1alpha1"
    assert result["host_owned_responsibilities"][0] == "task-admission"


# Pure computation on the params, so answered on the engine's reader. Anything touching the
# filesystem, a tool or a clock must stay a task (cancellable, never blocking the reader).
INLINE_METHODS = {
    "adapters.contract",
    "digest.parse_marker",
    "digest.validate",
    "env.resolve",
    "invocation.command",
}


def test_only_pure_methods_run_inline() -> None:
    server = PluginServer(ServerSettings())
    inline = {name for name in server.names if server.is_inline(name)}
    assert inline == INLINE_METHODS


def test_one_handler_answers_inline_methods_at_once_and_others_as_awaitables() -> None:
    """The engine's only per-method choice is where to call: an inline method's handler
    returns its checked answer (or raises its wire error) at once; any other's returns an
    awaitable that does the same checks."""
    server = PluginServer(ServerSettings())
    answered = server.handler("digest.validate")({"digest": "sha256:" + "a" * 64})
    assert answered == {"valid": True}
    with pytest.raises(RpcError) as refused:
        server.handler("env.resolve")(
            {"workload_kind": "command", "env": [{"name": "1x"}], "resolved": {}}
        )
    assert refused.value.code == -32010
    pending = server.handler("plugin.manifest")(None)
    assert inspect.isawaitable(pending)

    async def finish() -> Any:
        return await pending

    assert anyio.run(finish)["name"] == "workflow-plugin-compute-container"
