"""`pip install .` ships the schemas and metadata files with the package."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_carries_data_files_and_console_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (wheel,) = tmp_path.glob("workflow_plugin_compute_container-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
        contracts = json.loads(archive.read("wfcompute_container/_data/plugin.contracts.json"))
    for data in (
        "plugin.json",
        "plugin.contracts.json",
        "runtime-adapters.json",
        "managed-runtime-bundles.json",
    ):
        assert f"wfcompute_container/_data/{data}" in names
    schema_files = {n for n in names if n.startswith("wfcompute_container/_data/schemas/")}
    committed = {
        "wfcompute_container/_data/schemas/" + p.relative_to(REPO / "schemas").as_posix()
        for p in (REPO / "schemas").rglob("*.schema.json")
    }
    assert committed <= schema_files
    assert "wfcompute_container/server/app.py" in names
    assert "workflow-plugin-compute-container = wfcompute_container.cli:main" in scripts
    assert contracts == json.loads((REPO / "plugin.contracts.json").read_text())


def test_plugin_contracts_document_the_installer_and_protocol_types() -> None:
    """go-plugin-behaviour.md 11.4, 12.4 and 12.5.7: the v0.5.x content, in this key order."""
    document = json.loads((REPO / "plugin.contracts.json").read_text())
    assert list(document) == ["version", "contracts", "protocolTypes"]
    assert document["version"] == "1"
    (installer,) = document["contracts"]
    assert list(installer) == ["name", "wire", "goType", "commands", "produces", "guarantees"]
    assert installer["name"] == "ManagedRuntimeBundleInstaller"
    assert installer["wire"] == "json"
    assert installer["goType"] == (
        "github.com/GoCodeAlone/workflow-plugin-compute-container/container."
        "ManagedRuntimeBundleInstaller"
    )
    assert installer["commands"] == [
        f"managed-runtime {sub}" for sub in ("install", "doctor", "uninstall", "reinstall")
    ]
    assert installer["produces"] == [
        f"ManagedRuntime{kind}Result" for kind in ("Install", "Doctor", "Uninstall", "Reinstall")
    ]
    assert installer["guarantees"] == [
        "scoped-install-root",
        "pinned-artifact-checksum-signature-digests",
        "safe-tar-gzip-extraction",
        "scoped-uninstall-only",
    ]
    report, catalog = document["protocolTypes"]
    for entry in (report, catalog):
        assert list(entry) == ["name", "wire", "goType", "protocolVersion", "producedBy"]
        assert entry["wire"] == "json"
        assert entry["protocolVersion"] == "compute.v1alpha1"
    assert report["name"] == "RuntimeBackendReport"
    assert report["goType"] == (
        "github.com/GoCodeAlone/workflow-plugin-compute-core/protocol.RuntimeBackendReport"
    )
    assert report["producedBy"] == [
        "DockerCompatibleRuntimeProbes",
        "ManagedContainerdRuntimeProbe",
    ]
    assert catalog["name"] == "ManagedRuntimeBundleCatalog"
    assert catalog["goType"] == (
        "github.com/GoCodeAlone/workflow-plugin-compute-container/container."
        "ManagedRuntimeBundleCatalog"
    )
    assert catalog["producedBy"] == ["managed-runtime-bundles.json"]
