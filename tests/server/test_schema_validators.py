"""jsonschema-rs (which decides pass or fail) answers like python-jsonschema (which writes
the error texts).

Differential: for every method's committed params and result schema, JSON values (random
ones, schema-shaped ones, the golden transcripts' requests and answers, and mutations of all
of these) must get the same yes/no from the served validator and from
`Draft202012Validator(schema).is_valid`; otherwise a refused instance could get no error
text, or an accepted one be described as failing. Random schemas are checked the same way,
targeted cases pin the corners of the number and equality semantics, and the one known
difference (the regex dialect) is pinned with what a host then sees.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from wfcompute_container.server.schemas import (
    SchemaValidator,
    build_validators,
    load_all,
    method_names_of,
    schema_errors,
)

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
DIFFERENTIAL = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def method_validators() -> dict[str, Any]:
    files = load_all()
    return build_validators(method_names_of(files), files)


def committed_schemas() -> list[tuple[str, str]]:
    files = load_all()
    return [(name, side) for name in method_names_of(files) for side in ("params", "result")]


def _validator(name: str, side: str) -> SchemaValidator:
    found: SchemaValidator = getattr(method_validators()[name], side)
    return found


# ----- seeds from the golden transcripts ----------------------------------------------------

_PLACEHOLDERS = {
    '"{{STRING}}"': '"text"',
    '"{{INT}}"': "7",
    '"{{TIME}}"': '"2026-01-02T03:04:05.123456789Z"',
    '"{{SHA256}}"': '"sha256:' + "ab" * 32 + '"',
    '"{{BASE64}}"': '"YWJj"',
    "{{TMP}}": "/tmp/golden",
    "{{UID}}": "1000",
    "{{GID}}": "1000",
    "{{CWD}}": "/work",
}


def _substituted(text: str) -> str:
    for placeholder, value in _PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


@cache
def golden_instances() -> dict[tuple[str, str], list[Any]]:
    """Params of the `>` requests and results of the `<` answers, by (method, side)."""
    found: dict[tuple[str, str], list[Any]] = {}
    for path in sorted(GOLDEN_DIR.rglob("*.golden")):
        methods_by_id: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith(("> ", "< ")) or "{{ANY}}" in line:
                continue
            try:
                message = json.loads(_substituted(line[2:]))
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            key = json.dumps(message.get("id"))
            if line.startswith("> ") and isinstance(message.get("method"), str):
                methods_by_id[key] = message["method"]
                if "params" in message:
                    found.setdefault((message["method"], "params"), []).append(message["params"])
            elif line.startswith("< ") and "result" in message and key in methods_by_id:
                found.setdefault((methods_by_id[key], "result"), []).append(message["result"])
    return found


# ----- value strategies ---------------------------------------------------------------------

KEYS = st.sampled_from(["", "a", "name", "digest", "id", "é", "x/y"]) | st.text(max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    # NaN and infinities never arrive: the decoder refuses them (and the libraries disagree
    # on them).
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, -1, 0.0, 1.0, -0.0, 1.5, 2**53, float(2**53), 2**64, 1e300])
    | st.text(max_size=12)
    | st.sampled_from(["sha256:" + "0" * 64, "sha256:" + "A" * 64, "podman", "", "ü", "😀"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def _property_names(schema: Any, into: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                into.update(value)
            _property_names(value, into)
    elif isinstance(schema, list):
        for each in schema:
            _property_names(each, into)
    return into


def shaped(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like `schema` (mostly valid; mutations make the near misses)."""
    if not isinstance(schema, dict) or depth > 6:
        return JSON
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return st.one_of([shaped(sub, depth + 1) for sub in schema[keyword]])
    types = schema.get("type")
    if types is None:
        return JSON
    names = [types] if isinstance(types, str) else list(types)
    return st.one_of([_shaped_type(schema, name, depth) for name in names])


def _shaped_type(schema: dict[str, Any], name: str, depth: int) -> st.SearchStrategy[Any]:
    if name == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        mandatory = {k: shaped(v, depth + 1) for k, v in properties.items() if k in required}
        optional = {k: shaped(v, depth + 1) for k, v in properties.items() if k not in required}
        return st.fixed_dictionaries(mandatory, optional=optional)
    if name == "array":
        least = schema.get("minItems", 0)
        return st.lists(
            shaped(schema.get("items", True), depth + 1), min_size=least, max_size=least + 3
        )
    if name == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"])
        least = schema.get("minLength", 0)
        return st.text(min_size=least, max_size=least + 8)
    if name in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        least = None if low is None else math.ceil(low)
        most = None if high is None else math.floor(high)
        if least is not None and most is not None and least > most:
            return JSON  # nothing can be valid; mutations still probe the bounds
        ints = st.integers(min_value=least, max_value=most)
        floats = st.floats(allow_nan=False, allow_infinity=False)
        return ints | ints.map(float) if name == "integer" else ints | floats
    if name == "boolean":
        return st.booleans()
    return st.none()


