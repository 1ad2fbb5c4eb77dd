"""scripts/probe_table.py: the README's probe table says what each report's claims measured."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def load() -> ModuleType:
    path = REPO / "scripts" / "probe_table.py"
    spec = importlib.util.spec_from_file_location("probe_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_table"] = module
    spec.loader.exec_module(module)
    return module


def report(backend: str, status: str, reason: str, details: list[str]) -> dict[str, object]:
    out: dict[str, object] = {
        "backend_id": backend,
        "isolation_mode": "user-namespace",
        "status": status,
        "evidence": {"details": details},
    }
    if reason:
        out["reason"] = reason
    return out


def test_rows_name_held_and_failed_claims_with_their_facts(tmp_path: Path) -> None:
    table = load()
    result = {
        "reports": [
            report(
                "podman-rootless",
                "degraded",
                "runtime conformance claims failed: pids-limit (pids-limit:unreadable), "
                "memory-limit (memory-limit:9223372036854771712)",
                [
                    "claim:env:held",
                    "claim:pids-limit:failed",
                    "claim:user-namespace:held",
                    "claim:memory-limit:failed",
                ],
            ),
            report("podman-rootful", "supported", "", ["claim:env:held", "claim:seccomp:held"]),
            report(
                "docker-desktop",
                "degraded",
                "runtime identity mismatch: docker-desktop needs Docker Desktop",
                [],
            ),
        ]
    }
    path = tmp_path / "user.json"
    path.write_text(json.dumps(result))
    lines = table.render([("wfcompute-ci", json.loads(path.read_text()))]).splitlines()
    assert lines[2] == (
        "| wfcompute-ci | podman-rootless | user-namespace | degraded | env, user-namespace"
        " | pids-limit (pids-limit:unreadable), memory-limit (memory-limit:9223372036854771712)"
        " | – |"
    )
    assert lines[3] == (
        "| wfcompute-ci | podman-rootful | user-namespace | supported | env, seccomp | – | – |"
    )
    assert lines[4].endswith(
        "| degraded | – | – | runtime identity mismatch: docker-desktop needs Docker Desktop |"
    )
    assert len(lines) == 5


def test_pipes_in_reasons_do_not_break_the_table() -> None:
    table = load()
    line = table.rows("root", {"reports": [report("x", "degraded", "a | b", [])]})[0]
    assert "a \\| b" in line
