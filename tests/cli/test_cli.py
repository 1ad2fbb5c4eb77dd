"""The command line, run as a person or a script would run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO, plugin_argv
from wfcompute_container import __version__

INIT = (
    '{"jsonrpc":"2.0","id":1,"method":"initialize",'
    '"params":{"protocol_version":"compute.v1alpha1"}}'
)
CATALOG = '{"jsonrpc":"2.0","id":2,"method":"adapters.catalog"}'


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(plugin_argv(*args), input=stdin, capture_output=True, timeout=60)


def test_version_and_help() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"workflow-plugin-compute-container {__version__}"
    done = run("--help")
    assert done.returncode == 0
    for word in ("serve", "catalog", "validate", "probe", "probe-image", "managed-runtime"):
        assert word in done.stdout.decode()


def test_catalog_prints_the_shipped_catalog() -> None:
    done = run("catalog")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((REPO / "runtime-adapters.json").read_text())


def test_validate_accepts_the_shipped_files() -> None:
    done = run("validate")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "ok: plugin.json" in out and "ok: runtime-adapters.json" in out and "schemas" in out
    assert "ok: plugin.contracts.json" in out


def _copy_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(REPO / "plugin.json", root)
    shutil.copy(REPO / "runtime-adapters.json", root)
    shutil.copytree(REPO / "schemas", root / "schemas")
    for extra in ("managed-runtime-bundles.json", "plugin.contracts.json"):
        if (REPO / extra).exists():
            shutil.copy(REPO / extra, root)
    return root


def test_validate_names_each_problem(tmp_path: Path) -> None:
    root = _copy_data(tmp_path)
    catalog = json.loads((root / "runtime-adapters.json").read_text())
    catalog["adapters"][1]["operation"] = ""
    (root / "runtime-adapters.json").write_text(json.dumps(catalog))
    (root / "plugin.json").write_text("{not json")
    contracts = json.loads((root / "plugin.contracts.json").read_text())
    del contracts["protocolTypes"][1]["goType"]
    (root / "plugin.contracts.json").write_text(json.dumps(contracts))
    schema = root / "schemas" / "methods" / "digest.validate.params.schema.json"
    broken = json.loads(schema.read_text())
    broken["type"] = "no-such-type"
    schema.write_text(json.dumps(broken))
    done = run("validate", "--data-dir", str(root))
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "plugin.json: not valid JSON" in err
    assert "runtime-adapters.json: adapters[1]: operation is required" in err
    assert "plugin.contracts.json: protocolTypes[1].goType is required" in err
    assert "digest.validate.params.schema.json: not a valid JSON Schema 2020-12" in err


def test_validate_reports_schema_drift(tmp_path: Path) -> None:
    root = _copy_data(tmp_path)
    (root / "schemas" / "methods" / "digest.validate.result.schema.json").unlink()
    done = run("validate", "--data-dir", str(root))
    assert done.returncode == 1
    assert "digest.validate.result.schema.json: missing" in done.stderr.decode()


def _installed_command() -> str | None:
    beside = Path(sys.executable).parent / "workflow-plugin-compute-container"
    if beside.exists():
        return str(beside)
    return shutil.which("workflow-plugin-compute-container")


def test_installed_command_answers_a_piped_session() -> None:
    command = _installed_command()
    if command is None:
        if IN_CI:
            pytest.fail("CI installs the package: workflow-plugin-compute-container is missing")
        pytest.skip("the package is not installed (pip install .)")
    done = subprocess.run(
        [command], input=f"{INIT}\n{CATALOG}\n".encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["id"] == 1 and first["result"]["protocol_version"] == "compute.v1alpha1"
    assert second["id"] == 2 and second["result"]["version"] == "1"


def test_unknown_log_level_is_refused() -> None:
    done = run("--log-level", "loud")
    assert done.returncode == 2
    assert "unknown log level" in done.stderr.decode()