def _twins(value: Any) -> list[Any]:
    """Values that jsonschema must tell apart from `value`, or must not."""
    if isinstance(value, bool):
        return [int(value), float(value), not value]
    if isinstance(value, int):
        out: list[Any] = [value + 1, value - 1, -value, str(value), value == 1, None]
        if abs(value) < 2**1000:
            out.append(float(value))
        return out
    if isinstance(value, float):
        return [int(value), value + 0.5, -value, value / 3]
    if isinstance(value, str):
        return ["", value + "x", value[:-1], value.upper(), value * 2, [value], None]
    if isinstance(value, list):
        return [[], value[1:], [*value, None], value + value[:1], {}]
    if isinstance(value, dict):
        return [[], {}, {k: v for k, v in list(value.items())[1:]}]
    return [0, False, "", {}]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any], names: tuple[str, ...]) -> Any:
    value = draw(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        value = _mutate_once(draw, value, names)
    return value


def _mutate_once(draw: st.DrawFn, value: Any, names: tuple[str, ...]) -> Any:
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        out = dict(value)
        action = draw(st.sampled_from(["descend", "delete", "add"]))
        if action == "descend":
            out[key] = _mutate_once(draw, value[key], names)
        elif action == "delete":
            del out[key]
        else:
            new_key = draw(st.sampled_from(names) if names else KEYS)
            out[new_key] = draw(JSON | st.sampled_from(_twins(value[key])))
        return out
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(min_value=0, max_value=len(value) - 1))
        items = list(value)
        items[index] = _mutate_once(draw, value[index], names)
        return items
    if isinstance(value, dict) and draw(st.booleans()):
        out = dict(value)
        out[draw(st.sampled_from(names) if names else KEYS)] = draw(JSON)
        return out
    return draw(st.sampled_from(_twins(value)) | JSON)


def _agrees(check: SchemaValidator, reference: Draft202012Validator, value: Any) -> None:
    expected = reference.is_valid(value)
    assert check.is_valid(value) is expected, (value, expected)


# ----- the committed schemas ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "side"), committed_schemas())
def test_golden_instances_and_their_twins_agree(name: str, side: str) -> None:
    check = _validator(name, side)
    reference = Draft202012Validator(check.schema)
    seeds = golden_instances().get((name, side), [])
    for seed in [*seeds, None, {}, []]:
        _agrees(check, reference, seed)
        for twin in _twins(seed):
            _agrees(check, reference, twin)
        if isinstance(seed, dict):
            for key, member in seed.items():
                for twin in _twins(member):
                    _agrees(check, reference, {**seed, key: twin})


def test_golden_seeds_cover_the_common_methods() -> None:
    """The seeds are real: the transcripts' valid requests validate."""
    seeds = golden_instances()
    for name in ("digest.validate", "sandbox.plan", "artifacts.hash", "initialize"):
        assert seeds.get((name, "params")), name
    assert seeds.get(("digest.validate", "result"))
    check = _validator("digest.validate", "params")
    assert any(check.is_valid(seed) for seed in seeds[("digest.validate", "params")])


@pytest.mark.parametrize(("name", "side"), committed_schemas())
@DIFFERENTIAL
@given(data=st.data())
def test_served_validator_agrees_with_jsonschema(name: str, side: str, data: st.DataObject) -> None:
    check = _validator(name, side)
    reference = Draft202012Validator(check.schema)
    names = tuple(sorted(_property_names(check.schema, set())))
    seeds = golden_instances().get((name, side), [])
    base = shaped(check.schema) | JSON
    if seeds:
        base = base | st.sampled_from(seeds)
    value = data.draw(mutated(base, names))
    _agrees(check, reference, value)


# ----- random schemas -----------------------------------------------------------------------

# Patterns whose meaning is the same in ECMA-262 and Python's `re` (no `$`, `\d` or `\w`: see
# the dialect cases below).
PATTERNS = ["^a", "^[0-9a-f]{4}", "^é", "😀", "[α-ω]", "^.{2}", "a|b"]


