"""Decoding a conformance image's evidence JSON the way Go's json.Unmarshal would.

Keys match field names case-insensitively (exact match preferred), unknown keys are ignored,
the last duplicate wins, a JSON ``null`` leaves a field at its zero value, and errors carry
Go's texts (``unexpected end of JSON input``, ``invalid character 'x' looking for beginning
of value``, ``json: cannot unmarshal ...``), because probe reasons quote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..goparity.text import trim_space

_GO_TYPE = "protocol.RuntimeBackendEvidence"
_STRUCT = "RuntimeBackendEvidence"
_BOOL_FIELDS = ("workspace", "network", "env", "proof", "cleanup")
_FIELDS = ("digest", *_BOOL_FIELDS, "details")


class EvidenceDecodeError(Exception):
    """Go's json error text for the evidence document."""


@dataclass
class DecodedEvidence:
    digest: str = ""
    workspace: bool = False
    network: bool = False
    env: bool = False
    proof: bool = False
    cleanup: bool = False
    details: list[str] | None = field(default=None)


def decode_evidence(stdout: bytes) -> DecodedEvidence:
    """Decode TrimSpace(stdout); raises EvidenceDecodeError with Go's message."""
    text = trim_space(stdout.decode("utf-8", errors="replace"))
    try:
        document = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant)
    except _ConstantError as err:
        raise EvidenceDecodeError(
            f"invalid character {_go_char(err.first)} looking for beginning of value"
        ) from None
    except json.JSONDecodeError as err:
        raise EvidenceDecodeError(_syntax_error_text(text, err)) from None
    evidence = DecodedEvidence()
    if document is None:
        return evidence
    if not isinstance(document, _Pairs):
        raise EvidenceDecodeError(
            f"json: cannot unmarshal {_json_kind(document)} into Go value of type {_GO_TYPE}"
        )
    first_error: str | None = None
    for key, value in document:
        name = _match_field(key)
        if name is None:
            continue
        problem = _assign(evidence, name, value)
        if problem is not None and first_error is None:
            first_error = problem
    if first_error is not None:
        raise EvidenceDecodeError(first_error)
    return evidence


class _Pairs(list[tuple[str, Any]]):
    """A decoded JSON object as its ordered key/value pairs (duplicates kept)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)


class _ConstantError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.first = "I" if constant == "-Infinity" else constant[0]


def _reject_constant(constant: str) -> Any:
    # Python accepts NaN/Infinity; Go's decoder rejects them.
    raise _ConstantError(constant)


def _match_field(key: str) -> str | None:
    if key in _FIELDS:
        return key
    folded = key.casefold()
    for name in _FIELDS:
        if name.casefold() == folded:
            return name
    return None


def _assign(evidence: DecodedEvidence, name: str, value: Any) -> str | None:
    if value is None:
        if name == "details":
            evidence.details = None
        return None
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            return _field_type_error(value, name, "bool")
        setattr(evidence, name, value)
        return None
    if name == "digest":
        if not isinstance(value, str):
            return _field_type_error(value, name, "string")
        evidence.digest = value
        return None
    if not isinstance(value, list):
        return _field_type_error(value, name, "[]string")
    details: list[str] = []
    problem: str | None = None
    for item in value:
        if isinstance(item, str):
            details.append(item)
        elif item is None:
            details.append("")
        else:
            details.append("")
            problem = problem or _field_type_error(item, name, "string")
    evidence.details = details
    return problem


def _field_type_error(value: Any, name: str, go_type: str) -> str:
    return (
        f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
        f"{_STRUCT}.{name} of type {go_type}"
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and not isinstance(value, _Pairs):
        return "array"
    return "object"


def _go_char(ch: str) -> str:
    """Go's quoteChar: 'x', with \\' and \\" special-cased and control bytes escaped."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ch.isprintable():
        return f"'{ch}'"
    return "'" + json.dumps(ch)[1:-1] + "'"


def _syntax_error_text(text: str, err: json.JSONDecodeError) -> str:
    if err.pos >= len(text):
        return "unexpected end of JSON input"
    if err.msg == "Expecting value" and text[err.pos] in "tfn":
        return _literal_error(text, err.pos)
    found = _go_char(text[err.pos])
    message = err.msg
    if message == "Extra data":
        return f"invalid character {found} after top-level value"
    if message.startswith("Expecting property name"):
        return f"invalid character {found} looking for beginning of object key string"
    if message == "Expecting ':' delimiter":
        return f"invalid character {found} after object key"
    if message == "Expecting ',' delimiter":
        context = _enclosing(text, err.pos)
        if context == "{":
            return f"invalid character {found} after object key:value pair"
        return f"invalid character {found} after array element"
    if message.startswith("Invalid control character"):
        return f"invalid character {found} in string literal"
    if message.startswith("Invalid \\escape") or message.startswith("Invalid \\u"):
        return f"invalid character {found} in string escape code"
    return f"invalid character {found} looking for beginning of value"


def _literal_error(text: str, pos: int) -> str:
    literal = {"t": "true", "f": "false", "n": "null"}[text[pos]]
    for offset, expected in enumerate(literal):
        if pos + offset >= len(text):
            return "unexpected end of JSON input"
        if text[pos + offset] != expected:
            found = _go_char(text[pos + offset])
            wanted = _go_char(expected)
            return f"invalid character {found} in literal {literal} (expecting {wanted})"
    return f"invalid character {_go_char(text[pos])} looking for beginning of value"


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
