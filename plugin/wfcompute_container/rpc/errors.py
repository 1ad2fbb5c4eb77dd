"""JSON-RPC error codes and the one exception a handler raises to answer with an error."""

from __future__ import annotations

import secrets
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_INITIALIZED = -32002
CANCELLED = -32800

# data.kind of the codes the engine itself knows; other codes carry the kind their raiser gave.
KIND_BY_CODE: dict[int, str] = {
    PARSE_ERROR: "parse_error",
    INVALID_REQUEST: "invalid_request",
    METHOD_NOT_FOUND: "method_not_found",
    INVALID_PARAMS: "invalid_params",
    INTERNAL_ERROR: "internal_error",
    NOT_INITIALIZED: "not_initialized",
    CANCELLED: "cancelled",
}


class RpcError(Exception):
    """An error answer: raised by a handler, it is sent as given.

    When `data` has no `kind` and the code is one the engine knows, the engine's kind is
    added (first), so every error on the wire names its class.
    """

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return self.message

    def to_wire(self) -> dict[str, Any]:
        data = self.data
        kind = KIND_BY_CODE.get(self.code)
        if kind is not None and (data is None or "kind" not in data):
            data = {"kind": kind, **(data or {})}
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if data is not None:
            error["data"] = data
        return error


def invalid_request(reason: str) -> RpcError:
    return RpcError(INVALID_REQUEST, f"invalid request: {reason}")


def invalid_params(problems: list[dict[str, str]]) -> RpcError:
    """``-32602`` for a list of ``{"path": <JSON pointer into params>, "message": ...}``; the
    message names the first (and where, unless it is params itself)."""
    first = problems[0] if problems else {"path": "", "message": "invalid params"}
    where = f" at {first['path']}" if first["path"] else ""
    return RpcError(
        INVALID_PARAMS,
        f"invalid params: {first['message']}{where}",
        {"kind": "invalid_params", "errors": problems},
    )


def parse_error(reason: str) -> RpcError:
    return RpcError(PARSE_ERROR, f"parse error: {reason}")


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, f"method not found: {method}")


def not_initialized() -> RpcError:
    return RpcError(NOT_INITIALIZED, "server not initialized")


def cancelled(reason: str = "request cancelled") -> RpcError:
    return RpcError(CANCELLED, reason)


def new_error_id() -> str:
    """The id an internal error is logged under; only the id goes on the wire."""
    return secrets.token_hex(8)


def internal_error(error_id: str) -> RpcError:
    return RpcError(
        INTERNAL_ERROR, "internal error", {"kind": "internal_error", "error_id": error_id}
    )
