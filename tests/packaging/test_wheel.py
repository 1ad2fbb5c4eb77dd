"""`pip install .` ships the schemas and metadata files with the package."""

from __future__ import annotations

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
    for data in ("plugin.json", "runtime-adapters.json", "managed-runtime-bundles.json"):
        assert f"wfcompute_container/_data/{data}" in names
    schema_files = {n for n in names if n.startswith("wfcompute_container/_data/schemas/")}
    committed = {
        "wfcompute_container/_data/schemas/" + p.relative_to(REPO / "schemas").as_posix()
        for p in (REPO / "schemas").rglob("*.schema.json")
    }
    assert committed <= schema_files
    assert "wfcompute_container/server/app.py" in names
    assert "workflow-plugin-compute-container = wfcompute_container.cli:main" in scripts
