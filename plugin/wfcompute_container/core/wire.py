"""Base model whose JSON is what Go's encoding/json would write for the same struct.

Output: each field is emitted in declaration order under its wire name, with one of Go's
omit rules (``__omit__``):

* ``never`` (no tag): always emitted; an unset (None) list, map or pointer is ``null``.
* ``empty`` (``omitempty``): dropped when "", 0, false, None, or an empty list/map.
  A nested struct value (a WireModel) and a time are never dropped by this rule, as in Go.
* ``zero`` (``omitzero``): dropped when the value is Go's zero value: None, the zero time,
  a WireModel whose ``is_zero()`` is true. A non-None empty list/map is *not* zero (Go
  reflection treats a non-nil empty slice as non-zero).

Go value types are modelled so that "absent" decodes to Go's zero value:

* strings/ints/bools default to ""/0/False; a JSON ``null`` for them is ignored (Go leaves the
  field unchanged), which the model-level pre-validator implements generically;
* slices, maps and pointers default to None (Go nil); ``[]`` stays a non-nil empty list;
* nested struct values default to their zero instance (``Field(default_factory=...)``);
* times (``GoTime``) default to ``ZERO_TIME`` (0001-01-01T00:00:00Z) and accept RFC 3339 text;
  digits beyond microseconds are kept (``goparity.timefmt.NanoDatetime``) so a decoded time
  re-encodes to the same text;
* bytes (``GoBytes``) are standard padded base64 on the wire and accept base64 text on input;
* ``json.RawMessage`` (``RawJSONField``) holds the *parsed* JSON value in a ``RawJSON`` box.
  A field that is absent is None; a present field, including JSON ``null``, is a ``RawJSON``
  (so ``"input": null`` round-trips as ``null``, as Go would keep the 4 bytes ``null``).
  Python callers therefore pass ``RawJSON(value=...)`` or leave the field out; an explicit
  ``input=None`` in a constructor means "present, JSON null".
  On output the value is embedded as JSON (not as a string) with Go's escaping. The original
  text is not kept, so number spelling (``1e5``) and duplicate keys are not preserved.

Decoding is pydantic strict mode with exact key names: Go would also reject a string for an
int or a float for an int. Unknown keys are rejected (``extra="forbid"``) where Go would ignore
them; wire params are schema-checked anyway. Enum-typed fields are plain ``str`` because Go
does not check enums on decode (only ``Validate`` does).
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from ..goparity.jsonenc import marshal, sorted_map
from ..goparity.text import join_errors
from ..goparity.timefmt import format_rfc3339nano, is_zero_time, parse_rfc3339

OmitRule = Literal["never", "empty", "zero"]

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero time.Time (encoded as ``0001-01-01T00:00:00Z``)."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _decode_go_time(value: Any) -> Any:
    if value is None:
        return ZERO_TIME
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        # Go has no naive times; treat a naive Python value as UTC.
        return value.replace(tzinfo=UTC)
    return value


def _decode_go_bytes(value: Any) -> Any:
    if isinstance(value, str):
        # Go's StdEncoding decoder ignores CR and LF; padding is required.
        text = value.replace("\r", "").replace("\n", "")
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"illegal base64 data: {exc}") from exc
    return value


def _box_raw_json(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return value
    return RawJSON(value=value)


GoTime = Annotated[
    datetime,
    BeforeValidator(_decode_go_time),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""time.Time: RFC 3339 text on the wire; ZERO_TIME when unset."""

GoBytes = Annotated[
    bytes | None,
    BeforeValidator(_decode_go_bytes),
    WithJsonSchema({"anyOf": [{"type": "string", "contentEncoding": "base64"}, {"type": "null"}]}),
]
"""[]byte: standard padded base64 on the wire; None is nil."""

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""Go int/int64 (64-bit)."""


class RawJSON(BaseModel):
    """A present json.RawMessage: any parsed JSON value, embedded as JSON on output."""

    model_config = ConfigDict(frozen=True)
    value: Any = None

    def is_valid_json(self) -> bool:
        """Whether Go's json.Valid would accept the bytes this value stands for."""
        try:
            marshal(_json_checked(self.value))
        except (TypeError, ValueError):
            return False
        return True


RawJSONField = Annotated[RawJSON | None, BeforeValidator(_box_raw_json), WithJsonSchema({})]
"""json.RawMessage field: None when absent, RawJSON when present (even JSON null)."""


def _json_checked(value: Any) -> Any:
    """Reject what JSON cannot carry (NaN/Inf, non-string keys, non-JSON types)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number")
        return value
    if isinstance(value, list | tuple):
        return [_json_checked(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("non-string object key")
        return {k: _json_checked(v) for k, v in value.items()}
    raise TypeError(f"unsupported JSON value of type {type(value).__name__}")


def _admits_none(annotation: Any) -> bool:
    """Whether a field's annotation accepts None (Go nil-able: slice, map, pointer, raw)."""
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _admits_none(get_args(annotation)[0])
    return any(arg is type(None) for arg in get_args(annotation))


class WireModel(BaseModel):
    """A wire type. Subclasses list non-default omit rules in ``__omit__``."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    __omit__: ClassVar[dict[str, OmitRule]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        unknown = set(cls.__omit__) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__}.__omit__ names unknown fields {sorted(unknown)}")

    @model_validator(mode="before")
    @classmethod
    def _go_null_semantics(cls, data: Any) -> Any:
        # Go leaves a non-nilable field unchanged when the JSON value is null.
        if isinstance(data, dict) and any(v is None for v in data.values()):
            ignored = _null_ignored_keys(cls)
            return {k: v for k, v in data.items() if not (v is None and k in ignored)}
        return data

    def is_zero(self) -> bool:
        """Go zero value: every field is its zero (an empty non-None list is not zero)."""
        return all(_is_zero_value(getattr(self, name)) for name in type(self).model_fields)

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
        """Go json.Marshal text of this value."""
        return marshal(self.to_wire())


_NULL_IGNORED: dict[type[WireModel], frozenset[str]] = {}


def _null_ignored_keys(cls: type[WireModel]) -> frozenset[str]:
    """Keys whose JSON null Go ignores (non-nilable kinds); computed once the model is complete."""
    keys = _NULL_IGNORED.get(cls)
    if keys is None:
        keys = frozenset(
            key
            for name, field in cls.model_fields.items()
            if not _admits_none(field.annotation)
            for key in {name, field.alias or name}
        )
        _NULL_IGNORED[cls] = keys
    return keys


class ValidatedModel(WireModel):
    """A wire type with a Go ``Validate()``: errors in check order, exact texts."""

    def validation_errors(self) -> list[str]:
        raise NotImplementedError

    def validation_error(self) -> str | None:
        """The joined error text (Go errors.Join), None when valid."""
        return join_errors(self.validation_errors())


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | bytes | list | tuple | dict):
        return len(value) == 0
    # Structs, times and present raw JSON are never dropped by omitempty.
    return False


def _is_zero_value(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, WireModel):
        return value.is_zero()
    if isinstance(value, datetime):
        return is_zero_time(value)
    if isinstance(value, list | tuple | dict | bytes | RawJSON):
        # A non-nil empty slice/map is not zero in Go; nil is modelled as None.
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
