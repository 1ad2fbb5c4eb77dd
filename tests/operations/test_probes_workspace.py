"""Conformance workspace and tool lookup of a probe, Go's way: os.MkdirAll for a configured
workspace, os.MkdirTemp in os.TempDir() for a temporary one, exec.LookPath for the tool."""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from tests.fixtures.runtime_state import leftover_paths
from wfcompute_container.core.backends import RuntimeBackendReport
from wfcompute_container.goparity.dirs import temp_dir
from wfcompute_container.operations import probes
from wfcompute_container.operations.probes import (
    ProbeOptions,
    WorkspaceError,
    default_probes,
    probe_backend,
)

from .probe_fakes import FakeTool, calls, install, run_call

GENERATED_AT = datetime(2026, 6, 9, tzinfo=UTC)
PREFIX = "runtime conformance workspace failed: "


@pytest.fixture
def podman(fake_bin: Path, tmp_path: Path) -> Path:
    """A fake podman with full evidence; returns its call log."""
    log = tmp_path / "calls.log"
    install(fake_bin, FakeTool("podman"), log)
    return log


def podman_options(**changes: object) -> ProbeOptions:
    return replace(default_probes(GENERATED_AT)[0], **changes)  # type: ignore[arg-type]


def probe(options: ProbeOptions) -> RuntimeBackendReport:
    report = anyio.run(lambda: probe_backend(options, timeout_ms=20_000))
    assert report.validate_at(GENERATED_AT) is None, report.to_json()
    return report


# --- configured workspace: Go's os.MkdirAll ---------------------------------------------------


@pytest.mark.parametrize("below", ["sub", "sub/deeper", "sub/deeper/"])
def test_workspace_under_a_file_names_the_file(below: str, podman: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("x")
    report = probe(podman_options(conformance_workspace=f"{blocker}/{below}"))
    assert report.status == "degraded"
    assert report.reason == f"{PREFIX}mkdir {blocker}: not a directory"
    assert report.version == "5.0.0", "tool lookup and version come first"
    assert blocker.read_text() == "x"


def test_every_created_directory_is_0700(podman: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        report = probe(podman_options(conformance_workspace=str(tmp_path / "new" / "deep")))
    finally:
        os.umask(old)
    assert report.status == "supported"
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "deep").stat().st_mode) == 0o700


def test_existing_parents_are_untouched(podman: Path, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    os.chmod(parent, 0o751)
    report = probe(podman_options(conformance_workspace=str(parent / "ws")))
    assert report.status == "supported"
    assert stat.S_IMODE(parent.stat().st_mode) == 0o751
    assert stat.S_IMODE((parent / "ws").stat().st_mode) == 0o700


def test_relative_workspace_with_deleted_working_directory(
    podman: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    report = probe(podman_options(conformance_workspace="rel/ws"))
    assert report.status == "degraded"
    assert report.reason == f"{PREFIX}getwd: no such file or directory"


# --- temporary workspace: Go's os.MkdirTemp in os.TempDir() ----------------------------------


def test_temp_dir_is_tmpdir_else_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", "/nonexistent-probe-tmp")
    assert temp_dir() == "/nonexistent-probe-tmp"
    monkeypatch.setenv("TMPDIR", "")
    assert temp_dir() == "/tmp"
    monkeypatch.delenv("TMPDIR")
    assert temp_dir() == "/tmp"


def test_temporary_workspace_is_made_in_tmpdir(
    podman: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmpd"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", f"{temp}/")
    report = probe(podman_options())
    assert report.status == "supported"
    argv = run_call(podman)
    mount = argv[argv.index("-v") + 1]
    assert re.fullmatch(
        rf"{re.escape(str(temp))}/wfcompute-runtime-probe-\d+:/workspace:rw,nosuid,nodev", mount
    )
    assert leftover_paths(temp) == [], "the temporary workspace is removed"


def test_missing_tmpdir_degrades_with_go_stat_text(
    podman: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-tmp"
    monkeypatch.setenv("TMPDIR", str(missing))
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == f"{PREFIX}stat {missing}: no such file or directory"
    assert not missing.exists()


def test_tmpdir_removed_between_probes(
    podman: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmpd"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    assert probe(podman_options()).status == "supported"
    shutil.rmtree(temp)  # with this process's plugin instance directory in it
    report = probe(podman_options())
    assert report.reason == f"{PREFIX}stat {temp}: no such file or directory"


def test_tmpdir_that_is_a_file_degrades_with_the_mkdir_error(
    podman: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("TMPDIR", str(blocker))
    report = probe(podman_options())
    assert report.status == "degraded"
    # Go's MkdirTemp returns the failed Mkdir's own error, random name included.
    assert re.fullmatch(
        rf"{re.escape(PREFIX)}mkdir {re.escape(str(blocker))}/wfcompute-runtime-probe-\d+: "
        "not a directory",
        report.reason,
    ), report.reason


def test_mkdir_temp_retries_names_that_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = iter([7, 7, 8])
    monkeypatch.setattr(probes.secrets, "randbits", lambda bits: next(numbers))
    first = probes.go_mkdir_temp(str(tmp_path), "p-")
    second = probes.go_mkdir_temp(str(tmp_path), "p-")
    assert (first, second) == (f"{tmp_path}/p-7", f"{tmp_path}/p-8")
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o700 & ~_umask()


def test_mkdir_temp_gives_up_like_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p-1").mkdir()
    monkeypatch.setattr(probes.secrets, "randbits", lambda bits: 1)
    with pytest.raises(WorkspaceError) as caught:
        probes.go_mkdir_temp(str(tmp_path), "p-")
    assert str(caught.value) == f"mkdirtemp {tmp_path}/{tmp_path}/p-*: file already exists"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# --- tool lookup: Go's exec.LookPath refuses hits relative to the working directory ----------


@pytest.mark.parametrize("search", [".", ":/nonexistent", "/nonexistent::"])
def test_tool_found_through_a_relative_path_entry_is_unavailable(
    search: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    install(tmp_path, FakeTool("podman"), log)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", search)
    report = probe(podman_options())
    assert report.status == "unsupported"
    assert report.reason == "runtime executable is unavailable"
    assert calls(log) == [], "the tool is never run"
