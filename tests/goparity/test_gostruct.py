"""Go json.Unmarshal into a struct: document order, first type error, null, folding, types."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from wfcompute_container.goparity.gostruct import decode_struct, go_type
from wfcompute_container.goparity.jsondecode import GoJSONError, ObjectPairs, loads
from wfcompute_container.goparity.text import quote


class Inner(BaseModel):
    name: str = ""
    on: bool = False


class Outer(BaseModel):
    label: str = ""
    flag: bool = False
    items: list[str] | None = None
    labels: dict[str, str] | None = None
    inner: Inner = Inner()
    maybe: Inner | None = None
    many: list[Inner] | None = None
    pointers: list[Inner | None] | None = None


class WithNumber(BaseModel):
    count: int = 0


def error_of(document: Any) -> str:
    with pytest.raises(GoJSONError) as caught:
        decode_struct(document, Outer, "pkg")
    return str(caught.value)


def field_error(kind: str, field: str, target: str) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {field} of type {target}"


def test_go_type_names() -> None:
    fields = Outer.model_fields
    assert [go_type(fields[name].annotation, "pkg") for name in fields] == [
        "string",
        "bool",
        "[]string",
        "map[string]string",
        "pkg.Inner",
        "*pkg.Inner",
        "[]pkg.Inner",
        "[]*pkg.Inner",
    ]
    with pytest.raises(TypeError):
        go_type(int, "pkg")


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({"label": 1}, field_error("number", "Outer.label", "string")),
        ({"flag": "yes"}, field_error("string", "Outer.flag", "bool")),
        ({"label": True}, field_error("bool", "Outer.label", "string")),
        ({"labels": []}, field_error("array", "Outer.labels", "map[string]string")),
        ({"labels": {"a": "b", "c": 1}}, field_error("number", "Outer.labels", "string")),
        ({"inner": "x"}, field_error("string", "Outer.inner", "pkg.Inner")),
        ({"maybe": 2}, field_error("number", "Outer.maybe", "pkg.Inner")),
        ({"maybe": {"on": "no"}}, field_error("string", "Inner.maybe.on", "bool")),
        ({"many": [{}, {"name": []}]}, field_error("array", "Inner.many.name", "string")),
        ({"pointers": [None, 1]}, field_error("number", "Outer.pointers", "pkg.Inner")),
        # The first mismatch in document order, whichever field it is in.
        ({"many": [{"on": 1}], "label": 1}, field_error("number", "Inner.many.on", "bool")),
        ({"label": 1, "many": [{"on": 1}]}, field_error("number", "Outer.label", "string")),
        ("text", "json: cannot unmarshal string into Go value of type pkg.Outer"),
        (7, "json: cannot unmarshal number into Go value of type pkg.Outer"),
    ],
)
def test_type_errors(document: Any, error: str) -> None:
    assert error_of(document) == error


def test_first_error_of_a_repeated_key_wins() -> None:
    # Go reports the first mismatch even when a later copy of the key would have decoded.
    document = loads('{"label":1,"label":"ok","flag":"x"}', keep_pairs=True)
    assert error_of(document) == field_error("number", "Outer.label", "string")


def test_object_pairs_are_objects_not_arrays() -> None:
    document = loads('{"many":[{"name":"a"}],"items":{}}', keep_pairs=True)
    assert error_of(document) == field_error("object", "Outer.items", "[]string")


def test_repeated_keys_apply_in_order() -> None:
    document = loads(
        '{"label":"a","label":"b","inner":{"name":"n"},"inner":{"on":true},'
        '"labels":{"x":"1"},"labels":{"y":"2"},"items":["p"],"items":["q"]}',
        keep_pairs=True,
    )
    assert isinstance(document, ObjectPairs)
    decoded = decode_struct(document, Outer, "pkg")
    assert decoded.label == "b"
    assert decoded.inner == Inner(name="n", on=True)
    assert decoded.labels == {"x": "1", "y": "2"}
    assert decoded.items == ["q"]


@pytest.mark.parametrize(
    ("text", "field", "first", "second"),
    [
        ('{"label":"a","LABEL":"b"}', "Outer.label", "label", "LABEL"),
        ('{"Label":"a","label":"b"}', "Outer.label", "Label", "label"),
        ('{"inner":{"name":"a","NAME":"b"}}', "Inner.inner.name", "name", "NAME"),
        ('{"many":[{"on":true,"On":false}]}', "Inner.many.on", "on", "On"),
        ('{"items":["x"],"item\u017f":["y"]}', "Outer.items", "items", "item\u017f"),
    ],
)
def test_keys_that_differ_only_in_case_are_refused(
    text: str, field: str, first: str, second: str
) -> None:
    message = error_of(loads(text, keep_pairs=True))
    assert message == (
        f'keys "{first}" and {quote(second)} both name field {field} '
        "(keys that differ only in case are refused)"
    )


def test_null_rules() -> None:
    decoded = decode_struct(
        {
            "label": None,
            "flag": None,
            "items": [None, "b"],
            "labels": {"k": None},
            "inner": None,
            "maybe": None,
            "many": [None],
            "pointers": [None],
        },
        Outer,
        "pkg",
    )
    assert decoded == Outer(items=["", "b"], labels={"k": ""}, many=[Inner()], pointers=[None])
    assert decode_struct(None, Outer, "pkg") == Outer()
    # A later null clears a nil-able field set earlier.
    cleared = decode_struct(loads('{"maybe":{},"maybe":null}', keep_pairs=True), Outer, "pkg")
    assert cleared.maybe is None


def test_keys_fold_and_unknown_keys_are_ignored() -> None:
    decoded = decode_struct(
        {"LABEL": "l", "Maybe": {"NAME": "n"}, "unknown": [1, {}], "name": 5}, Outer, "pkg"
    )
    assert decoded.label == "l"
    assert decoded.maybe == Inner(name="n")


def test_numbers_are_refused_as_targets() -> None:
    with pytest.raises(TypeError):
        decode_struct({"count": 1}, WithNumber, "pkg")
