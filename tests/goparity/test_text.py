"""Go strings/strconv rules: TrimSpace, Fields, %q, errors.Join."""

from __future__ import annotations

import pytest

from wfcompute_container.goparity.text import (
    contains_any,
    fields,
    first_non_empty,
    is_blank,
    join_errors,
    quote,
    trim_space,
)


def test_trim_space_uses_go_white_space() -> None:
    assert trim_space(" \t\n\v\f\r\u0085\u00a0x\u3000\u2028") == "x"
    # Python's str.strip() would also remove U+001C..U+001F; Go does not.
    assert trim_space("\x1cx\x1f") == "\x1cx\x1f"
    assert trim_space("\x00x") == "\x00x"
    assert is_blank("\u00a0\u2003")
    assert not is_blank("\x1c")


def test_fields_and_first_non_empty() -> None:
    assert fields(" a\u00a0b\x1cc  d ") == ["a", "b\x1cc", "d"]
    assert first_non_empty("", " ", " x ", "y") == " x "
    assert first_non_empty(" ", "") == ""
    assert contains_any("a:b", "/:")
    assert not contains_any("ab", "")


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
        ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
        ("é☃😀", '"é☃😀"'),
        ("\u00a0", '"\\u00a0"'),
        ("\u2028", '"\\u2028"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("", '""'),
    ],
)
def test_quote_matches_strconv(value: str, quoted: str) -> None:
    assert quote(value) == quoted


def test_quote_bytes_and_invalid_utf8() -> None:
    assert quote(b"a\xffb") == '"a\\xffb"'
    assert quote(b"ok") == '"ok"'


def test_join_errors() -> None:
    assert join_errors([]) is None
    assert join_errors([None, ""]) is None
    assert join_errors(["a", None, "b\nc"]) == "a\nb\nc"
