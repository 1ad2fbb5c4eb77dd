"""Go encoding/json parity of WireModel output and input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from pydantic import Field, ValidationError

from wfcompute_container.core.wire import (
    ZERO_TIME,
    GoBytes,
    GoTime,
    Int64,
    OmitRule,
    RawJSON,
    RawJSONField,
    WireModel,
)
from wfcompute_container.goparity.timefmt import NanoDatetime


class Inner(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {"label": "empty"}

    label: str = ""
    items: list[str] | None = None


class Sample(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {
        "empty_text": "empty",
        "empty_count": "empty",
        "empty_flag": "empty",
        "empty_list": "empty",
        "empty_map": "empty",
        "empty_struct": "empty",
        "empty_time": "empty",
        "empty_bytes": "empty",
        "zero_struct": "zero",
        "zero_time": "zero",
        "zero_list": "zero",
        "raw": "empty",
    }

    text: str = ""
    count: Int64 = 0
    flag: bool = False
    items: list[str] | None = None
    mapping: dict[str, str] | None = None
    pointer: Inner | None = None
    when: GoTime = ZERO_TIME
    data: GoBytes = None
    empty_text: str = ""
    empty_count: Int64 = 0
    empty_flag: bool = False
    empty_list: list[str] | None = None
    empty_map: dict[str, Any] | None = None
    empty_struct: Inner = Field(default_factory=Inner)
    empty_time: GoTime = ZERO_TIME
    empty_bytes: GoBytes = None
    zero_struct: Inner = Field(default_factory=Inner)
    zero_time: GoTime = ZERO_TIME
    zero_list: list[str] | None = None
    raw: RawJSONField = None


def test_zero_value_output_matches_go() -> None:
    # No tag: emitted with zero values (nil slice/map/pointer/bytes are null, zero time text).
    # omitempty: every empty kind dropped except the struct value and the time.
    assert Sample().to_json() == (
        '{"text":"","count":0,"flag":false,"items":null,"mapping":null,"pointer":null,'
        '"when":"0001-01-01T00:00:00Z","data":null,'
        '"empty_struct":{"items":null},"empty_time":"0001-01-01T00:00:00Z"}'
    )


def test_omitempty_drops_empty_but_keeps_values() -> None:
    sample = Sample(empty_text="x", empty_count=-1, empty_flag=True, empty_list=[], empty_map={})
    wire = sample.to_wire()
    assert wire["empty_text"] == "x"
    assert wire["empty_count"] == -1
    assert wire["empty_flag"] is True
    # A non-nil but empty slice/map is still "empty" for omitempty.
    assert "empty_list" not in wire
    assert "empty_map" not in wire


def test_omitzero_keeps_non_nil_empty_slice_and_non_zero_struct() -> None:
    sample = Sample(zero_list=[], zero_struct=Inner(items=[]))
    wire = sample.to_wire()
    assert wire["zero_list"] == []
    # A struct holding a non-nil empty slice is not zero under Go reflection.
    assert wire["zero_struct"] == {"items": []}
    assert "zero_time" not in Sample().to_wire()
    when = datetime(2026, 6, 9, tzinfo=UTC)
    assert Sample(zero_time=when).to_wire()["zero_time"] == "2026-06-09T00:00:00Z"


def test_field_order_is_declaration_order() -> None:
    sample = Sample(zero_list=["z"], text="t", empty_text="e")
    assert list(sample.to_wire())[:3] == ["text", "count", "flag"]
    keys = list(sample.to_wire())
    assert keys.index("empty_text") < keys.index("zero_list")


def test_maps_are_sorted_bytewise_and_html_escaped() -> None:
    sample = Sample(mapping={"b": "1", "a": "<&>", "B": "2", "é": "3"})
    text = sample.to_json()
    assert '"mapping":{"B":"2","a":"\\u003c\\u0026\\u003e","b":"1","é":"3"}' in text


def test_line_separators_are_escaped() -> None:
    assert '"text":"a\\u2028b\\u2029c"' in Sample(text="a\u2028b\u2029c").to_json()


def test_bytes_are_standard_padded_base64_both_ways() -> None:
    payload = b"\xfb\xff\x00ok"
    encoded = base64.standard_b64encode(payload).decode()
    assert "+" in encoded or "/" in encoded  # std alphabet, not URL-safe
    sample = Sample.model_validate({"data": encoded})
    assert sample.data == payload
    assert sample.to_wire()["data"] == encoded
    assert Sample.model_validate({"data": "aGk="}).data == b"hi"
    # Go's decoder skips CR/LF inside base64 text.
    assert Sample.model_validate({"data": "aG\r\nk="}).data == b"hi"
    assert Sample.model_validate({"data": None}).data is None
    assert Sample.model_validate({"data": ""}).data == b""


@pytest.mark.parametrize("bad", ["aGk", "a*k=", "aGk=\t"])
def test_bytes_reject_invalid_base64(bad: str) -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"data": bad})


def test_times_encode_rfc3339_with_trimmed_fraction() -> None:
    base = datetime(2026, 6, 9, 1, 2, 3, tzinfo=UTC)
    assert Sample(when=base).to_wire()["when"] == "2026-06-09T01:02:03Z"
    assert Sample(when=base.replace(microsecond=120000)).to_wire()["when"] == (
        "2026-06-09T01:02:03.12Z"
    )
    plus2 = base.astimezone(timezone(timedelta(hours=2)))
    assert Sample(when=plus2).to_wire()["when"] == "2026-06-09T03:02:03+02:00"


@pytest.mark.parametrize(
    "text",
    [
        "2026-06-09T00:00:00Z",
        "2026-06-09T00:00:00.5Z",
        "2026-06-09T00:00:00.123456789Z",
        "2026-06-09T00:00:00.000000001-07:30",
        "0001-01-01T00:00:00Z",
    ],
)
def test_times_round_trip_exactly(text: str) -> None:
    assert Sample.model_validate({"when": text}).to_wire()["when"] == text


def test_time_keeps_nanoseconds() -> None:
    sample = Sample.model_validate({"when": "2026-06-09T00:00:00.123456789Z"})
    assert isinstance(sample.when, NanoDatetime)
    assert sample.when.extra_nanos == 789


@pytest.mark.parametrize("bad", ["2026-06-09", "2026-06-09 00:00:00Z", "yesterday", 17])
def test_times_reject_non_rfc3339(bad: object) -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"when": bad})


def test_null_for_value_fields_leaves_zero() -> None:
    sample = Sample.model_validate(
        {"text": None, "count": None, "flag": None, "when": None, "empty_struct": None}
    )
    assert sample == Sample()


def test_null_for_nilable_fields_is_nil() -> None:
    sample = Sample.model_validate({"items": None, "mapping": None, "pointer": None})
    assert sample.items is None
    assert sample.mapping is None
    assert sample.pointer is None


def test_decoding_is_strict_like_go() -> None:
    for bad in ({"count": "1"}, {"count": 1.0}, {"flag": "true"}, {"flag": 1}, {"text": 5}):
        with pytest.raises(ValidationError):
            Sample.model_validate(bad)
    with pytest.raises(ValidationError):
        Sample.model_validate({"count": 2**63})
    assert Sample.model_validate({"count": -(2**63)}).count == -(2**63)


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Sample.model_validate({"Text": "x"})


def test_raw_json_is_embedded_verbatim_with_go_escaping() -> None:
    payload = {"z": 1, "a": ["printf ok > out.txt"], "m": {"y": True, "b": None}}
    sample = Sample.model_validate({"raw": payload})
    assert sample.raw == RawJSON(value=payload)
    # Raw JSON keeps its own key order (no map sorting), but Go escapes HTML characters.
    assert sample.to_json().endswith(
        '"raw":{"z":1,"a":["printf ok \\u003e out.txt"],"m":{"y":true,"b":null}}}'
    )


def test_raw_json_absent_versus_null() -> None:
    assert "raw" not in Sample.model_validate({}).to_wire()
    present_null = Sample.model_validate({"raw": None})
    assert present_null.raw == RawJSON(value=None)
    assert present_null.to_json().endswith('"raw":null}')
    assert Sample.model_validate({"raw": "text"}).to_wire()["raw"] == "text"
    assert Sample.model_validate({"raw": 0}).to_wire()["raw"] == 0


def test_raw_json_validity() -> None:
    assert RawJSON(value={"a": [1, 2.5, "x", None]}).is_valid_json()
    assert not RawJSON(value=float("nan")).is_valid_json()
    assert not RawJSON(value={1: "x"}).is_valid_json()
    assert not RawJSON(value={"a": {1, 2}}).is_valid_json()


def test_is_zero_follows_reflection_rules() -> None:
    assert Inner().is_zero()
    assert not Inner(items=[]).is_zero()
    assert not Inner(label="x").is_zero()


def test_omit_rules_must_name_fields() -> None:
    with pytest.raises(TypeError, match="unknown fields"):

        class Broken(WireModel):
            __omit__: ClassVar[dict[str, OmitRule]] = {"missing": "empty"}

            present: str = ""

        del Broken


def test_invalid_utf8_becomes_replacement_character() -> None:
    # Go writes each invalid byte as the escape \ufffd (not the character itself).
    text = b"ok\xff".decode("utf-8", errors="surrogateescape")
    assert Sample(text=text).to_json().startswith('{"text":"ok\\ufffd"')
