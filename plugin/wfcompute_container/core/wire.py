"""Base model whose JSON is what Go's encoding/json would write for the same struct.

Each field is emitted in declaration order under its wire name, with one of Go's omit rules:

* ``never`` (no tag): always emitted; an unset list or map is ``null``.
* ``empty`` (``omitempty``): dropped when "", 0, false, None, or an empty list/map.
  A nested struct value (a non-None WireModel) is never dropped by this rule, as in Go.
* ``zero`` (``omitzero``): dropped when None, or a WireModel whose ``is_zero()`` is true,
  or the zero time.

Bytes are standard padded base64, times RFC 3339 with trimmed fractions, maps sorted by key,
and ``RawJSON`` values are embedded as JSON (not as strings).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from ..goparity.jsonenc import marshal, sorted_map
from ..goparity.timefmt import format_rfc3339nano, is_zero_time

OmitRule = Literal["never", "empty", "zero"]


class WireModel(BaseModel):
    """A wire type. Subclasses list non-default omit rules in ``__omit__``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)

    __omit__: ClassVar[dict[str, OmitRule]] = {}

    def is_zero(self) -> bool:
        """Go zero value: every field is its zero (an empty non-None list is not zero)."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not _is_zero_value(value):
                return False
        return True

    def to_wire(self) -> dict[str, Any]:
        """The Go-shaped JSON object (ordered dict of plain JSON values)."""
        out: dict[str, Any] = {}
        omit = type(self).__omit__
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            rule = omit.get(name, "never")
            if rule == "empty" and _is_empty(value):
                continue
            if rule == "zero" and _is_zero_value(value):
                continue
            out[field.alias or name] = to_wire_value(value)
        return out

    def to_json(self) -> str:
        return marshal(self.to_wire())


class RawJSON(BaseModel):
    """A json.RawMessage: any JSON value, embedded verbatim on output."""

    model_config = ConfigDict(frozen=True)
    value: Any = None


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | bytes | list | tuple | dict):
        return len(value) == 0
    if isinstance(value, RawJSON):
        return False
    return False


def _is_zero_value(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, WireModel):
        return value.is_zero()
    if isinstance(value, datetime):
        return is_zero_time(value)
    if isinstance(value, list | tuple | dict):
        # A non-nil empty slice is not zero in Go; we model nil as None.
        return False
    if isinstance(value, RawJSON):
        return False
    return _is_empty(value)


def to_wire_value(value: Any) -> Any:
    """Convert a Python value to its Go JSON shape."""
    if isinstance(value, WireModel):
        return value.to_wire()
    if isinstance(value, RawJSON):
        return value.value
    if isinstance(value, bytes):
        return base64.standard_b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return format_rfc3339nano(value)
    if isinstance(value, dict):
        mapped = sorted_map(value)
        assert mapped is not None
        return {k: to_wire_value(v) for k, v in mapped.items()}
    if isinstance(value, list | tuple):
        return [to_wire_value(v) for v in value]
    return value
