"""The plugin server: the method table, params/result validation and error mapping.

Data flows one way: raw params -> params schema -> params model -> operation -> result ->
Go-shaped JSON -> result schema -> the engine writes it. Domain errors become wire errors here,
and only here.

Start-up is kept light: the validators are built from the committed schema files, and each
area's module (with its models and operations) is imported on the first call of one of its
methods, so a host gets its `initialize` answer without waiting for every import.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio

from ..goparity.jsonenc import marshal_bytes
from ..operations.metadata import initialize_result
from ..rpc.engine import EngineConfig, serve
from ..rpc.errors import RpcError, internal_error, invalid_params, new_error_id
from .registry import AnyMethod, RequestContext, ServerSettings
from .schemas import (
    MethodValidators,
    build_validators,
    load_all,
    method_names_of,
    schema_errors,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    from ..errors import PluginError

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

# Which module under `server/` declares a method, by the method name's area prefix.
AREA_MODULES: dict[str, str] = {
    "initialize": "methods_metadata",
    "shutdown": "methods_metadata",
    "plugin.": "methods_metadata",
    "adapters.": "methods_metadata",
    "env.": "methods_invocation",
    "invocation.": "methods_invocation",
    "build.": "methods_invocation",
    "artifacts.": "methods_invocation",
    "digest.": "methods_invocation",
    "sandbox.": "methods_runs",
    "command.": "methods_runs",
    "container_build.": "methods_runs",
    "runtime.": "methods_probe",
    "managed_runtime.": "methods_managed",
}


def area_module(method: str) -> str:
    for prefix, module in AREA_MODULES.items():
        if method == prefix or (prefix.endswith(".") and method.startswith(prefix)):
            return module
    raise KeyError(f"no area declares method {method!r}")


def _area_methods(module: str) -> list[AnyMethod]:
    loaded = importlib.import_module(f"{__package__}.{module}")
    lifecycle: list[AnyMethod] = getattr(loaded, "LIFECYCLE_METHODS", [])
    methods: list[AnyMethod] = loaded.METHODS
    return [*lifecycle, *methods]


def all_methods() -> list[AnyMethod]:
    """Every method of the plugin, lifecycle included (for schemas and tests)."""
    out: list[AnyMethod] = []
    for module in dict.fromkeys(AREA_MODULES.values()):
        out.extend(_area_methods(module))
    return out


def plugin_error_to_rpc(exc: PluginError) -> RpcError:
    from ..core.wire import to_wire_value

    data: dict[str, Any] = {"kind": exc.kind}
    if exc.result is not None:
        data["result"] = to_wire_value(exc.result)
    return RpcError(ERROR_CODES[exc.kind], exc.message, data)


def _pydantic_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"path": "".join(f"/{p}" for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


class _LazyTypes(NamedTuple):
    """What the per-request path needs from modules that start-up does not import."""

    base_model: type[Any]
    validation_error: type[ValidationError]
    wire_model: type[Any]
    raw_json: type[Any]
    to_wire_value: Callable[[Any], Any]
    plugin_error: type[PluginError]


@cache
def _lazy() -> _LazyTypes:
    # Imported on the first request, not at start-up (the initialize answer does not wait
    # for pydantic), and then looked up once rather than on every request.
    from pydantic import BaseModel, ValidationError

    from ..core.wire import RawJSON, WireModel, to_wire_value
    from ..errors import PluginError

    return _LazyTypes(BaseModel, ValidationError, WireModel, RawJSON, to_wire_value, PluginError)


def to_result_json(value: Any) -> Any:
    """A handler's return value as plain JSON: wire types by Go's rules, other models by
    pydantic's, everything else as is."""
    lazy = _lazy()
    if isinstance(value, lazy.wire_model):
        return value.to_wire()
    if isinstance(value, lazy.base_model) and not isinstance(value, lazy.raw_json):
        return value.model_dump(mode="json")
    return lazy.to_wire_value(value)


