"""Go encoding/json decoding: key folding, syntax error texts, type error texts."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from wfcompute_container.goparity.jsondecode import (
    GoJSONError,
    ObjectPairs,
    cannot_unmarshal_field,
    cannot_unmarshal_value,
    fold_keys,
    fold_name,
    go_char,
    json_kind,
    loads,
    match_field,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unexpected end of JSON input"),
        (" \t\r\n", "unexpected end of JSON input"),
        ("x", "invalid character 'x' looking for beginning of value"),
        ("{nope", "invalid character 'n' looking for beginning of object key string"),
        ("{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        ('["a" "b"]', "invalid character '\"' after array element"),
        ('{"a":"[" "b"}', "invalid character '\"' after object key:value pair"),
        ('{"a":1}}', "invalid character '}' after top-level value"),
        ('{"a":1}  x', "invalid character 'x' after top-level value"),
        ('{"a":1,\n  ', "unexpected end of JSON input"),
        ("trux", "invalid character 'x' in literal true (expecting 'e')"),
        ("fals", "unexpected end of JSON input"),
        ("nul", "unexpected end of JSON input"),
        ('"a\tb"', "invalid character '\\t' in string literal"),
        ('"\\q"', "invalid character 'q' in string escape code"),
        ('"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        ('"\\u12', "unexpected end of JSON input"),
        ('{"a":"unterminated', "unexpected end of JSON input"),
        ("NaN", "invalid character 'N' looking for beginning of value"),
        ("-Infinity", "invalid character 'I' in numeric literal"),
        ("[1, -Infinity]", "invalid character 'I' in numeric literal"),
        ("[Infinity]", "invalid character 'I' looking for beginning of value"),
    ],
)
def test_syntax_errors_carry_go_texts(text: str, message: str) -> None:
    with pytest.raises(GoJSONError) as caught:
        loads(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Go's scanner reports the offending BYTE: control bytes with %q's \xNN, a byte
        # >= 0x80 as the rune of that value (the first byte of a UTF-8 sequence).
        (b"\x01", "invalid character '\\x01' looking for beginning of value"),
        (b'{"a"\x00:1}', "invalid character '\\x00' after object key"),
        (b"\x7f", "invalid character '\\x7f' looking for beginning of value"),
        ("\u00e9".encode(), "invalid character '\u00c3' looking for beginning of value"),
        (b"\xef\xbb\xbf{}", "invalid character '\u00ef' looking for beginning of value"),
        (b"\xff", "invalid character '\u00ff' looking for beginning of value"),
        (b"[1]\x80", "invalid character '\\u0080' after top-level value"),
        ("[1 \u00a0]".encode(), "invalid character '\u00c2' after array element"),
        (b"tr\xc3\xbc", "invalid character '\u00c3' in literal true (expecting 'u')"),
        (b'"\\\xc3\xa9"', "invalid character '\u00c3' in string escape code"),
        (b'"\\u1\xff"', "invalid character '\u00ff' in \\u hexadecimal character escape"),
        (b'"a\x1fb"', "invalid character '\\x1f' in string literal"),
        (b"\\", "invalid character '\\\\' looking for beginning of value"),
    ],
)
def test_syntax_errors_quote_the_offending_byte(data: bytes, message: str) -> None:
    with pytest.raises(GoJSONError) as caught:
        loads(data.decode("utf-8", errors="surrogateescape"))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("ch", "quoted"),
    [
        ("'", "'\\''"),
        ('"', "'\"'"),
        ("a", "'a'"),
        ("\n", "'\\n'"),
        ("\x00", "'\\x00'"),
        ("\x80", "'\u00c2'"),  # U+0080 is the bytes C2 80
        ("\udc80", "'\\u0080'"),  # the invalid byte 0x80: U+0080 is not printable
        ("\udca0", "'\\u00a0'"),  # U+00A0 is not printable for Go either
        ("\U0001f600", "'\u00f0'"),
    ],
)
def test_go_char(ch: str, quoted: str) -> None:
    assert go_char(ch) == quoted


def test_loads_objects_as_dicts_or_ordered_pairs() -> None:
    assert loads('{"a":1,"A":2,"a":3}') == {"a": 3, "A": 2}
    pairs = loads('{"a":1,"A":2,"a":{"b":null}}', keep_pairs=True)
    assert isinstance(pairs, ObjectPairs)
    assert list(pairs) == [("a", 1), ("A", 2), ("a", ObjectPairs([("b", None)]))]
    assert loads(" null ") is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "bool"),
        (0, "number"),
        (1.5, "number"),
        ("", "string"),
        ([], "array"),
        ({}, "object"),
        (ObjectPairs([]), "object"),
        (None, "null"),
    ],
)
def test_json_kind_names(value: object, kind: str) -> None:
    assert json_kind(value) == kind


def test_type_error_texts() -> None:
    assert cannot_unmarshal_value([1], "protocol.X") == (
        "json: cannot unmarshal array into Go value of type protocol.X"
    )
    assert cannot_unmarshal_field("s", "X.flag", "bool") == (
        "json: cannot unmarshal string into Go struct field X.flag of type bool"
    )
    assert cannot_unmarshal_field(3, "X.tags") == (
        "json: cannot unmarshal number into Go struct field X.tags"
    )


def test_key_matching_prefers_exact_then_go_folding() -> None:
    names = ["env", "Env", "tags", "skip"]
    assert match_field("Env", names) == "Env"
    assert match_field("ENV", names) == "env"
    assert match_field("TAGS", names) == "tags"
    # Go folds KELVIN SIGN with k and LONG S with s, and nothing else beyond ASCII.
    assert match_field("\u017fkip", names) == "skip"
    assert match_field("s\u212aip", names) == "skip"
    assert match_field("ta\u00dfs", ["tasss"]) is None
    assert fold_name("\ufb01le") != fold_name("file")
    assert match_field("unknown", names) is None


class _Inner(BaseModel):
    key_id: str = ""


class _Outer(BaseModel):
    name: str = ""
    inner: _Inner | None = None
    items: list[_Inner] | None = None
    labels: dict[str, str] | None = None


def test_fold_keys_maps_nested_objects_and_drops_unknown_keys() -> None:
    document = {
        "NAME": "first",
        "name": "second",
        "future": {"x": 1},
        "Inner": {"KEY_ID": "a", "other": 1},
        "items": [{"Key_Id": "b"}, "not-an-object"],
        "labels": {"KEY_ID": "kept as is"},
    }
    assert fold_keys(_Outer, document) == {
        "name": "second",
        "inner": {"key_id": "a"},
        "items": [{"key_id": "b"}, "not-an-object"],
        "labels": {"KEY_ID": "kept as is"},
    }
