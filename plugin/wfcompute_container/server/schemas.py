"""JSON Schemas of every method's params and result, and of the wire types they use.

Source of truth: the pydantic params/result types declared in the method table. The files in
`schemas/` are generated from them (`python -m wfcompute_container.server.schemas --write`)
and committed, so hosts can read the contract without Python; a test regenerates them and
fails when the committed files drift from the models. At start-up the committed files are
loaded once and one validator per schema is built with jsonschema-rs (a maintained JSON
Schema 2020-12 validator in Rust, over one registry of our files): it decides pass or fail.
python-jsonschema writes the error texts of a failing instance only; it is imported the
first time an instance fails, so serving does not wait for it. The files are meta-validated
by `validate`, the tests and CI (with python-jsonschema).

Layout: `methods/<method>.params.schema.json`, `methods/<method>.result.schema.json`,
`types/<Type>.schema.json` (referenced by absolute `$id`), and the hand-written envelope
schemas under `jsonrpc/`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from ..resources import data_path
from .registry import AnyMethod

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

SCHEMA_BASE = "https://schemas.workflow-compute.dev/compute-container/v1/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF_TEMPLATE = SCHEMA_BASE + "types/{model}.schema.json"

NO_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}


def params_file(method: str) -> str:
    return f"methods/{method}.params.schema.json"


def result_file(method: str) -> str:
    return f"methods/{method}.result.schema.json"


def _with_header(rel: str, schema: dict[str, Any], title: str) -> dict[str, Any]:
    out: dict[str, Any] = {"$schema": DIALECT, "$id": SCHEMA_BASE + rel, "title": title}
    out.update({k: v for k, v in schema.items() if k not in ("$schema", "$id", "title")})
    return out


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    # pydantic is imported here, not at module level: serving never generates schemas.
    from pydantic import BaseModel, TypeAdapter

    schema = TypeAdapter(tp).json_schema(ref_template=_REF_TEMPLATE, mode="validation")
    for name, definition in schema.pop("$defs", {}).items():
        _merge_def(defs, name, definition)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        # A top-level model becomes a type file of its own, like every nested one.
        _merge_def(defs, tp.__name__, schema)
        return {"$ref": _REF_TEMPLATE.format(model=tp.__name__)}
    return schema


def _merge_def(defs: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    previous = defs.get(name)
    if previous is not None and previous != definition:
        raise ValueError(f"two different wire types are both named {name!r}")
    defs[name] = definition


def generate(methods: Iterable[AnyMethod]) -> dict[str, dict[str, Any]]:
    """Every generated schema file, keyed by its path relative to `schemas/`."""
    files: dict[str, dict[str, Any]] = {}
    defs: dict[str, Any] = {}
    for method in methods:
        params = NO_PARAMS_SCHEMA if method.params is None else _type_schema(method.params, defs)
        result = {"type": "null"} if method.result is None else _type_schema(method.result, defs)
        files[params_file(method.name)] = _with_header(
            params_file(method.name), params, f"{method.name} params"
        )
        files[result_file(method.name)] = _with_header(
            result_file(method.name), result, f"{method.name} result"
        )
    for name, definition in defs.items():
        rel = f"types/{name}.schema.json"
        files[rel] = _with_header(rel, definition, name)
    return dict(sorted(files.items()))


def render(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_dir() -> Path:
    return data_path("schemas")


def load_all(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every schema file under `schemas/`, keyed by relative path."""
    base = root or schema_dir()
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(base.rglob("*.schema.json")):
        out[path.relative_to(base).as_posix()] = json.loads(path.read_text(encoding="utf-8"))
    return out


def check_files(files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Meta-validate each schema and check its `$id`; problems as readable lines."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    problems: list[str] = []
    for rel, schema in files.items():
        if schema.get("$schema") != DIALECT:
            problems.append(f"schemas/{rel}: $schema must be {DIALECT}")
        if schema.get("$id") != SCHEMA_BASE + rel:
            problems.append(f"schemas/{rel}: $id must be {SCHEMA_BASE + rel}")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"schemas/{rel}: not a valid JSON Schema 2020-12: {exc.message}")
    return problems


def build_registry(files: Mapping[str, Mapping[str, Any]]) -> Registry[Any]:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (SCHEMA_BASE + rel, Resource.from_contents(dict(schema), default_specification=DRAFT202012))
        for rel, schema in files.items()
    ]
    # Not crawled up front (a third of start-up): the served schemas are self-contained
    # (inline_refs), so the registry only answers the rare recursive reference, by URI.
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry


