"""The availability check (`<tool> version`) is remembered briefly, never past a failure.

A stand-in `podman` on PATH logs each sub-command it gets, so the test counts the checks.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from wfcompute_container.operations import sandbox
from wfcompute_container.operations.sandbox import (
    Runtime,
    SandboxRunRequest,
    availability_error,
    run,
)

FAKE = """#!/bin/sh
echo "$1" >> "$FAKE_LOG"
case "$1" in
  version) exit 0 ;;
  run) if [ -e "$FAKE_FAIL" ]; then echo "Error: boom" >&2; exit 125; fi; echo ok ;;
  *) exit 0 ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE)
    (bin_dir / "podman").chmod(0o755)
    log = tmp_path / "log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_FAIL", str(tmp_path / "fail"))
    monkeypatch.setattr(sandbox, "_available_since", {})
    return log


def checks(log: Path) -> int:
    return log.read_text().split().count("version") if log.exists() else 0


def a_run(tmp_path: Path) -> sandbox.SandboxRunResult:
    request = SandboxRunRequest(image="img:1", command=["true"], workspace=str(tmp_path))
    return anyio.run(lambda: run(Runtime(tool="podman"), request, timeout=30))


def test_a_success_is_remembered(fake: Path) -> None:
    podman = Runtime(tool="podman")
    assert anyio.run(availability_error, podman) is None
    assert anyio.run(availability_error, podman) is None
    assert checks(fake) == 1


def test_a_failed_run_makes_the_next_run_check_again(fake: Path, tmp_path: Path) -> None:
    podman = Runtime(tool="podman")
    assert anyio.run(availability_error, podman) is None
    assert a_run(tmp_path).failure is None
    assert anyio.run(availability_error, podman) is None
    assert checks(fake) == 1
    (tmp_path / "fail").touch()
    assert a_run(tmp_path).failure is not None
    assert anyio.run(availability_error, podman) is None
    assert checks(fake) == 2


def test_another_engine_target_is_checked_on_its_own(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    podman = Runtime(tool="podman")
    assert anyio.run(availability_error, podman) is None
    monkeypatch.setenv("CONTAINER_HOST", "unix:///run/other.sock")
    assert anyio.run(availability_error, podman) is None
    assert checks(fake) == 2


def test_memory_ends(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    podman = Runtime(tool="podman")
    assert anyio.run(availability_error, podman) is None
    monkeypatch.setattr(sandbox, "AVAILABILITY_MEMORY_SECONDS", 0.0)
    assert anyio.run(availability_error, podman) is None
    assert checks(fake) == 2
