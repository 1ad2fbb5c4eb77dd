"""How a method is declared. Each area of the plugin contributes a list of MethodDef.

A handler receives the validated params model (or None when the method takes no params) and
the per-request context, and returns the result: a WireModel, a plain JSON value, or None
(JSON null). A handler is ``async`` unless it is pure computation on its params (no I/O, no
waiting): such a plain ``def`` handler is answered inline by the engine, without a task.
Domain failures are raised as ``wfcompute_container.errors.PluginError``
subclasses; the server maps them to wire codes in one place. Cancellation arrives as anyio
cancellation: clean up in ``finally`` blocks under ``anyio.CancelScope(shield=True)``.

Params and results are validated against the JSON Schemas in ``schemas/``, which are generated
from the ``params`` and ``result`` types declared here (see ``server/schemas.py``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ..rpc.limits import DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class ServerSettings:
    """Process-wide settings a handler may read (from the command line and environment)."""

    conformance_image: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    reap_at_start: bool = True
    """Reap what dead plugin instances left (operations.reaper) when serving starts."""


@dataclass
class RequestContext:
    method: str
    settings: ServerSettings
    log: logging.Logger
    extras: dict[str, Any] = field(default_factory=dict)


P = TypeVar("P", bound="BaseModel | None")
R = TypeVar("R")


@dataclass(frozen=True)
class MethodDef(Generic[P, R]):
    """One method: its params model (None: takes none), its result type and its handler,
    typed together so a handler that takes other params than the table says fails mypy."""

    name: str
    params: type[P] | None
    result: Any
    """A pydantic model class, or any type pydantic's TypeAdapter accepts; None means null."""
    handler: Callable[[P, RequestContext], Awaitable[R]] | Callable[[P, RequestContext], R]
    description: str = ""
    inline: bool = field(init=False)
    """True for a plain ``def`` handler (answered on the engine's reader)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inline", not inspect.iscoroutinefunction(self.handler))


AnyMethod = MethodDef[Any, Any]
"""A method of any params and result types, as the method tables hold them."""


@overload
def method(
    name: str,
    params: type[P] | None,
    result: Any,
    handler: Callable[[P, RequestContext], Awaitable[R]],
    description: str = "",
) -> AnyMethod: ...


@overload
def method(
    name: str,
    params: type[P] | None,
    result: Any,
    handler: Callable[[P, RequestContext], R],
    description: str = "",
) -> AnyMethod: ...


def method(
    name: str,
    params: type[P] | None,
    result: Any,
    handler: Callable[[P, RequestContext], Any],
    description: str = "",
) -> AnyMethod:
    """A table entry whose handler mypy checks against its params type (a ``MethodDef``
    written straight into an ``AnyMethod`` table would take its types from the table)."""
    return MethodDef(name, params, result, handler, description)
