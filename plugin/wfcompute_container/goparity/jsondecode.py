"""Go `encoding/json` decoding rules (json.Unmarshal into a struct) and its error texts.

Keys match field names exactly, or else under Go's simple case folding; unknown keys are
ignored; for duplicate keys the last one wins. Syntax errors carry Go's texts
(``unexpected end of JSON input``, ``invalid character 'x' looking for beginning of value``,
...) and type mismatches ``json: cannot unmarshal <kind> into Go ...``, because callers quote
them in their own error messages.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .text import quote


class GoJSONError(ValueError):
    """A decoding error whose message is Go's json error text."""


class ObjectPairs(list[tuple[str, Any]]):
    """A decoded JSON object as its ordered key/value pairs (duplicate keys kept)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)


def loads(text: str, *, keep_pairs: bool = False) -> Any:
    """Parse JSON text as Go's decoder would accept it; raises GoJSONError with Go's text.

    Objects come back as dicts, or as ObjectPairs with `keep_pairs` (for callers that must
    apply duplicate keys one after another, as Go does).
    """
    hook = ObjectPairs if keep_pairs else None
    try:
        return json.loads(text, object_pairs_hook=hook, parse_constant=_reject_constant)
    except _ConstantError as err:
        # After "-" Go's scanner is inside a number: `-Infinity` fails there.
        where = "in numeric literal" if err.negative else "looking for beginning of value"
        raise GoJSONError(f"invalid character {go_char(err.first)} {where}") from None
    except json.JSONDecodeError as err:
        raise GoJSONError(syntax_error_text(text, err)) from None


def json_kind(value: Any) -> str:
    """The JSON type name Go's UnmarshalTypeError uses for a decoded value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, ObjectPairs | dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def cannot_unmarshal_value(value: Any, go_type: str) -> str:
    """Go's text for a document whose top-level JSON type does not fit the target."""
    return f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}"


def cannot_unmarshal_field(value: Any, struct_field: str, go_type: str | None = None) -> str:
    """Go's text for a field value of the wrong JSON type (`struct_field` is `Struct.field`)."""
    text = f"json: cannot unmarshal {json_kind(value)} into Go struct field {struct_field}"
    return text if go_type is None else f"{text} of type {go_type}"


def match_field(key: str, names: list[str] | tuple[str, ...]) -> str | None:
    """The field a JSON key decodes into: an exact match, else the first case-folded match."""
    if key in names:
        return key
    folded = fold_name(key)
    return next((name for name in names if fold_name(name) == folded), None)


# Beyond ASCII, Go's simple case folding joins only these two runes with ASCII letters.
_NON_ASCII_FOLDS = str.maketrans({"\u212a": "k", "\u017f": "s"})


def fold_name(name: str) -> str:
    """A key under Go's json key folding (bytes.EqualFold): equal folds, equal for Go.

    ASCII letters fold to lower case, KELVIN SIGN to k, LONG S to s; every other rune stands
    for itself (so, unlike str.casefold, "ß" never matches "ss").
    """
    return "".join(ch.lower() if ch.isascii() else ch for ch in name.translate(_NON_ASCII_FOLDS))


def fold_keys(model: type[BaseModel], document: dict[str, Any]) -> dict[str, Any]:
    """Map a decoded JSON object onto `model`'s field names the way Go's decoder does.

    Unknown keys are dropped (a newer document with extra fields still loads), the last of
    several keys for one field wins, and objects nested in model-typed fields (also inside
    lists) are mapped the same way.
    """
    fields = model.model_fields
    names = list(fields)
    shaped: dict[str, Any] = {}
    for key, value in document.items():
        name = match_field(key, names)
        if name is not None:
            shaped[name] = _fold_value(fields[name].annotation, value)
    return shaped


ModelT = TypeVar("ModelT", bound=BaseModel)


def unmarshal_document(data: bytes, model: type[ModelT], target: str) -> ModelT:
    """A JSON file's bytes decoded into ``model`` by Go's key rules (fold_keys), with Go's
    syntax error texts (invalid bytes are kept so the offending byte can be named).

    Raises GoJSONError: Go's syntax texts; ``json: cannot unmarshal <kind> into <target>``
    for a document that is not an object; ``json: invalid value for <field>: <reason>`` for a
    value of the wrong type (our text, not Go's struct-field one). ``null`` is the zero value.
    """
    document: Any = loads(data.decode("utf-8", errors="surrogateescape"))
    if document is None:
        return model()
    if not isinstance(document, dict):
        raise GoJSONError(f"json: cannot unmarshal {json_kind(document)} into {target}")
    try:
        return model.model_validate(fold_keys(model, document))
    except ValidationError as err:
        first = err.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise GoJSONError(f"json: invalid value for {location}: {first['msg']}") from err


