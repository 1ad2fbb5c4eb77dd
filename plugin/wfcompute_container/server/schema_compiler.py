"""JSON Schema 2020-12 compiled to a plain Python predicate, for the keywords our schemas use.

Validating every request's params and every result with jsonschema costs a validator object
per nested schema and a type-checker look-up per keyword; for small requests that is most of
the server's time. The schemas we serve are generated from pydantic models and use a small,
fixed subset of the vocabulary, so each one is translated once, at start-up, into nested
closures that answer the same yes/no question directly.

The predicate must agree with `Draft202012Validator(schema).is_valid` (no format checker) on
every JSON value; tests/server/test_schema_compiler.py checks that differentially. Anything
outside the subset makes `compile_schema` return None, and the caller keeps using jsonschema.
Only the yes/no answer comes from here: error texts always come from jsonschema.

Semantics mirrored from jsonschema (4.x), keyword by keyword:
- `type`: "integer" is an int that is not a bool, or a float with an integral value (1.0);
  "number" is any numbers.Number that is not a bool; "object" is a dict, "array" a list.
- `enum` / `const` compare like jsonschema's `equal`: True is not 1, 1.0 is 1, containers
  element-wise with the same rule.
- Object, array, string and number keywords only constrain values of their own type.
- `pattern` is `re.search` (unanchored), `minLength`/`maxLength` count code points.
- `format` is an annotation unless a format checker is configured (ours is not);
  `contentEncoding` is an annotation in 2020-12; title/description/default/examples too.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Predicate = Callable[[Any], bool]

# Keywords that never change the answer of `is_valid` (without a format checker).
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "contentEncoding",
        "format",
    }
)
_OBJECT_KEYWORDS = frozenset({"properties", "required", "additionalProperties"})
_ARRAY_KEYWORDS = frozenset({"items", "minItems", "maxItems"})
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_OTHER_KEYWORDS = frozenset({"type", "enum", "const", "anyOf", "oneOf"})
SUPPORTED = (
    ANNOTATIONS
    | _OBJECT_KEYWORDS
    | _ARRAY_KEYWORDS
    | _STRING_KEYWORDS
    | _NUMBER_KEYWORDS
    | _OTHER_KEYWORDS
)


class UnsupportedSchema(Exception):
    """The schema uses something outside the compiled subset (the message says what)."""


def compile_schema(schema: Any, *, format_asserted: bool = False) -> Predicate | None:
    """A predicate equal to jsonschema's `is_valid` for `schema`, or None when the schema
    uses a keyword (or a keyword value) outside the subset.

    `format_asserted`: the validator has a format checker, so `format` is not an annotation
    and the schema cannot be compiled when it uses `format`.
    """
    try:
        return compile_or_raise(schema, format_asserted=format_asserted)
    except UnsupportedSchema:
        return None


def compile_or_raise(schema: Any, *, format_asserted: bool = False) -> Predicate:
    """Like `compile_schema`, but says why a schema is unsupported (UnsupportedSchema)."""
    return _Compiler(format_asserted).compile(schema)


# ----- type checks (jsonschema's draft 2020-12 type checker) --------------------------------


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _is_null(value: Any) -> bool:
    return value is None


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    return kind is not bool and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return True
    if kind is bool:
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int)


_TYPE_CHECKS: dict[str, Predicate] = {
    "object": _is_object,
    "array": _is_array,
    "string": _is_string,
    "boolean": _is_boolean,
    "null": _is_null,
    "number": _is_number,
    "integer": _is_integer,
}


# ----- equality (jsonschema's `equal`) --------------------------------------------------------

_TRUE = object()
_FALSE = object()


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema means it: bools are not numbers, containers compare deeply."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and json_equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


# ----- the compiler ---------------------------------------------------------------------------


def _all_of(checks: list[Predicate]) -> Predicate:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)
    parts = tuple(checks)

    def all_hold(value: Any) -> bool:
        # A loop, not all(<generator>): this runs per value and the generator costs more.
        for check in parts:  # noqa: SIM110
            if not check(value):
                return False
        return True

    return all_hold


def _is_plain_number(value: Any) -> bool:
    """A keyword bound we can compare with: an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _Compiler:
    def __init__(self, format_asserted: bool) -> None:
        self._format_asserted = format_asserted

    def compile(self, schema: Any) -> Predicate:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"a schema must be an object or a boolean, not {schema!r}")
        unknown = sorted(set(schema) - SUPPORTED)
        if unknown:
            raise UnsupportedSchema(f"keyword {unknown[0]!r} is not compiled")
        if self._format_asserted and "format" in schema:
            raise UnsupportedSchema("format is asserted by this validator")

        types = self._types(schema)
        exact = types[0] if types is not None and len(types) == 1 else None
        checks: list[Predicate] = []
        type_subsumed = False

        gated = [
            ("object", _is_object, self._object_part(schema)),
            ("array", _is_array, self._array_part(schema)),
            ("string", _is_string, self._string_part(schema)),
            ("number", _is_number, self._number_part(schema)),
        ]
        for name, applies, part in gated:
            if part is None:
                continue
            if exact == name or (name == "number" and exact == "integer"):
                # The type keyword admits only values this part constrains: check both at once.
                checks.append(_typed(_TYPE_CHECKS[exact], part))
                type_subsumed = True
            else:
                checks.append(_when(applies, part))
        if types is not None and not type_subsumed:
            checks.insert(0, _type_check(types))
        if "enum" in schema:
            checks.append(self._enum(schema["enum"]))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda value: json_equal(value, const))
        if "anyOf" in schema:
            checks.append(_any_of(self._branches(schema, "anyOf")))
        if "oneOf" in schema:
            checks.append(_one_of(self._branches(schema, "oneOf")))
        return _all_of(checks)

    @staticmethod
    def _types(schema: dict[str, Any]) -> list[str] | None:
        if "type" not in schema:
            return None
        raw = schema["type"]
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names:
            raise UnsupportedSchema(f"type {raw!r} is not a type name or a list of them")
        for name in names:
            if name not in _TYPE_CHECKS:
                raise UnsupportedSchema(f"type {name!r} is unknown")
        return list(names)

    def _branches(self, schema: dict[str, Any], keyword: str) -> list[Predicate]:
        branches = schema[keyword]
        if not isinstance(branches, list) or not branches:
            raise UnsupportedSchema(f"{keyword} must be a non-empty list")
        return [self.compile(branch) for branch in branches]

    @staticmethod
    def _enum(values: Any) -> Predicate:
        if not isinstance(values, list):
            raise UnsupportedSchema("enum must be a list")
        if all(isinstance(each, str) for each in values):
            # A string only equals a string (jsonschema compares strings with ==).
            names = frozenset(values)
            return lambda value: isinstance(value, str) and value in names
        options = tuple(values)
        return lambda value: any(json_equal(each, value) for each in options)

    def _object_part(self, schema: dict[str, Any]) -> Predicate | None:
        """The object keywords, for a value known to be a dict; None when there are none."""
        if not _OBJECT_KEYWORDS & schema.keys():
            return None
        raw_properties = schema.get("properties", {})
        if not isinstance(raw_properties, dict):
            raise UnsupportedSchema("properties must be an object")
        properties = {name: self.compile(sub) for name, sub in raw_properties.items()}
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise UnsupportedSchema("required must be a list of strings")
        names = tuple(required)
        extra = schema.get("additionalProperties", True)
        if extra is True:
            additional: Predicate | None = None
        elif extra is False:
            additional = _never
        elif isinstance(extra, dict):
            additional = self.compile(extra)
        else:
            raise UnsupportedSchema("additionalProperties must be a schema")
        lookup = properties.get

        def object_holds(value: dict[Any, Any]) -> bool:
            for name in names:
                if name not in value:
                    return False
            # One pass over the members: declared ones against their schema, the others
            # against additionalProperties (the members `properties` does not name).
            for key, member in value.items():
                check = lookup(key)
                if check is None:
                    if additional is not None and not additional(member):
                        return False
                elif not check(member):
                    return False
            return True

        return object_holds

    def _array_part(self, schema: dict[str, Any]) -> Predicate | None:
        if not _ARRAY_KEYWORDS & schema.keys():
            return None
        checks: list[Predicate] = []
        if "minItems" in schema:
            least = _count(schema, "minItems")
            checks.append(lambda value: len(value) >= least)
        if "maxItems" in schema:
            most = _count(schema, "maxItems")
            checks.append(lambda value: len(value) <= most)
        if "items" in schema:
            items = schema["items"]
            if items is False:
                checks.append(lambda value: not value)
            elif items is not True:
                item = self.compile(items)
                checks.append(lambda value: all(map(item, value)))
        return _all_of(checks)

    @staticmethod
    def _string_part(schema: dict[str, Any]) -> Predicate | None:
        if not _STRING_KEYWORDS & schema.keys():
            return None
        checks: list[Predicate] = []
        if "minLength" in schema:
            shortest = _count(schema, "minLength")
            checks.append(lambda value: len(value) >= shortest)
        if "maxLength" in schema:
            longest = _count(schema, "maxLength")
            checks.append(lambda value: len(value) <= longest)
        if "pattern" in schema:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise UnsupportedSchema("pattern must be a string")
            try:
                search = re.compile(pattern).search
            except re.error as exc:
                raise UnsupportedSchema(f"pattern {pattern!r} does not compile: {exc}") from None
            checks.append(lambda value: search(value) is not None)
        return _all_of(checks)

    @staticmethod
    def _number_part(schema: dict[str, Any]) -> Predicate | None:
        if not _NUMBER_KEYWORDS & schema.keys():
            return None
        bounds: dict[str, Any] = {}
        for keyword in _NUMBER_KEYWORDS & schema.keys():
            bound = schema[keyword]
            if not _is_plain_number(bound):
                raise UnsupportedSchema(f"{keyword} must be a number")
            bounds[keyword] = bound
        checks: list[Predicate] = []
        if "minimum" in bounds:
            low = bounds["minimum"]
            checks.append(lambda value: not value < low)
        if "maximum" in bounds:
            high = bounds["maximum"]
            checks.append(lambda value: not value > high)
        if "exclusiveMinimum" in bounds:
            above = bounds["exclusiveMinimum"]
            checks.append(lambda value: not value <= above)
        if "exclusiveMaximum" in bounds:
            below = bounds["exclusiveMaximum"]
            checks.append(lambda value: not value >= below)
        return _all_of(checks)


def _count(schema: dict[str, Any], keyword: str) -> int:
    value = schema[keyword]
    if not _is_count(value):
        raise UnsupportedSchema(f"{keyword} must be a non-negative integer")
    count: int = value
    return count


def _typed(is_type: Predicate, part: Predicate) -> Predicate:
    return lambda value: is_type(value) and part(value)


def _when(applies: Predicate, part: Predicate) -> Predicate:
    return lambda value: not applies(value) or part(value)


def _type_check(types: list[str]) -> Predicate:
    checks = [_TYPE_CHECKS[name] for name in dict.fromkeys(types)]
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def _any_of(branches: list[Predicate]) -> Predicate:
    if len(branches) == 1:
        return branches[0]
    options = tuple(branches)

    def any_holds(value: Any) -> bool:
        for branch in options:  # noqa: SIM110 (a loop is cheaper than any(<generator>))
            if branch(value):
                return True
        return False

    return any_holds


def _one_of(branches: list[Predicate]) -> Predicate:
    options = tuple(branches)

    def exactly_one_holds(value: Any) -> bool:
        found = False
        for branch in options:
            if branch(value):
                if found:
                    return False
                found = True
        return found

    return exactly_one_holds
