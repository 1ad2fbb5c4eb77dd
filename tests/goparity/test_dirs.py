"""mkdir_all: Go's os.MkdirAll (modes on every new directory, Go's texts)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wfcompute_container.goparity.dirs import mkdir_all
from wfcompute_container.goparity.oserror import GoPathError


def test_every_missing_directory_gets_the_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        mkdir_all(str(tmp_path / "a" / "b" / "c"), 0o700)
    finally:
        os.umask(old)
    for part in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE((tmp_path / part).stat().st_mode) == 0o700, part


def test_an_existing_directory_is_success(tmp_path: Path) -> None:
    mkdir_all(str(tmp_path), 0o700)
    mkdir_all(str(tmp_path) + "/", 0o700)
    mkdir_all(str(tmp_path / "x") + "/.", 0o700)
    assert (tmp_path / "x").is_dir()


@pytest.mark.parametrize("below", ["", "/sub", "/sub/deeper"])
def test_a_file_in_the_way_is_named(tmp_path: Path, below: str) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    with pytest.raises(GoPathError) as info:
        mkdir_all(str(blocker) + below, 0o700)
    assert str(info.value) == f"mkdir {blocker}: not a directory"


def test_a_failing_mkdir_reports_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(GoPathError) as info:
        mkdir_all(str(tmp_path / "a\x00b"), 0o700)
    assert str(info.value) == f"mkdir {tmp_path}/a\x00b: invalid argument"