class PluginServer:
    """Validated dispatch for every method; knows nothing of framing."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        files = load_all()
        self.names = method_names_of(files)
        self.validators: dict[str, MethodValidators] = build_validators(self.names, files)
        self._defs: dict[str, AnyMethod] = {}

    def method_names(self) -> list[str]:
        return sorted([*self.names, *ENGINE_NOTIFICATIONS])

    def method(self, name: str) -> AnyMethod:
        found = self._defs.get(name)
        if found is None:
            for method in _area_methods(area_module(name)):
                self._defs[method.name] = method
            found = self._defs[name]
        return found

    def _check_params(self, name: str, raw: Any) -> Any:
        instance = {} if raw is None else raw
        errors = schema_errors(self.validators[name].params, instance)
        if errors:
            raise invalid_params(errors)
        return instance

    def _parse_params(self, method: AnyMethod, raw: Any) -> Any:
        instance = self._check_params(method.name, raw)
        if method.params is None:
            return None
        try:
            return method.params.model_validate(instance)
        except _lazy().validation_error as exc:
            raise invalid_params(_pydantic_errors(exc)) from None

    def _check_result(self, name: str, wire: Any) -> Any:
        errors = schema_errors(self.validators[name].result, wire)
        if errors:
            error_id = new_error_id()
            log.error(
                "internal error %s: %s result fails its schema: %s", error_id, name, errors[:5]
            )
            raise internal_error(error_id)
        return wire

    def handler(self, name: str) -> Callable[[Any], Any]:
        """The engine's handler of ``name``: params checked, the method called, its result
        checked. An inline method's answer is returned at once, any other's awaited."""

        def handle(raw_params: Any) -> Any:
            method = self.method(name)
            params = self._parse_params(method, raw_params)
            ctx = RequestContext(method=name, settings=self.settings, log=log)
            try:
                result = method.handler(params, ctx)
            except _lazy().plugin_error as exc:
                raise plugin_error_to_rpc(exc) from None
            if method.inline:
                return self._check_result(name, to_result_json(result))
            return self._finish(name, result)

        return handle

    async def _finish(self, name: str, pending: Awaitable[Any]) -> Any:
        try:
            result = await pending
        except _lazy().plugin_error as exc:
            raise plugin_error_to_rpc(exc) from None
        return self._check_result(name, to_result_json(result))

    def is_inline(self, name: str) -> bool:
        """Whether ``name`` is answered on the engine's reader (a plain ``def`` handler)."""
        return self.method(name).inline

    async def initialize(self, raw_params: Any) -> Any:
        self._check_params("initialize", raw_params)
        result = initialize_result(
            self.method_names(),
            max_message_bytes=self.settings.max_message_bytes,
            max_concurrent_requests=self.settings.max_concurrent_requests,
        )
        return self._check_result("initialize", result)

    def check_shutdown_params(self, raw_params: Any) -> None:
        """Before the engine marks the server shut down: a refused shutdown changes nothing."""
        self._check_params("shutdown", raw_params)

    async def shutdown(self, raw_params: Any) -> Any:
        """Runs once in-flight requests finished (the engine owns shutdown's timing)."""
        self._check_params("shutdown", raw_params)
        return None

    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        table = {
            name: self.handler(name)
            for name in self.names
            if name not in ("initialize", "shutdown")
        }
        table["shutdown"] = self.shutdown
        return table


async def run(settings: ServerSettings, *, stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    server = PluginServer(settings)
    config = EngineConfig(
        max_message_bytes=settings.max_message_bytes,
        max_concurrent_requests=settings.max_concurrent_requests,
        on_stop=_bound_cleanup,
    )
    async with anyio.create_task_group() as background:
        if settings.reap_at_start:
            # What dead instances left is reaped while we already serve: it never touches a
            # live instance's work, so it need not delay the host's first request.
            background.start_soon(_reap_at_start)
        status = await serve(
            server.handlers(),
            initialize=server.initialize,
            config=config,
            stdin_fd=stdin_fd,
            stdout_fd=stdout_fd,
            log=logging.getLogger("wfcompute.rpc"),
            inline=server.is_inline,
            check_shutdown=server.check_shutdown_params,
            encode=marshal_bytes,
        )
        background.cancel_scope.cancel()
    return status


STOP_ANSWER_MARGIN_SECONDS = 3.0
"""Of the stop grace, what is kept for answering and exiting after container removal ends."""


def _bound_cleanup(grace: float) -> None:
    from ..runtime_io.tool_process import limit_cleanup

    limit_cleanup(max(grace - STOP_ANSWER_MARGIN_SECONDS, 0.5))


async def _reap_at_start() -> None:
    from ..operations.reaper import reap_at_start

    try:
        await reap_at_start()
    except Exception:
        logging.getLogger("wfcompute.reaper").exception("reaping dead instances failed")
