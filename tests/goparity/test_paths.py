"""goparity.paths: Go's filepath.Abs, including its error when the working directory is gone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wfcompute_container.goparity.paths import GetwdError, abs_path


def test_absolute_path_is_only_cleaned() -> None:
    assert abs_path("//a/./b/../c/") == "/a/c"


def test_relative_path_joins_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert abs_path("x/./y/..") == f"{tmp_path}/x"
    assert abs_path("") == str(tmp_path)


def test_unreadable_working_directory_gives_go_getwd_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def deleted_cwd() -> str:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "getcwd", deleted_cwd)
    with pytest.raises(OSError) as caught:
        abs_path("rel")
    assert isinstance(caught.value, GetwdError)
    assert str(caught.value) == "getwd: no such file or directory"
    assert caught.value.errno == 2
    # An absolute path never needs the working directory.
    assert abs_path("/abs") == "/abs"


def test_really_deleted_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(GetwdError, match=r"^getwd: no such file or directory$"):
        abs_path("rel")
