"""Go `encoding/json` output bytes: compact, HTML-escaped, Go's escapes for control bytes."""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_INDENT_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ": "), indent=2, allow_nan=False
)


def _go_escape(text: str) -> str:
    # These characters can only occur inside JSON strings, so replacing them textually is safe.
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _scrub(value: Any) -> Any:
    """Replace lone surrogates (invalid UTF-8 carried through Python) by U+FFFD, as Go does."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", errors="surrogateescape")
            return raw.decode("utf-8", errors="replace")
        return value
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def marshal(value: Any) -> str:
    """Go json.Marshal text of an already Go-shaped value (dict key order is kept)."""
    text = _ENCODER.encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _ENCODER.encode(_scrub(value))
    return _go_escape(text)


def marshal_bytes(value: Any) -> bytes:
    return marshal(value).encode("utf-8")


def marshal_indent(value: Any) -> str:
    """Go json.MarshalIndent(v, "", "  ")."""
    return _go_escape(_INDENT_ENCODER.encode(value))


def sorted_map(mapping: dict[str, Any] | None) -> dict[str, Any] | None:
    """Go encodes map keys in byte order."""
    if mapping is None:
        return None
    return {k: mapping[k] for k in sorted(mapping, key=lambda s: s.encode("utf-8", "surrogatepass"))}
