"""The committed schemas are valid, complete, and generated from the current models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from wfcompute_container.server.app import all_methods
from wfcompute_container.server.schemas import (
    SCHEMA_BASE,
    build_validators,
    check_files,
    generate,
    load_all,
    params_file,
    render,
    result_file,
    schema_errors,
)

REPO = Path(__file__).resolve().parents[2]


def test_committed_schemas_are_valid_2020_12_with_ids() -> None:
    files = load_all()
    assert files, "schemas/ is empty"
    assert check_files(files) == []
    for rel, schema in files.items():
        assert schema["$id"] == SCHEMA_BASE + rel
        Draft202012Validator.check_schema(schema)


def test_committed_schemas_match_the_models() -> None:
    """Fails when a params/result model changes without `schemas --write`."""
    generated = generate(all_methods())
    committed = {k: v for k, v in load_all().items() if not k.startswith("jsonrpc/")}
    missing = sorted(set(generated) - set(committed))
    stale = sorted(set(committed) - set(generated))
    changed = sorted(r for r in set(generated) & set(committed) if generated[r] != committed[r])
    assert (missing, stale, changed) == ([], [], []), (
        "schemas/ drifted from the models; run "
        "`python -m wfcompute_container.server.schemas --write`"
    )


def test_every_method_has_params_and_result_schemas() -> None:
    files = load_all()
    for method in all_methods():
        assert params_file(method.name) in files
        assert result_file(method.name) in files
    names = [m.name for m in all_methods()]
    validators = build_validators(names, files)
    assert set(validators) == set(names)


def test_params_reject_unknown_members_and_name_the_path() -> None:
    validators = build_validators([m.name for m in all_methods()], load_all())
    errors = schema_errors(
        validators["adapters.contract"].params,
        {"adapter_id": "sandboxed-command", "descriptor": {"name": "x", "bogus": 1}},
    )
    assert errors and errors[0]["path"] == "/descriptor"
    assert "bogus" in errors[0]["message"]
    errors = schema_errors(validators["plugin.manifest"].params, {"x": 1})
    assert errors and errors[0]["path"] == ""


def test_render_is_stable_text() -> None:
    schema = {"b": 1, "a": [1, 2]}
    assert render(schema) == json.dumps(schema, indent=2) + "\n"


@pytest.mark.parametrize("method", ["initialize", "adapters.contract"])
def test_type_refs_resolve(method: str) -> None:
    validators = build_validators([m.name for m in all_methods()], load_all())
    # Resolving every $ref happens lazily; validating a bad instance walks them.
    list(validators[method].params.iter_errors({"protocol_version": 1, "descriptor": {"x": 1}}))


def test_every_method_is_served_by_its_area_module() -> None:
    """The lazy area table must route each declared method to the module declaring it."""
    from wfcompute_container.server.app import _area_methods, area_module
    from wfcompute_container.server.schemas import method_names_of

    declared = {m.name for m in all_methods()}
    assert set(method_names_of(load_all())) == declared
    for name in declared:
        assert name in {m.name for m in _area_methods(area_module(name))}


def test_serving_does_not_import_jsonschema_until_an_instance_is_invalid() -> None:
    # Start-up cost: jsonschema-rs answers valid instances; python-jsonschema (a quarter
    # of the import time) is loaded only to write an invalid instance's error texts.
    script = """
import sys
from wfcompute_container.server.app import PluginServer
from wfcompute_container.server.registry import ServerSettings
from wfcompute_container.server.schemas import schema_errors
server = PluginServer(ServerSettings())
check = server.validators["digest.validate"].params
assert schema_errors(check, {"digest": "x"}) == []
assert "jsonschema" not in sys.modules, "imported while serving valid instances"
errors = schema_errors(check, {"digest": 1})
assert errors == [{"path": "/digest", "message": "must be of type string"}], errors
assert "jsonschema" in sys.modules
"""
    env = dict(os.environ, PYTHONPATH=str(REPO / "plugin"))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
