"""Safe tar.gz extraction into a stage (reference 12.5.5)."""

from __future__ import annotations

import gzip
import io
import os
import random
import stat
import tarfile
from pathlib import Path

import pytest

from tests.operations.managed_fixtures import (
    Entry,
    directory,
    file,
    hardlink,
    symlink,
    tar_gz,
    zeros,
)
from wfcompute_container.operations.managed.archive import (
    ArchiveError,
    ExtractLimits,
    check_entry_name,
    check_symlink_target,
    extract_tar_gz,
)


def extract_into(archive: io.BytesIO, stage: Path, limits: ExtractLimits | None = None) -> None:
    fd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
    try:
        extract_tar_gz(archive, fd, limits)
    finally:
        os.close(fd)


def extract(tmp_path: Path, entries: list[Entry]) -> Path:
    stage = tmp_path / "stage"
    stage.mkdir(mode=0o700)
    extract_into(io.BytesIO(tar_gz(entries)), stage)
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
        # tarfile drops a directory's trailing slash: the texts name what remains.
        ([directory("./")], 'unsafe archive path "."'),
        ([directory("/")], 'unsafe archive path ""'),
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
        ([directory("bin"), directory("bin/")], 'duplicate archive entry "bin"'),
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


def stream_error(tmp_path: Path, data: bytes) -> str:
    stage = tmp_path / "stage"
    stage.mkdir(exist_ok=True)
    with pytest.raises(ArchiveError) as caught:
        extract_into(io.BytesIO(data), stage)
    return str(caught.value)


READ_ERROR = "managed runtime archive is not a readable tar.gz: "


def test_not_gzip(tmp_path: Path) -> None:
    assert stream_error(tmp_path, b"plain text, not gzip") == "gzip: invalid header"
    assert stream_error(tmp_path, b"plain") == "gzip: invalid header"


def _tar(entries: list[Entry]) -> bytes:
    return gzip.decompress(tar_gz(entries))


@pytest.mark.parametrize(
    "artifact",
    [
        b"",
        tar_gz([file("big", random.Random(7).randbytes(100_000))])[:50_000],
        tar_gz([file("f", b"x")])[:10],
        tar_gz([file("f", b"x")])[:20],
        # Complete gzip streams of a tar cut in file data, and in a header.
        gzip.compress(_tar([file("big", b"x" * 5000)])[: 512 + 1000]),
        gzip.compress(b"x" * 1024),
    ],
)  # fmt: skip
def test_damaged_streams_are_refused(tmp_path: Path, artifact: bytes) -> None:
    # Pinned, signed archives are not damaged; a damaged one is refused with Python's reason.
    assert stream_error(tmp_path, artifact).startswith(READ_ERROR)


@pytest.mark.parametrize(
    "artifact",
    [
        gzip.compress(_tar([file("a", b"x"), file("b", b"y")])[: 1024 + 100]),
        # A header with a broken checksum after a good entry.
        gzip.compress(_tar([file("a", b"x")])[:1024] + b"b" * 100 + bytes(412)),
    ],
)
def test_damage_after_a_good_entry_ends_the_archive_there(tmp_path: Path, artifact: bytes) -> None:
    # tarfile's rule (Go refuses): the entries before the damage are all there is. Integrity
    # is the pinned digest's job, checked before extraction; this only says what happens.
    stage = tmp_path / "stage"
    stage.mkdir()
    extract_into(io.BytesIO(artifact), stage)
    assert sorted(p.name for p in stage.iterdir()) == ["a"]


def test_empty_tar_stream_is_refused(tmp_path: Path) -> None:
    assert stream_error(tmp_path, gzip.compress(b"")).startswith(READ_ERROR)


