"""The one hierarchy of domain errors. The server maps each class to its wire code."""

from __future__ import annotations

from typing import Any, ClassVar


class PluginError(Exception):
    """A domain rule or runtime failure with a message that is safe to put on the wire.

    `result` carries a partial RuntimeExecutionResult when a container ran (wire `data.result`).
    """

    kind: ClassVar[str] = "invalid_input"

    def __init__(self, message: str, *, result: Any | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result

    def __str__(self) -> str:
        return self.message


class InvalidInput(PluginError):
    """Schema-valid input broke a domain rule (the reference's error text)."""

    kind = "invalid_input"


class RuntimeUnavailable(PluginError):
    """The container tool is missing or its availability check failed."""

    kind = "runtime_unavailable"


class LimitExceeded(PluginError):
    """A run hit its timeout or output limit; `result.resource_usage.limit_hit` says which."""

    kind = "limit_exceeded"


class RuntimeFailure(PluginError):
    """The container tool itself failed (could not start, exit status 125)."""

    kind = "runtime_error"
