"""Safe tar.gz extraction into a stage (reference 12.5.5)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from tests.operations.managed_fixtures import Entry, directory, file, hardlink, symlink, tar_gz
from wfcompute_container.operations.managed.archive import (
    ArchiveError,
    check_entry_name,
    check_symlink_target,
    extract_tar_gz,
)


def extract(tmp_path: Path, entries: list[Entry]) -> Path:
    stage = tmp_path / "stage"
    stage.mkdir(mode=0o700)
    extract_tar_gz(io.BytesIO(tar_gz(entries)), str(stage))
    return stage


def refused(tmp_path: Path, entries: list[Entry]) -> str:
    with pytest.raises(ArchiveError) as caught:
        extract(tmp_path, entries)
    outside = sorted(p.name for p in tmp_path.iterdir())
    assert outside == ["stage"], "nothing may be written next to the stage"
    return str(caught.value)


def test_files_dirs_and_safe_symlinks(tmp_path: Path) -> None:
    stage = extract(
        tmp_path,
        [
            file("./bin/nerdctl", b"n", 0o755),
            file("bin/zero-mode", b"z", 0),
            directory("bin"),  # implicit parents are not "seen": an explicit entry is fine
            Entry(name="opt", kind=tarfile.DIRTYPE, mode=0o500),
            symlink("bin/helper", "nerdctl"),
            symlink("bin/up", "sub/../../bin/./nerdctl"),
            file("libexec/cni/helper", b"h"),
            symlink("bin/cni-helper", "../libexec/cni/helper"),
        ],
    )
    assert (stage / "bin/nerdctl").read_bytes() == b"n"
    assert stat.S_IMODE((stage / "bin/zero-mode").stat().st_mode) == 0o600 & ~_umask()
    assert stat.S_IMODE((stage / "opt").stat().st_mode) & 0o700 == 0o700
    assert os.readlink(stage / "bin/helper") == "nerdctl"
    # Stored target is the cleaned text.
    assert os.readlink(stage / "bin/up") == "../bin/nerdctl"
    assert os.readlink(stage / "bin/cni-helper") == "../libexec/cni/helper"
    assert (stage / "bin/cni-helper").read_bytes() == b"h"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([file("../x", b"x")], 'unsafe archive path "../x"'),
        ([file("a/../../x", b"x")], 'unsafe archive path "a/../../x"'),
        ([file("/abs", b"x")], 'unsafe archive path "/abs"'),
        ([file("a\\b", b"x")], 'unsafe archive path "a\\\\b"'),
        ([directory("./")], 'unsafe archive path "."'),
        ([file(" ", b"x")], 'unsafe archive path " "'),
        ([symlink("bin/x", "../../escape")], 'unsafe archive symlink target "../../escape"'),
        ([symlink("x", "..")], 'unsafe archive symlink target ".."'),
        ([symlink("x", "/etc")], 'unsafe archive symlink target "/etc"'),
        ([symlink("x", "a\\b")], 'unsafe archive symlink target "a\\\\b"'),
        ([symlink("x", "")], 'unsafe archive symlink target ""'),
        ([symlink("bin/x", "../bin/..")], 'unsafe archive symlink target "../bin/.."'),
        (
            [symlink("bin/link", "../lib"), file("bin/link/file", b"x")],
            'unsafe archive path "bin/link/file" is under symlink',
        ),
        (
            [symlink("bin/link", "../lib"), directory("bin/link/sub")],
            'unsafe archive path "bin/link/sub" is under symlink',
        ),
        (
            [file("bin/nerdctl", b"1"), file("bin/nerdctl", b"2")],
            'duplicate archive entry "bin/nerdctl"',
        ),
        ([file("bin/x", b"1"), file("./bin/x", b"2")], 'duplicate archive entry "./bin/x"'),
        ([file("bin/x", b"1"), symlink("bin/x", "y")], 'duplicate archive entry "bin/x"'),
        ([file("a", b"1"), hardlink("b", "a")], 'unsafe archive entry type 49 for "b"'),
        ([Entry(name="fifo", kind=tarfile.FIFOTYPE)], 'unsafe archive entry type 54 for "fifo"'),
        ([Entry(name="dev", kind=tarfile.CHRTYPE)], 'unsafe archive entry type 51 for "dev"'),
        ([Entry(name="blk", kind=tarfile.BLKTYPE)], 'unsafe archive entry type 52 for "blk"'),
        ([Entry(name="cont", kind=tarfile.CONTTYPE)], 'unsafe archive entry type 55 for "cont"'),
    ],
)  # fmt: skip
def test_refusals(tmp_path: Path, entries: list[Entry], message: str) -> None:
    assert refused(tmp_path, entries) == message


def test_file_where_a_file_already_is_a_parent(tmp_path: Path) -> None:
    message = refused(tmp_path, [file("a", b"1"), file("a/b", b"2")])
    assert message.startswith('unsafe archive path "a"')


def test_not_gzip(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(ArchiveError) as caught:
        extract_tar_gz(io.BytesIO(b"plain"), str(stage))
    assert str(caught.value) == "gzip: invalid header"


def test_truncated_archive(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    data = tar_gz([file("big", b"x" * 100_000)])
    with pytest.raises(ArchiveError):
        extract_tar_gz(io.BytesIO(data[: len(data) // 2]), str(stage))


def test_invalid_utf8_name(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("bad-\udcff")
        archive.addfile(info, io.BytesIO(b""))
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(ArchiveError, match="unsafe archive path"):
        extract_tar_gz(io.BytesIO(buffer.getvalue()), str(stage))


@pytest.mark.parametrize(
    ("name", "cleaned"), [("./bin/x", "bin/x"), ("bin//x/", "bin/x"), ("a/./b", "a/b")]
)
def test_entry_names_are_cleaned(name: str, cleaned: str) -> None:
    assert check_entry_name(name) == cleaned


@pytest.mark.parametrize(
    ("entry", "target", "cleaned"),
    [
        ("bin/helper", "nerdctl", "nerdctl"),
        ("helper", "./bin//x", "bin/x"),
        ("a/b", "../c", "../c"),
    ],
)
def test_symlink_targets_are_cleaned(entry: str, target: str, cleaned: str) -> None:
    assert check_symlink_target(entry, target) == cleaned


def test_symlink_target_dot_is_refused() -> None:
    for entry, target in (("bin/x", "./"), ("top", "../x")):
        with pytest.raises(ArchiveError) as caught:
            check_symlink_target(entry, target)
        assert str(caught.value) == f'unsafe archive symlink target "{target}"'