def inline_refs(
    schema: Any, files: Mapping[str, Mapping[str, Any]], seen: tuple[str, ...] = ()
) -> Any:
    """The schema with every `$ref` to one of our files replaced by that file's content.

    Validating against a self-contained schema skips the registry look-up that each `$ref`
    costs on every call (most of the validation time). A recursive reference stays a `$ref`.
    """
    if isinstance(schema, list):
        return [inline_refs(item, files, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMA_BASE) and ref not in seen:
        target = files.get(ref[len(SCHEMA_BASE) :])
        if target is not None:
            body = {k: v for k, v in target.items() if k not in ("$schema", "$id")}
            merged = dict(inline_refs(body, files, (*seen, ref)))
            for key, value in schema.items():
                if key != "$ref":
                    merged[key] = inline_refs(value, files, seen)
            return merged
    return {key: inline_refs(value, files, seen) for key, value in schema.items()}


class SchemaValidator:
    """One schema's validators: jsonschema-rs answers yes or no, python-jsonschema (made the
    first time an instance fails) says why."""

    def __init__(
        self,
        schema: Any,
        make_validator: Callable[[], Draft202012Validator],
        registry: jsonschema_rs.Registry | None = None,
    ) -> None:
        self.schema = schema
        self._make_validator = make_validator
        self._validator: Draft202012Validator | None = None
        # Formats are annotations in 2020-12 (python-jsonschema asserts none without a
        # format checker): the two must agree.
        self._fast = jsonschema_rs.validator_for(schema, validate_formats=False, registry=registry)
        self.is_valid: Callable[[Any], bool] = self._fast.is_valid

    @property
    def validator(self) -> Draft202012Validator:
        if self._validator is None:
            self._validator = self._make_validator()
        return self._validator

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return self.validator.iter_errors(instance)

    def fast_errors(self, instance: Any) -> list[tuple[str, str]]:
        """jsonschema-rs's own errors as (pointer, description), for an instance the two
        libraries judge differently (their regex dialects differ: ECMA-262 against Python's
        ``re``). Described from the rule's name only: never the instance."""
        return [
            (_pointer(error.instance_path), f"fails the schema's {_rule_name(error)} rule")
            for error in self._fast.iter_errors(instance)
        ]


def _rule_name(error: jsonschema_rs.ValidationError) -> str:
    name = type(error.kind).__name__
    return name[:1].lower() + name[1:]


@dataclass(frozen=True)
class MethodValidators:
    params: SchemaValidator
    result: SchemaValidator


def method_names_of(files: Mapping[str, Any]) -> list[str]:
    """The methods that have a params schema, sorted."""
    suffix = ".params.schema.json"
    return sorted(
        rel[len("methods/") : -len(suffix)]
        for rel in files
        if rel.startswith("methods/") and rel.endswith(suffix)
    )


def build_validators(
    methods: Iterable[str], files: Mapping[str, Mapping[str, Any]]
) -> dict[str, MethodValidators]:
    """One params and one result validator per method, built once and reused."""
    shared: list[Registry[Any]] = []
    # Served schemas are self-contained (inline_refs); the registry answers what stays a
    # `$ref` (a recursive type), for both libraries.
    fast_registry = jsonschema_rs.Registry(
        [(SCHEMA_BASE + rel, dict(schema)) for rel, schema in files.items()]
    )

    def validator_for(schema: Any) -> SchemaValidator:
        def make() -> Draft202012Validator:
            from jsonschema import Draft202012Validator

            if not shared:
                shared.append(build_registry(files))
            return Draft202012Validator(schema, registry=shared[0])

        return SchemaValidator(schema, make, fast_registry)

    validators: dict[str, MethodValidators] = {}
    for name in methods:
        try:
            params_schema = files[params_file(name)]
            result_schema = files[result_file(name)]
        except KeyError as exc:
            raise FileNotFoundError(f"schema {exc.args[0]} is missing") from None
        validators[name] = MethodValidators(
            params=validator_for(inline_refs(params_schema, files)),
            result=validator_for(inline_refs(result_schema, files)),
        )
    return validators


def schema_errors(
    validator: SchemaValidator | Draft202012Validator, instance: Any
) -> list[dict[str, str]]:
    """Validation errors as `[{path: JSON pointer, message}]`, in a stable order.

    The yes/no answer is the fast one; jsonschema walks the instance only when it is invalid.
    """
    if validator.is_valid(instance):
        return []
    described = [
        (_pointer(e.absolute_path), describe_error(e)) for e in validator.iter_errors(instance)
    ]
    if not described and isinstance(validator, SchemaValidator):
        described = validator.fast_errors(instance) or [("", "fails its schema")]
    described.sort(key=lambda item: (item[0], item[1]))
    return [{"path": path, "message": message} for path, message in described]


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _kinds(schema: Any) -> str:
    """What a sub-schema asks for, in a few words (its types, const or enum)."""
    if schema is True:
        return "anything"
    if not isinstance(schema, dict):
        return "nothing"
    if "const" in schema:
        return _json_text(schema["const"])
    if "enum" in schema:
        return "one of " + _json_text(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(map(str, kind))
    if isinstance(kind, str):
        return kind
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1].removesuffix(".schema.json")
    return "a value of another shape"


def describe_error(error: ValidationError) -> str:
    """The error in words built from the schema alone: never the instance (a params value).

    jsonschema's own messages quote the offending value, and a value may be a secret (an env
    value, a token). Key names are named where they are the problem (required, unexpected).
    """
    kind = str(error.validator)
    expected: Any = error.validator_value
    instance: Any = error.instance
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "must be of type " + " or ".join(map(str, kinds))
    if kind in ("anyOf", "oneOf"):
        options = [_kinds(option) for option in expected] if isinstance(expected, list) else []
        how = "exactly one" if kind == "oneOf" else "one"
        return f"must match {how} of: " + "; ".join(options)
    if kind == "allOf":
        return "must match every one of its schemas"
    if kind == "not":
        return "must not match the schema it excludes"
    if kind == "enum":
        return "must be one of " + _json_text(expected)
    if kind == "const":
        return "must be " + _json_text(expected)
    if kind == "pattern":
        return "must match the pattern " + _json_text(expected)
    if kind == "format":
        return f"must be a valid {expected}"
    if kind == "required":
        missing = [name for name in expected if isinstance(instance, dict) and name not in instance]
        return "missing required member(s) " + _json_text(missing or expected)
    if kind in ("additionalProperties", "unevaluatedProperties"):
        extra = _unexpected_members(error)
        return "unexpected member(s) " + _json_text(extra) if extra else "unexpected members"
    if kind == "propertyNames":
        return "has a member name that breaks the schema's name rule"
    if kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        return f"must be {bound} {expected} characters long"
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return f"must have {bound} {expected} items"
    if kind in ("minProperties", "maxProperties"):
        bound = "at least" if kind == "minProperties" else "at most"
        return f"must have {bound} {expected} members"
    if kind == "minimum":
        return f"must be at least {expected}"
    if kind == "maximum":
        return f"must be at most {expected}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {expected}"
    if kind == "exclusiveMaximum":
        return f"must be less than {expected}"
    if kind == "multipleOf":
        return f"must be a multiple of {expected}"
    if kind == "uniqueItems":
        return "must not repeat an item"
    if kind == "dependentRequired":
        return "is missing members that other members require"
    if kind in ("contains", "minContains", "maxContains"):
        return "does not contain the items the schema asks for"
    if kind in ("items", "prefixItems", "unevaluatedItems", "additionalItems"):
        return "has items the schema does not allow"
    if kind == "false" or error.schema is False:
        return "is not allowed here"
    return f"fails the schema's {kind} rule"


def _unexpected_members(error: ValidationError) -> list[str]:
    instance = error.instance
    if not isinstance(instance, dict):
        return []
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = set(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    return sorted(
        name
        for name in instance
        if name not in known and not any(re.search(pattern, name) for pattern in patterns)
    )


def _pointer(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return out


def main(argv: list[str] | None = None) -> int:
    from .app import all_methods

    parser = argparse.ArgumentParser(prog="python -m wfcompute_container.server.schemas")
    parser.add_argument("--write", action="store_true", help="rewrite schemas/ from the models")
    parser.add_argument("--root", type=Path, default=None, help="schemas directory")
    args = parser.parse_args(argv)
    root: Path = args.root or schema_dir()
    generated = generate(all_methods())
    if args.write:
        for old in root.glob("methods/*.schema.json"):
            old.unlink()
        for old in root.glob("types/*.schema.json"):
            old.unlink()
        for rel, schema in generated.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(schema), encoding="utf-8")
        print(f"wrote {len(generated)} schema files under {root}")
        return 0
    committed = {k: v for k, v in load_all(root).items() if not k.startswith("jsonrpc/")}
    drift = sorted(set(generated) ^ set(committed)) + sorted(
        rel for rel in set(generated) & set(committed) if generated[rel] != committed[rel]
    )
    for rel in drift:
        print(f"schemas/{rel} differs from the models", file=sys.stderr)
    return 1 if drift else 0


if __name__ == "__main__":
    raise SystemExit(main())
