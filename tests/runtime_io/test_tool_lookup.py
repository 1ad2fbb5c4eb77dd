"""look_path: Go's exec.LookPath, including its refusal of hits relative to the working dir."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from wfcompute_container.runtime_io.exec_errors import ToolNotFound
from wfcompute_container.runtime_io.tool_lookup import ToolFoundRelative, look_path
from wfcompute_container.runtime_io.tool_process import run_tool


def executable(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho ran\n")
    os.chmod(path, mode)
    return path


def test_first_absolute_hit_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = executable(tmp_path / "a" / "tool")
    executable(tmp_path / "b" / "tool")
    monkeypatch.setenv("PATH", f"{tmp_path}/missing:{tmp_path}/b/..//a/:{tmp_path}/b")
    assert look_path("tool") == str(first)


def test_directories_and_non_executables_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a" / "tool").mkdir(parents=True)
    executable(tmp_path / "b" / "tool", 0o644)
    wanted = executable(tmp_path / "c" / "tool")
    monkeypatch.setenv("PATH", f"{tmp_path}/a:{tmp_path}/b:{tmp_path}/c")
    assert look_path("tool") == str(wanted)


@pytest.mark.parametrize("search", [".:/nonexistent", ":/nonexistent", "/nonexistent:"])
def test_hit_relative_to_the_working_directory_is_refused(
    search: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable(tmp_path / "podman")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", search)
    with pytest.raises(ToolNotFound) as caught:
        look_path("podman")
    assert isinstance(caught.value, ToolFoundRelative)
    assert str(caught.value) == (
        'exec: "podman": cannot run executable found relative to current directory'
    )


def test_relative_hit_stops_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Go returns at the first hit: a later absolute entry does not rescue it.
    executable(tmp_path / "podman")
    executable(tmp_path / "bin" / "podman")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f".:{tmp_path}/bin")
    with pytest.raises(ToolFoundRelative):
        look_path("podman")
    monkeypatch.setenv("PATH", f"{tmp_path}/bin:.")
    assert look_path("podman") == f"{tmp_path}/bin/podman"


def test_empty_or_unset_path_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ToolNotFound, match=r'^exec: "sh": executable file not found in \$PATH$'):
        look_path("sh")
    monkeypatch.delenv("PATH")
    with pytest.raises(ToolNotFound, match=r"not found in \$PATH$"):
        look_path("sh")


def test_name_with_a_slash_is_used_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "")
    assert look_path("./podman") == "./podman"
    assert look_path("bin/podman") == "bin/podman"


def test_run_of_a_relative_hit_fails_with_go_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable(tmp_path / "docker")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", ".")
    result = anyio.run(lambda: run_tool(["docker", "version"]))
    assert not result.started
    assert isinstance(result.error, ToolNotFound)
    assert str(result.error) == (
        'exec: "docker": cannot run executable found relative to current directory'
    )
