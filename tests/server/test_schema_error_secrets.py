"""Schema errors never repeat a params value (docs/SECURITY.md, boundary 3).

jsonschema's own messages quote the instance ("'s3cr3t' is not of type 'integer'"), and the
host logs error answers. Every validator kind is tried with a canary in the failing value;
then the reproductions of the review go through the real server.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import plugin_argv
from wfcompute_container.server.schemas import describe_error, schema_errors

CANARY = "CANARY-7f3a91c2-secret"

# (schema, instance): each instance fails its schema through one validator kind, and carries
# the canary in the failing value (and, for objects, in member values and names).
CASES: dict[str, tuple[Any, Any]] = {
    "type": ({"type": "integer"}, CANARY),
    "anyOf": ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, CANARY),
    "oneOf": ({"oneOf": [{"type": "integer"}, {"const": 1}]}, CANARY),
    "allOf": ({"allOf": [{"type": "integer"}]}, CANARY),
    "not": ({"not": {"type": "string"}}, CANARY),
    "enum": ({"enum": ["a", "b"]}, CANARY),
    "const": ({"const": "a"}, CANARY),
    "pattern": ({"type": "string", "pattern": "^x$"}, CANARY),
    "format": ({"format": "email"}, CANARY),
    "required": ({"required": ["a"]}, {"b": CANARY}),
    "additionalProperties": (
        {"properties": {"a": {}}, "additionalProperties": False},
        {"a": CANARY, "env": CANARY},
    ),
    "unevaluatedProperties": (
        {"properties": {"a": {}}, "unevaluatedProperties": False},
        {"a": CANARY, "b": CANARY},
    ),
    "propertyNames": ({"propertyNames": {"maxLength": 3}}, {CANARY: 1}),
    "minLength": ({"minLength": 100}, CANARY),
    "maxLength": ({"maxLength": 3}, CANARY),
    "minItems": ({"minItems": 3}, [CANARY]),
    "maxItems": ({"maxItems": 0}, [CANARY]),
    "uniqueItems": ({"uniqueItems": True}, [CANARY, CANARY]),
    "minProperties": ({"minProperties": 3}, {"a": CANARY}),
    "maxProperties": ({"maxProperties": 0}, {"a": CANARY}),
    "minimum": ({"minimum": 10**30}, 7),
    "maximum": ({"maximum": 1}, 7),
    "exclusiveMinimum": ({"exclusiveMinimum": 7}, 7),
    "exclusiveMaximum": ({"exclusiveMaximum": 7}, 7),
    "multipleOf": ({"multipleOf": 5}, 7),
    "dependentRequired": ({"dependentRequired": {"a": ["b"]}}, {"a": CANARY}),
    "contains": ({"contains": {"type": "integer"}}, [CANARY]),
    "items": ({"items": {"type": "integer"}}, [CANARY]),
    "prefixItems": ({"prefixItems": [{"type": "integer"}]}, [CANARY]),
    "false": ({"properties": {"a": False}}, {"a": CANARY}),
    "ref": ({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}, CANARY),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_no_validator_kind_repeats_the_value(kind: str) -> None:
    schema, instance = CASES[kind]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = list(validator.iter_errors(instance))
    assert found, f"{kind}: the case must fail its schema"
    for error in found:
        text = describe_error(error)
        assert CANARY not in text, (kind, text)
        assert "7f3a91c2" not in text
        assert not text.startswith("fails the schema's"), f"{kind} has no description: {text}"
    pointers_and_texts = json.dumps(schema_errors(validator, instance))
    if kind != "propertyNames":  # the key is the value there; pointers name keys elsewhere
        assert CANARY not in pointers_and_texts


def test_unexpected_member_names_are_named_but_not_their_values() -> None:
    schema = {"properties": {"a": {}}, "additionalProperties": False}
    validator = Draft202012Validator(schema)
    (error,) = validator.iter_errors({"a": 1, "TOKEN": CANARY})
    assert describe_error(error) == 'unexpected member(s) ["TOKEN"]'


def serve(lines: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    init = {"method": "initialize", "params": {"protocol_version": "compute.v1alpha1"}}
    messages = [{"jsonrpc": "2.0", "id": n, **line} for n, line in enumerate([init, *lines])]
    return subprocess.run(
        [*plugin_argv(), "--log-level", "debug"],
        input="".join(json.dumps(m) + "\n" for m in messages).encode(),
        capture_output=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )


def test_the_reviewed_requests_answer_without_the_secret(tmp_path: Path) -> None:
    env = {"TOKEN": CANARY, "X": None}
    request = {"image": "img", "command": ["true"], "workspace": str(tmp_path), "env": env}
    invocation = {
        "request": {"protocol_version": "compute.v1alpha1", "env": env},
        "image": "img",
        "workspace": str(tmp_path),
    }
    lines = [
        {
            "method": "command.run",
            "params": {"invocation": invocation, "runtime": {"tool": "podman"}},
        },
        {"method": "sandbox.plan", "params": {"runtime": {"tool": "docker"}, "request": request}},
        {
            "method": "env.resolve",
            "params": {"workload_kind": "command", "env": [], "resolved": [CANARY]},
        },
        {
            "method": "env.resolve",
            "params": {"workload_kind": "command", "env": [], "resolved": {"a": 5}, CANARY: 1},
        },
        {"method": "digest.validate", "params": {"digest": {"v": CANARY}}},
        {"method": "sandbox.plan", "params": {"runtime": {"tool": CANARY}, "request": request}},
    ]
    done = serve(lines, tmp_path)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(lines) + 1
    for answer in answers[1:]:
        assert answer["error"]["code"] == -32602, answer
    stdout = done.stdout.decode()
    # The member name itself is named once (it is a key, not a value): strip that case.
    assert CANARY not in stdout.replace(f'unexpected member(s) [\\"{CANARY}\\"]', "")
    assert CANARY not in done.stderr.decode()
