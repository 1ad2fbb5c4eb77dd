"""The plugin server: the method table, params/result validation and error mapping.

Data flows one way: raw params -> params schema -> params model -> operation -> result ->
Go-shaped JSON -> result schema -> the engine writes it. Domain errors become wire errors here,
and only here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from ..core.wire import RawJSON, WireModel, to_wire_value
from ..errors import PluginError
from ..rpc.engine import EngineConfig, serve
from ..rpc.errors import INTERNAL_ERROR, INVALID_PARAMS, RpcError
from . import methods_metadata
from .registry import MethodDef, RequestContext, ServerSettings
from .schemas import MethodValidators, build_validators, check_files, load_all, schema_errors

log = logging.getLogger("wfcompute.server")

# Wire codes of the domain error classes (PROTOCOL.md section 3).
ERROR_CODES: dict[str, int] = {
    "invalid_input": -32010,
    "runtime_unavailable": -32011,
    "limit_exceeded": -32012,
    "runtime_error": -32013,
}

# Notifications the engine understands; listed in `initialize` with the request methods.
ENGINE_NOTIFICATIONS = ("$/cancelRequest", "exit")


def all_methods() -> list[MethodDef]:
    """Every method of the plugin, lifecycle included (for schemas and `initialize`)."""
    from . import methods_invocation, methods_managed, methods_probe, methods_runs

    return [
        *methods_metadata.LIFECYCLE_METHODS,
        *methods_metadata.METHODS,
        *methods_invocation.METHODS,
        *methods_runs.METHODS,
        *methods_probe.METHODS,
        *methods_managed.METHODS,
    ]


def plugin_error_to_rpc(exc: PluginError) -> RpcError:
    data: dict[str, Any] = {"kind": exc.kind}
    if exc.result is not None:
        data["result"] = to_wire_value(exc.result)
    return RpcError(ERROR_CODES[exc.kind], exc.message, data)


def invalid_params(errors: list[dict[str, str]]) -> RpcError:
    first = errors[0] if errors else {"path": "", "message": "invalid params"}
    where = f" at {first['path']}" if first["path"] else ""
    return RpcError(
        INVALID_PARAMS,
        f"invalid params: {first['message']}{where}",
        {"kind": "invalid_params", "errors": errors},
    )


def _pydantic_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"path": "".join(f"/{p}" for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


class PluginServer:
    """Validated dispatch for every method; knows nothing of framing."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.methods = {m.name: m for m in all_methods()}
        files = load_all()
        problems = check_files(files)
        if problems:
            raise RuntimeError("invalid schemas: " + "; ".join(problems))
        self.validators: dict[str, MethodValidators] = build_validators(
            self.methods.values(), files
        )

    def method_names(self) -> list[str]:
        return sorted([*self.methods, *ENGINE_NOTIFICATIONS])

    def _parse_params(self, method: MethodDef, raw: Any) -> Any:
        instance = {} if raw is None else raw
        errors = schema_errors(self.validators[method.name].params, instance)
        if errors:
            raise invalid_params(errors)
        if method.params is None:
            return None
        try:
            return method.params.model_validate(instance)
        except ValidationError as exc:
            raise invalid_params(_pydantic_errors(exc)) from None

    def _check_result(self, method: MethodDef, value: Any) -> Any:
        wire = value.model_dump(mode="json") if _plain_model(value) else to_wire_value(value)
        errors = schema_errors(self.validators[method.name].result, wire)
        if errors:
            error_id = uuid.uuid4().hex[:16]
            log.error(
                "internal error %s: %s result fails its schema: %s",
                error_id,
                method.name,
                errors[:5],
            )
            raise RpcError(
                INTERNAL_ERROR, "internal error", {"kind": "internal_error", "error_id": error_id}
            )
        return wire

    def handler(self, method: MethodDef) -> Callable[[Any], Awaitable[Any]]:
        async def handle(raw_params: Any) -> Any:
            params = self._parse_params(method, raw_params)
            ctx = RequestContext(method=method.name, settings=self.settings, log=log)
            try:
                result = await method.handler(params, ctx)
            except PluginError as exc:
                raise plugin_error_to_rpc(exc) from None
            return self._check_result(method, result)

        return handle

    async def initialize(self, raw_params: Any) -> Any:
        method = self.methods["initialize"]
        self._parse_params(method, raw_params)
        ctx = RequestContext(method="initialize", settings=self.settings, log=log)
        result = methods_metadata.initialize_result(self.method_names(), ctx)
        return self._check_result(method, result)

    async def shutdown(self, raw_params: Any) -> Any:
        """Runs once in-flight requests finished (the engine owns shutdown's timing)."""
        self._parse_params(self.methods["shutdown"], raw_params)
        return None

    def handlers(self) -> dict[str, Callable[[Any], Awaitable[Any]]]:
        table = {
            name: self.handler(method)
            for name, method in self.methods.items()
            if name not in ("initialize", "shutdown")
        }
        table["shutdown"] = self.shutdown
        return table


def _plain_model(value: Any) -> bool:
    """A pydantic model that is not a wire type: dumped with pydantic's own JSON rules."""
    return isinstance(value, BaseModel) and not isinstance(value, WireModel | RawJSON)


async def run(settings: ServerSettings, *, stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    server = PluginServer(settings)
    config = EngineConfig(
        max_message_bytes=settings.max_message_bytes,
        max_concurrent_requests=settings.max_concurrent_requests,
    )
    return await serve(
        server.handlers(),
        initialize=server.initialize,
        config=config,
        stdin_fd=stdin_fd,
        stdout_fd=stdout_fd,
        log=logging.getLogger("wfcompute.rpc"),
    )