def _some_of(keywords: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Schemas with a few of `keywords` (all of them at once would rarely accept anything)."""
    names = st.lists(st.sampled_from(sorted(keywords)), min_size=1, max_size=3, unique=True)
    return names.flatmap(lambda chosen: st.fixed_dictionaries({k: keywords[k] for k in chosen}))


LEAF_KEYWORDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null"])
    | st.lists(st.sampled_from(["integer", "string", "null", "number"]), min_size=1, unique=True),
    "minimum": st.integers(-3, 3) | st.floats(-3, 3),
    "maximum": st.integers(-3, 3) | st.sampled_from([2**53, 0.5]),
    "exclusiveMinimum": st.integers(-3, 3) | st.sampled_from([2**64]),
    "exclusiveMaximum": st.integers(-3, 3) | st.floats(-3, 3),
    "minLength": st.integers(0, 3),
    "maxLength": st.integers(0, 3),
    "pattern": st.sampled_from(PATTERNS),
    "minItems": st.integers(0, 2),
    "maxItems": st.integers(0, 2),
    "enum": st.lists(SCALARS, min_size=1, max_size=4),
    "const": JSON,
    "title": st.text(max_size=3),
    "format": st.sampled_from(["date-time", "uri", "email"]),
    "contentEncoding": st.just("base64"),
}
# Mostly typed schemas: `type` is where jsonschema's number semantics live.
LEAF_SCHEMAS = st.one_of(
    st.booleans(),
    _some_of(LEAF_KEYWORDS),
    st.builds(lambda more, t: {**more, "type": t}, _some_of(LEAF_KEYWORDS), LEAF_KEYWORDS["type"]),
)


def _nested_keywords(inner: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "type": st.sampled_from(["object", "array"]),
        "properties": st.dictionaries(KEYS, inner, max_size=3),
        "required": st.lists(KEYS, max_size=3, unique=True),
        "additionalProperties": inner,
        "items": inner,
        "anyOf": st.lists(inner, min_size=1, max_size=3),
        "oneOf": st.lists(inner, min_size=1, max_size=3),
        "minimum": st.integers(-3, 3),
        "pattern": st.sampled_from(PATTERNS),
    }


SUBSET_SCHEMAS = st.recursive(
    LEAF_SCHEMAS, lambda inner: _some_of(_nested_keywords(inner)), max_leaves=8
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SUBSET_SCHEMAS | LEAF_SCHEMAS, data=st.data())
def test_random_schemas_agree(schema: Any, data: st.DataObject) -> None:
    # Only schemas that are schemas: jsonschema-rs refuses the others at build time, and our
    # served schemas are meta-validated.
    assume(Draft202012Validator(Draft202012Validator.META_SCHEMA).is_valid(schema))
    predicate = fast(schema)
    reference = Draft202012Validator(schema)
    names = tuple(sorted(_property_names(schema, set())))
    for _ in range(5):
        value = data.draw(mutated(shaped(schema) | JSON, names))
        assert predicate(value) is reference.is_valid(value), (schema, value)


# ----- targeted corners of jsonschema's semantics -------------------------------------------


def fast(schema: Any) -> Any:
    """The served validator's yes/no for ``schema``."""
    return jsonschema_rs.validator_for(schema, validate_formats=False).is_valid


BIG = 2**64 + 1
CASES: list[tuple[Any, list[Any]]] = [
    (
        {"type": "integer"},
        [1, 1.0, -0.0, 1.5, True, False, BIG, float(2**64), 1e308, "1", None],
    ),
    ({"type": "number"}, [1, 1.0, True, BIG, 1e308, "1", None]),
    ({"type": ["integer", "null"]}, [None, 3, 3.0, 3.5, False, "3"]),
    ({"type": "integer", "minimum": 1, "maximum": 5}, [0, 1, 5, 5.0, 5.5, 6, True, BIG]),
    ({"minimum": 0}, [-1, 0, True, False, "x", None, [], -0.5]),
    ({"exclusiveMinimum": 2**53}, [2**53, 2**53 + 1, float(2**53), float(2**53 + 2)]),
    ({"exclusiveMaximum": 0, "type": "number"}, [-1, 0, -0.0, -1e-300, False]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", "A", None, False, [1]]),
    ({"enum": [False, 0.0]}, [False, 0, 0.0, -0.0, None, []]),
    ({"enum": ["a", "b"]}, ["a", "b", "c", 1, None, ["a"]]),
    ({"const": [1, True]}, [[1, True], [1.0, True], [True, 1], [1, 1], (1, True)]),
    ({"const": {"a": 1}}, [{"a": 1}, {"a": 1.0}, {"a": True}, {"a": 1, "b": 1}, {}]),
    ({"const": None}, [None, False, 0, [], {}]),
    ({"type": "string", "pattern": "^[α-ω]+$"}, ["αβ", "aβ", "", "Ω"]),
    ({"type": "string", "pattern": "\\d"}, ["3", "x"]),
    ({"type": "string", "pattern": "^.{2}$"}, ["é", "e\u0301", "😀", "😀😀"]),
    ({"type": "string", "minLength": 2, "maxLength": 2}, ["😀", "😀😀", "ab", "abc", 12]),
    ({"pattern": "^x"}, [1, None, "x", "y", ["y"]]),
    ({"items": False}, [[], [1], "x", {}]),
    ({"items": True, "minItems": 1}, [[], [1], {}]),
    ({"type": "array", "maxItems": 1, "items": {"type": "integer"}}, [[], [1.0], [1, 2], [True]]),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
        [{}, {"a": "x"}, {"a": 1}, {"b": 1}, {"b": 1.0}, {"b": True}, {"a": "x", "b": "y"}, 3],
    ),
    (
        {"type": "object", "required": ["a"], "additionalProperties": False},
        [{"a": 1}, {}, {"b": 1}, []],
    ),
    (
        {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "a": {"anyOf": [{"type": "integer", "minimum": 3}, {"type": "null"}]}
                    },
                    "additionalProperties": False,
                },
                {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            ]
        },
        [
            {},
            {"a": 3},
            {"a": 3.0},
            {"a": 2},
            {"a": None},
            {"a": True},
            {"b": 1},
            ["x", 1],
            ["x", 1.5],
            [None],
            "x",
        ],
    ),
    (
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        [1, 1.0, 1.5, True, "x"],
    ),
    ({"oneOf": [{"minimum": 0}, {"type": "string"}]}, [1, -1, "x", None]),
    ({"type": "string", "format": "date-time", "contentEncoding": "base64"}, ["nope", 1]),
]


