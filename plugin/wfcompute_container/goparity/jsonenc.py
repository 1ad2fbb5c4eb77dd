"""Go `encoding/json` output bytes: compact, HTML-escaped, Go's escapes for control bytes."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_INDENT_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ": "), indent=2, allow_nan=False
)
_encode_string = json.encoder.encode_basestring


# What Go escapes beyond JSON's own escapes. These characters can only occur inside JSON
# strings, so replacing them textually is safe; most texts hold none of them, so each is looked
# for before a copy is made.
_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_GO_ESCAPES_UTF8 = tuple((raw.encode(), escaped.encode()) for raw, escaped in _GO_ESCAPES)


def _go_escape(text: str) -> str:
    for raw, escaped in _GO_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


# Python strings carry invalid UTF-8 as surrogate code points (surrogateescape: U+DC80-U+DCFF
# stand for the bytes 0x80-0xFF). Like the characters above, they can only occur inside JSON
# strings of the encoded text, so they are rewritten there.
_SURROGATE_RUN = re.compile("[\ud800-\udfff]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INVALID_BYTE_ESCAPE = "\\ufffd"


def _escape_invalid_run(match: re.Match[str]) -> str:
    """One run of surrogates as Go writes the bytes it stands for.

    Escaped bytes that together form valid UTF-8 are that character again (Go sees the bytes);
    every byte that is not is the six characters \\ufffd. A surrogate outside the
    surrogateescape range stands for no byte: it counts as one invalid byte.
    """
    raw = bytes(
        code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else 0xFF for code in map(ord, match.group())
    )
    # Recombined characters are non-ASCII; U+2028/U+2029 among them are escaped afterwards
    # with the rest of the text.
    text = raw.decode("utf-8", errors="surrogateescape")
    return _SURROGATE.sub(lambda _: _INVALID_BYTE_ESCAPE, text)


def _escape_invalid(text: str) -> str:
    return _SURROGATE_RUN.sub(_escape_invalid_run, text)


def go_float_text(value: float) -> str:
    """Go encoding/json text of a float64: shortest digits, exponent only outside [1e-6, 1e21)."""
    if not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise ValueError(f"json: unsupported value: {shown}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(value)
        # Go writes one-digit negative exponents without the zero pad (1e-07 -> 1e-7).
        mantissa, _, exponent = text.partition("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.zfill(2)
        return f"{mantissa}e{sign}{digits}"
    return format(Decimal(repr(value)).normalize(), "f")


def _has_float(value: Any) -> bool:
    # Iterative, exact types first: this runs on every response.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            pending.extend(item.values())
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif isinstance(item, float):
            return True
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def _encode_go(value: Any, out: list[str], indent: str | None, depth: int) -> None:
    """Encoder for values holding floats (the C encoder formats floats the Python way)."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(go_float_text(value))
    elif isinstance(value, dict | list | tuple):
        is_map = isinstance(value, dict)
        items = list(value.items()) if isinstance(value, dict) else list(value)
        open_, close = ("{", "}") if is_map else ("[", "]")
        if not items:
            out.append(open_ + close)
            return
        out.append(open_)
        inner = "" if indent is None else "\n" + indent * (depth + 1)
        for index, item in enumerate(items):
            if index:
                out.append(",")
            out.append(inner)
            if is_map:
                key, item = item
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, not {type(key).__name__}")
                out.append(_encode_string(key) + (":" if indent is None else ": "))
            _encode_go(item, out, indent, depth + 1)
        out.append("" if indent is None else "\n" + indent * depth)
        out.append(close)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encode_with_floats(value: Any, indent: str | None) -> str:
    out: list[str] = []
    _encode_go(value, out, indent, 0)
    return "".join(out)


def _encode(value: Any, indent: str | None) -> str:
    if _has_float(value):
        return _encode_with_floats(value, indent)
    return (_ENCODER if indent is None else _INDENT_ENCODER).encode(value)


def _go_text(text: str) -> str:
    """Encoded text with Go's escapes for invalid bytes and for HTML/line separators."""
    if not text.isascii() and _SURROGATE.search(text):
        text = _escape_invalid(text)
    return _go_escape(text)


def marshal(value: Any) -> str:
    """Go json.Marshal text of an already Go-shaped value (dict key order is kept)."""
    return _go_text(_encode(value, None))


def marshal_bytes(value: Any) -> bytes:
    """marshal(value) as UTF-8 bytes (encoded once, escaped on the bytes)."""
    text = _encode(value, None)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = _escape_invalid(text).encode("utf-8")
    for raw, escaped in _GO_ESCAPES_UTF8:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def marshal_indent(value: Any) -> str:
    """Go json.MarshalIndent(v, "", "  ")."""
    return _go_text(_encode(value, "  "))


def _go_key_bytes(key: str) -> bytes:
    # The bytes Go holds for the key: surrogate escapes are the raw bytes they stand for.
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogatepass")


def sorted_map(mapping: dict[str, Any] | None) -> dict[str, Any] | None:
    """Go encodes map keys in byte order."""
    if mapping is None:
        return None
    return {k: mapping[k] for k in sorted(mapping, key=_go_key_bytes)}
