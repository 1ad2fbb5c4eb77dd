"""A small generic JSON-RPC 2.0 engine over NDJSON stdio; it knows nothing of containers."""

from wfcompute_container.rpc.engine import (
    EngineConfig,
    Handler,
    InlineLookup,
    current_request,
    reserve_answer_memory,
    serve,
)
from wfcompute_container.rpc.errors import RpcError
from wfcompute_container.rpc.logs import configure_logging
from wfcompute_container.rpc.stdio import protect_stdin, protect_stdout

__all__ = [
    "EngineConfig",
    "Handler",
    "InlineLookup",
    "RpcError",
    "configure_logging",
    "current_request",
    "protect_stdin",
    "protect_stdout",
    "reserve_answer_memory",
    "serve",
]