@pytest.mark.parametrize(("schema", "values"), CASES)
def test_targeted_cases_agree(schema: Any, values: list[Any]) -> None:
    predicate = fast(schema)
    reference = Draft202012Validator(schema)
    for value in values:
        assert predicate(value) is reference.is_valid(value), value


def test_targeted_cases_mean_what_they_say() -> None:
    """A few answers spelled out, so an agreeing-but-wrong reference would show."""
    integer = fast({"type": "integer"})
    assert integer(1.0) and integer(BIG) and not integer(True) and not integer(1.5)
    assert fast({"minimum": 0})(True)
    assert not fast({"enum": [1]})(True)
    assert fast({"const": [1]})([1.0])
    # Formats are annotations, as python-jsonschema treats them without a format checker.
    assert fast({"type": "string", "format": "date-time"})("not a time")


# Where the regex dialects differ, jsonschema-rs follows ECMA-262 (what JSON Schema names):
# `$` does not match before a final newline and `\d` is ASCII. The refusal stands, and since
# python-jsonschema finds nothing wrong, the error names the rule, never the value.
DIALECT_CASES = [
    ({"type": "string", "pattern": "^[α-ω]+$"}, "ω\n"),
    ({"type": "string", "pattern": "\\d"}, "٣"),
    ({"type": "string", "pattern": "^.{2}$"}, "ab\n"),
]


@pytest.mark.parametrize(("schema", "value"), DIALECT_CASES)
def test_dialect_differences_are_refused_naming_the_rule(schema: Any, value: str) -> None:
    assert Draft202012Validator(schema).is_valid(value)
    check = SchemaValidator(
        {"type": "object", "properties": {"s": schema}},
        lambda: Draft202012Validator({"type": "object", "properties": {"s": schema}}),
    )
    assert not check.is_valid({"s": value})
    errors = schema_errors(check, {"s": value})
    assert errors == [{"path": "/s", "message": "fails the schema's pattern rule"}]
    assert value.strip() not in json.dumps(errors, ensure_ascii=False)


def test_schema_errors_are_described_from_the_failing_schema() -> None:
    check = _validator("digest.validate", "params")
    assert schema_errors(check, {"digest": "sha256:" + "0" * 64}) == []
    errors = schema_errors(check, {"digest": 1, "extra": True})
    assert errors == [
        {"path": "", "message": 'unexpected member(s) ["extra"]'},
        {"path": "/digest", "message": "must be of type string"},
    ]
    assert len(errors) == 2