def _fold_value(annotation: Any, value: Any) -> Any:
    nested = _model_in(annotation)
    if nested is None:
        return value
    if isinstance(value, dict):
        return fold_keys(nested, value)
    if isinstance(value, list):
        return [fold_keys(nested, item) if isinstance(item, dict) else item for item in value]
    return value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `Model`, `Model | None` or `list[Model] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is dict:
        # A map's keys are data, not field names: they are never folded.
        return None
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


class _ConstantError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.negative = constant.startswith("-")
        self.first = constant[1] if self.negative else constant[0]


def _reject_constant(constant: str) -> Any:
    # Python accepts NaN/Infinity; Go's decoder rejects them.
    raise _ConstantError(constant)


def go_char(ch: str) -> str:
    """Go's quoteChar of the byte its scanner stopped at, given the character there.

    Go's scanner reads bytes, so for a character beyond ASCII it reports the first byte of
    its UTF-8 form, shown as the rune of that byte value (é -> 'Ã', a BOM -> 'ï'). An invalid
    byte is expected as a surrogate escape (text decoded with errors="surrogateescape"), so
    the byte itself is known (0xFF -> 'ÿ'). The quoting is Go's %q, with ' and " special-cased.
    """
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        byte = code - 0xDC00
    elif code >= 0x80:
        byte = ch.encode("utf-8", errors="surrogatepass")[0]
    else:
        byte = code
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    return "'" + quote(chr(byte))[1:-1] + "'"


def syntax_error_text(text: str, err: json.JSONDecodeError) -> str:
    """Go's syntax error text for the point where Python's parser stopped."""
    if err.pos >= len(text.rstrip(" \t\r\n")):
        return "unexpected end of JSON input"
    if err.msg.startswith("Unterminated string"):
        # Python reports where the string began; Go only notices the missing quote at EOF.
        return "unexpected end of JSON input"
    if err.msg == "Expecting value" and text[err.pos] in "tfn":
        return _literal_error(text, err.pos)
    if err.msg.startswith("Invalid \\uXXXX"):
        return _hex_escape_error(text, err.pos)
    found = go_char(text[err.pos])
    message = err.msg
    if message == "Extra data":
        return f"invalid character {found} after top-level value"
    if message.startswith("Expecting property name"):
        return f"invalid character {found} looking for beginning of object key string"
    if message == "Expecting ':' delimiter":
        return f"invalid character {found} after object key"
    if message == "Expecting ',' delimiter":
        if _enclosing(text, err.pos) == "{":
            return f"invalid character {found} after object key:value pair"
        return f"invalid character {found} after array element"
    if message.startswith("Invalid control character"):
        return f"invalid character {found} in string literal"
    if message.startswith("Invalid \\escape"):
        # Python points at the backslash, Go at the character after it.
        return f"invalid character {go_char(text[err.pos + 1])} in string escape code"
    return f"invalid character {found} looking for beginning of value"


def _literal_error(text: str, pos: int) -> str:
    literal = {"t": "true", "f": "false", "n": "null"}[text[pos]]
    for offset, expected in enumerate(literal):
        if pos + offset >= len(text):
            return "unexpected end of JSON input"
        if text[pos + offset] != expected:
            found = go_char(text[pos + offset])
            wanted = go_char(expected)
            return f"invalid character {found} in literal {literal} (expecting {wanted})"
    return f"invalid character {go_char(text[pos])} looking for beginning of value"


def _hex_escape_error(text: str, u_pos: int) -> str:
    """Go's text for a bad `\\uXXXX` escape: the first non-hex digit after the `u`."""
    for ch in text[u_pos + 1 : u_pos + 5]:
        if ch not in "0123456789abcdefABCDEF":
            return f"invalid character {go_char(ch)} in \\u hexadecimal character escape"
    return "unexpected end of JSON input"


def _enclosing(text: str, pos: int) -> str:
    """The innermost open bracket at ``pos`` (strings skipped)."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""
