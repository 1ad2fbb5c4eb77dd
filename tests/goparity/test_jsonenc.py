"""Go encoding/json text: escaping, float spelling, map order, indentation."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfcompute_container.goparity.jsonenc import (
    go_float_text,
    marshal,
    marshal_bytes,
    marshal_indent,
    sorted_map,
)


def test_compact_and_html_escaped() -> None:
    assert marshal({"b": 1, "a": ["<x>", "&", True, None]}) == (
        '{"b":1,"a":["\\u003cx\\u003e","\\u0026",true,null]}'
    )
    assert marshal("printf ok > out.txt") == '"printf ok \\u003e out.txt"'
    assert marshal("\u2028\u2029") == '"\\u2028\\u2029"'


def test_control_characters_and_unicode() -> None:
    assert marshal("\n\r\t\x00\x1f\x7f") == '"\\n\\r\\t\\u0000\\u001f\x7f"'
    assert marshal('"\\') == '"\\"\\\\"'
    assert marshal("é☃😀") == '"é☃😀"'


def _raw(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Go writes each invalid byte as the six characters \ufffd, never the literal U+FFFD.
        ([_raw(b"a\x80b")], '["a\\ufffdb"]'),
        ({"k": _raw(b"a\xffb")}, '{"k":"a\\ufffdb"}'),
        # One escape per byte: a truncated sequence, an encoded surrogate, an overlong form.
        (_raw(b"a\xe2\x82b"), '"a\\ufffd\\ufffdb"'),
        (_raw(b"\xed\xa0\x80"), '"\\ufffd\\ufffd\\ufffd"'),
        (_raw(b"\xc0\xaf"), '"\\ufffd\\ufffd"'),
        # Keys too, and escaped bytes next to text needing Go's own escapes.
        ({_raw(b"\xff<"): _raw(b"&\xfe")}, '{"\\ufffd\\u003c":"\\u0026\\ufffd"}'),
        # Valid characters around invalid bytes stay literal.
        (_raw(b"\xc3\xa9\xff\xc3\xa9"), '"\u00e9\\ufffd\u00e9"'),
        # Lone surrogates that stand for no byte (not from surrogateescape) also become \ufffd.
        (["\ud800", "x\udfff\udc00y"], '["\\ufffd","x\\ufffd\\ufffdy"]'),
        # Escaped bytes that together are valid UTF-8 are that character (Go sees bytes).
        ("\udcc3\udca9", '"\u00e9"'),
        ("\udce2\udc80\udca8", '"\\u2028"'),
        # Floats take the other encoder; the same rules apply.
        ({"f": 1.5, "s": _raw(b"\x80")}, '{"f":1.5,"s":"\\ufffd"}'),
    ],
)
def test_invalid_utf8_is_written_as_go_escape(value: object, text: str) -> None:
    assert marshal(value) == text
    assert marshal_bytes(value) == text.encode()
    assert json.loads(marshal_indent(value)) == json.loads(text)
    assert "\ufffd" not in marshal_indent(value)


def test_sorted_map_orders_escaped_bytes_as_the_raw_bytes() -> None:
    # Go compares key bytes: 0x80 sorts before the UTF-8 of "é" (0xC3 0xA9).
    raw = _raw(b"\x80")
    assert list(sorted_map({"\u00e9": 1, raw: 2, "a": 3}) or {}) == ["a", raw, "\u00e9"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (1e-5, "0.00001"),
        (2.5e-300, "2.5e-300"),
        (1e100, "1e+100"),
        (-123456789.125, "-123456789.125"),
    ],
)
def test_float_spelling_matches_go(value: float, text: str) -> None:
    assert go_float_text(value) == text
    assert marshal({"f": [value]}) == '{"f":[' + text + "]}"


@pytest.mark.parametrize(("value", "shown"), [(float("nan"), "NaN"), (float("inf"), "+Inf")])
def test_non_finite_floats_fail(value: float, shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"json: unsupported value: {shown}")):
        marshal({"f": value})


def test_non_json_values_fail() -> None:
    with pytest.raises(TypeError):
        marshal({"s": {1, 2}})
    with pytest.raises(TypeError):
        marshal({"f": 1.5, "s": object()})


def test_indent_matches_go_marshal_indent() -> None:
    value = {"a": [1, {"x": None}], "b": {}, "c": [], "d": "<"}
    expected = (
        '{\n  "a": [\n    1,\n    {\n      "x": null\n    }\n  ],\n  "b": {},\n  "c": [],\n'
        '  "d": "\\u003c"\n}'
    )
    assert marshal_indent(value) == expected
    with_float = {**value, "a": [1.0, {"x": None}]}
    assert marshal_indent(with_float) == expected


def test_sorted_map_is_bytewise() -> None:
    assert sorted_map(None) is None
    assert list(sorted_map({"b": 1, "B": 2, "é": 3, "a": 4}) or {}) == ["B", "a", "b", "é"]
    # UTF-8 byte order is code point order (unlike UTF-16 order for astral characters).
    assert list(sorted_map({"\U00010000": 1, "\uff5e": 2}) or {}) == ["\uff5e", "\U00010000"]


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("<>&\u2028\u2029")),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_marshal_bytes_is_marshal_in_utf8(value: object) -> None:
    # marshal_bytes escapes on the encoded bytes; the two paths must agree on everything.
    assert marshal_bytes(value) == marshal(value).encode("utf-8")


def test_floats_are_found_wherever_they_nest() -> None:
    assert marshal({"a": [1, {"b": (2, 1e21)}]}) == '{"a":[1,{"b":[2,1e+21]}]}'
    assert marshal([True, 5.0, "x"]) == '[true,5,"x"]'
