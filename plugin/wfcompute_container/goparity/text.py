"""Go `strings` / `strconv` text rules: TrimSpace, Fields, %q quoting, errors.Join."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Go unicode.IsSpace: note it excludes U+001C..U+001F, which Python's str.isspace() includes.
GO_SPACE = frozenset(
    "\t\n\v\f\r \u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_STR = "".join(sorted(GO_SPACE))


def trim_space(value: str) -> str:
    """Go strings.TrimSpace."""
    return value.strip(_GO_SPACE_STR)


def is_blank(value: str) -> bool:
    return trim_space(value) == ""


def fields(value: str) -> list[str]:
    """Go strings.Fields: split around runs of Go white space."""
    out: list[str] = []
    current: list[str] = []
    for ch in value:
        if ch in GO_SPACE:
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


def first_non_empty(*values: str) -> str:
    """First value that is not blank, returned untrimmed; "" when none."""
    for value in values:
        if trim_space(value) != "":
            return value
    return ""


# Python strings carry an invalid byte (surrogateescape) or an unpaired \uD800-\uDFFF JSON
# escape as a surrogate code point; Go's decoders give U+FFFD for each.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def replace_surrogates(text: str) -> str:
    """Each surrogate code point as U+FFFD, as Go's decoders give it."""
    return _SURROGATE.sub("\ufffd", text)


def go_lower(text: str) -> str:
    """Go strings.ToLower: one rune to one rune. Python's full mapping turns U+0130 (İ) into
    "i" plus a combining dot, which would hide a marker such as "credentİal"; Go gives "i".
    (Final sigma, the other full-mapping difference, touches no marker.)"""
    return text.replace("\u0130", "i").lower()


def contains_any(value: str, chars: str) -> bool:
    return any(ch in value for ch in chars)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _is_go_printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    import unicodedata

    if ch == " ":
        return True
    category = unicodedata.category(ch)
    return category[0] in "LMNPS"


def quote(value: str | bytes) -> str:
    """Go strconv.Quote (the `%q` verb) of a string or of raw bytes."""
    if isinstance(value, bytes):
        return _quote_bytes(value)
    parts: list[str] = ['"']
    for ch in value:
        esc = _SHORT_ESCAPES.get(ch)
        if esc is not None:
            parts.append(esc)
            continue
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            # A lone surrogate (from surrogateescape decoding) stands for an invalid byte.
            if 0xDC80 <= code <= 0xDCFF:
                parts.append(f"\\x{code - 0xDC00:02x}")
            else:
                parts.append("\\ufffd")
            continue
        if code < 0x80:
            if 0x20 <= code < 0x7F:
                parts.append(ch)
            else:
                parts.append(f"\\x{code:02x}")
            continue
        if _is_go_printable(ch):
            parts.append(ch)
        elif code <= 0xFFFF:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    parts.append('"')
    return "".join(parts)


def _quote_bytes(data: bytes) -> str:
    text = data.decode("utf-8", errors="surrogateescape")
    return quote(text)


def join_errors(messages: Iterable[str | None]) -> str | None:
    """Go errors.Join: non-empty messages joined by newlines, None when there are none."""
    kept = [m for m in messages if m]
    if not kept:
        return None
    return "\n".join(kept)