def test_archive_without_end_blocks_ends_at_the_last_entry(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    raw = _tar([file("a", b"x" * 512)])[:1024]
    extract_into(io.BytesIO(gzip.compress(raw)), stage)
    assert (stage / "a").read_bytes() == b"x" * 512


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    raw = _tar([file("a", b"first"), file("b", b"second")])
    stage = tmp_path / "stage"
    stage.mkdir()
    extract_into(io.BytesIO(gzip.compress(raw[:700]) + gzip.compress(raw[700:])), stage)
    assert (stage / "b").read_bytes() == b"second"


def _global_header_archive(name: str) -> bytes:
    """What `git archive --format=tar.gz` writes first: a PAX global header (type `g`)."""
    buffer = io.BytesIO()
    record = b"52 comment=0123456789abcdef0123456789abcdef01234567\n"
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.type = tarfile.XGLTYPE
        info.size = len(record)
        archive.addfile(info, io.BytesIO(record))
        info = tarfile.TarInfo("bin/nerdctl")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"n"))
    return buffer.getvalue()


def test_pax_global_header_is_refused(tmp_path: Path) -> None:
    assert (
        stream_error(tmp_path, _global_header_archive("pax_global_header"))
        == "archive/tar: PAX global headers are not supported"
    )
    assert not (tmp_path / "stage" / "bin").exists()


def test_pax_global_header_from_tarfile_pax_headers_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}
    ) as archive:
        info = tarfile.TarInfo("bin/nerdctl")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"n"))
    assert (
        stream_error(tmp_path, buffer.getvalue())
        == "archive/tar: PAX global headers are not supported"
    )


def test_long_names_keep_their_raw_text(tmp_path: Path) -> None:
    """PAX `path` records and GNU long names carry the full name (tarfile drops a directory's
    trailing slash)."""
    long_dir = "d" * 120 + "/"
    for archive_format in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=archive_format) as archive:
            for _ in range(2):
                info = tarfile.TarInfo(long_dir)
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
        assert stream_error(tmp_path, buffer.getvalue()) == (
            f'duplicate archive entry "{long_dir.rstrip("/")}"'
        )


def test_truncated_archive(tmp_path: Path) -> None:
    data = tar_gz([file("big", b"x" * 100_000)])
    assert stream_error(tmp_path, data[: len(data) // 2]).startswith(READ_ERROR)


def test_invalid_utf8_name(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("bad-\udcff")
        archive.addfile(info, io.BytesIO(b""))
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(ArchiveError, match="unsafe archive path"):
        extract_into(io.BytesIO(buffer.getvalue()), stage)


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


# --- decompression bombs and stops ---------------------------------------------------------------


def zero_bomb(size: int) -> bytes:
    """One file of `size` zero bytes, gzip-compressed: ~1000:1, so a few MB expand to GBs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("bin/nerdctl")
        info.size = size

        archive.addfile(info, zeros(size))
    return buffer.getvalue()


def test_archive_expanding_past_the_byte_cap_is_refused(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    bomb = zero_bomb(64 * 1024 * 1024)
    assert len(bomb) < 200 * 1024
    with pytest.raises(ArchiveError) as caught:
        extract_into(io.BytesIO(bomb), stage, ExtractLimits(max_bytes=8 * 1024 * 1024))
    assert str(caught.value) == "managed runtime archive expands beyond 8388608 bytes"
    assert (stage / "bin" / "nerdctl").stat().st_size <= 8 * 1024 * 1024


def test_default_byte_cap_is_stated_and_bounded() -> None:
    from wfcompute_container.operations.managed import archive

    assert archive.MAX_EXTRACTED_BYTES == 2 * 1024**3
    assert archive.MAX_ENTRIES == 20_000


def test_archive_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    entries = [file(f"f{i}", b"") for i in range(11)]
    with pytest.raises(ArchiveError) as caught:
        extract_into(io.BytesIO(tar_gz(entries)), stage, ExtractLimits(max_entries=10))
    assert str(caught.value) == "managed runtime archive has more than 10 entries"


def test_stop_event_ends_extraction_at_the_next_chunk(tmp_path: Path) -> None:
    import threading

    from wfcompute_container.operations.managed.archive import ExtractionStopped

    stage = tmp_path / "stage"
    stage.mkdir()
    stop = threading.Event()
    stop.set()
    with pytest.raises(ExtractionStopped):
        extract_into(io.BytesIO(zero_bomb(32 * 1024 * 1024)), stage, ExtractLimits(stop=stop))
    assert not (stage / "bin" / "nerdctl").exists() or (
        (stage / "bin" / "nerdctl").stat().st_size < 32 * 1024 * 1024
    )
