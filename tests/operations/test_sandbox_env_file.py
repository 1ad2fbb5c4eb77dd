"""The sandbox env file: where it is written, its mode and content, and its removal."""

from __future__ import annotations

import re
import stat
import tempfile
from pathlib import Path

import pytest

from wfcompute_container.operations.sandbox_env_file import (
    MAX_ENV_LINE_BYTES,
    EnvFileError,
    validate_env,
    write_env_file,
)


@pytest.fixture
def go_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return directory


def test_written_in_tmpdir_0600_sorted_and_removed(go_tmp: Path) -> None:
    env_file = write_env_file({"B": "2", "A": "1"}, str(go_tmp))
    assert env_file is not None
    path = Path(env_file.path)
    assert go_tmp in path.parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"A=1\nB=2\n"
    env_file.remove()
    assert list(go_tmp.iterdir()) == []


def test_no_env_no_file(go_tmp: Path) -> None:
    assert write_env_file({}, str(go_tmp)) is None
    assert list(go_tmp.iterdir()) == []


def test_a_missing_parent_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    # The file is not quietly written elsewhere.
    missing = tmp_path / "gone"
    with pytest.raises(EnvFileError) as info:
        write_env_file({"TOKEN": "s3cret"}, str(missing))
    assert re.fullmatch(
        rf"create sandbox env file: open {re.escape(str(missing))}/wfcompute-sandbox-\S+: "
        "no such file or directory",
        str(info.value),
    ), str(info.value)
    assert "s3cret" not in str(info.value)


def test_an_env_line_past_the_tools_bound_is_refused_naming_the_variable() -> None:
    fits = "v" * (MAX_ENV_LINE_BYTES - len("BIG="))
    validate_env({"BIG": fits})
    with pytest.raises(EnvFileError) as refused:
        validate_env({"BIG": fits + "w"})
    assert refused.value.args[0].startswith('sandbox env "BIG" is too long')
    assert "vvvv" not in refused.value.args[0]
