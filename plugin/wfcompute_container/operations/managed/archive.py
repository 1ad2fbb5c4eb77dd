"""Safe extraction of a bundle's tar.gz into a private stage directory.

Every entry is checked before anything is written: no absolute or `..` names, no duplicates,
nothing under an extracted symlink, symlink targets that stay inside the stage, and only
directories, regular files and symlinks. Writes go through directory file descriptors opened
with O_NOFOLLOW, so no path component is ever followed through a link.

The stream is read by the standard library (``gzip`` for the members, ``tarfile`` in stream
mode for the entries); nothing is extracted by tarfile itself. Archives are verified against
their pinned digest and signature before this runs, so a damaged stream is refused with
Python's reason (`managed runtime archive is not a readable tar.gz: ...`) rather than Go's
exact texts. A PAX global header is refused: it would rename every entry after it.

A small archive can expand without bound (a 3 MB gzip to 3.2 GB was tried): extraction stops
with a refusal past ``MAX_EXTRACTED_BYTES`` or ``MAX_ENTRIES``, and at the next chunk when the
caller's stop event is set (a cancel, a shutdown).
"""

from __future__ import annotations

import errno
import gzip
import os
import tarfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO

from ...goparity.oserror import errno_text
from ...goparity.paths import clean, escapes
from ...goparity.text import quote, trim_space

_DIR_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


MANIFEST_NAME = "wfcompute-managed-runtime-install.json"
"""The install manifest's name at the top of a bundle root: no archive entry may take it."""


class ArchiveError(Exception):
    """The archive is unsafe or unreadable; the text is the reference's message."""


def unsafe_path(name: str) -> ArchiveError:
    return ArchiveError(f"unsafe archive path {quote(name)}")


def check_entry_name(name: str) -> str:
    """The cleaned, stage-relative name of an archive entry, or ArchiveError."""
    if trim_space(name) == "" or "\\" in name or name.startswith("/"):
        raise unsafe_path(name)
    cleaned = clean(name)
    if cleaned in (".", "..") or escapes(cleaned) or not _valid_fs_path(cleaned):
        raise unsafe_path(name)
    if cleaned == MANIFEST_NAME:
        raise ArchiveError(f"archive entry {quote(name)} uses the reserved install manifest name")
    return cleaned


def check_symlink_target(entry: str, target: str) -> str:
    """The cleaned symlink target when it stays inside the stage, else ArchiveError."""
    error = ArchiveError(f"unsafe archive symlink target {quote(target)}")
    if trim_space(target) == "" or "\\" in target or target.startswith("/"):
        raise error
    cleaned = clean(target)
    if cleaned == ".":
        raise error
    resolved = clean(_dir(entry) + "/" + target)
    if resolved in (".", "..") or escapes(resolved):
        raise error
    return cleaned


MAX_EXTRACTED_BYTES = 2 * 1024 * 1024 * 1024
"""Total bytes an archive may expand to (a full nerdctl bundle is about 250 MB)."""
MAX_ENTRIES = 20_000
"""Entries an archive may hold (a full nerdctl bundle has a few hundred)."""


class ExtractionStopped(Exception):
    """The operation was cancelled or the plugin is stopping: extraction ended early."""


@dataclass
class ExtractLimits:
    max_bytes: int = MAX_EXTRACTED_BYTES
    max_entries: int = MAX_ENTRIES
    stop: threading.Event | None = None
    """Set from another thread to end the extraction at the next chunk."""


@dataclass
class _Progress:
    limits: ExtractLimits
    written: int = 0
    entries: int = 0

    def check_stop(self) -> None:
        if self.limits.stop is not None and self.limits.stop.is_set():
            raise ExtractionStopped

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveError(
                f"managed runtime archive has more than {self.limits.max_entries} entries"
            )

    def wrote(self, size: int) -> None:
        self.written += size
        if self.written > self.limits.max_bytes:
            raise ArchiveError(
                f"managed runtime archive expands beyond {self.limits.max_bytes} bytes"
            )


def extract_tar_gz(archive: IO[bytes], stage_fd: int, limits: ExtractLimits | None = None) -> None:
    """Extract a gzip-compressed tar stream into the open, empty directory `stage_fd`,
    within the limits (bytes, entries) and until `limits.stop` is set."""
    progress = _Progress(limits or ExtractLimits())
    seen: set[str] = set()
    symlinks: set[str] = set()
    try:
        with (
            gzip.GzipFile(fileobj=archive, mode="rb") as stream,
            tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as reader,
        ):
            for member in reader:
                progress.check_stop()
                progress.entry()
                if reader.pax_headers:
                    raise ArchiveError("archive/tar: PAX global headers are not supported")
                _extract_entry(reader, member, stage_fd, seen, symlinks, progress)
    except gzip.BadGzipFile as err:
        # Reachable with a correctly pinned artifact that is not gzip at all: Go's text.
        raise ArchiveError("gzip: invalid header") from err
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise ArchiveError(f"managed runtime archive is not a readable tar.gz: {err}") from err
    except OSError as err:
        where = f"openat {err.filename}: " if err.filename else ""
        raise ArchiveError(where + errno_text(err)) from err


def _extract_entry(
    reader: tarfile.TarFile,
    member: tarfile.TarInfo,
    stage_fd: int,
    seen: set[str],
    symlinks: set[str],
    progress: _Progress,
) -> None:
    raw = member.name  # tarfile drops a directory's trailing slash
    cleaned = check_entry_name(raw)
    if cleaned in seen:
        raise ArchiveError(f"duplicate archive entry {quote(raw)}")
    if any(ancestor in symlinks for ancestor in _ancestors(cleaned)):
        raise ArchiveError(f"unsafe archive path {quote(raw)} is under symlink")
    perm = member.mode & 0o777
    parts = cleaned.split("/")
    kind = member.type
    if kind == tarfile.DIRTYPE:
        with _open_dir(stage_fd, parts, create=True, mode=perm | 0o700):
            pass
    elif kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
        data = reader.extractfile(member)
        assert data is not None
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            _write_file(data, parent, parts[-1], perm or 0o600, progress)
    elif kind == tarfile.SYMTYPE:
        target = check_symlink_target(cleaned, member.linkname)
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            os.symlink(target, parts[-1], dir_fd=parent)
        symlinks.add(cleaned)
    else:
        raise ArchiveError(f"unsafe archive entry type {kind[0]} for {quote(raw)}")
    seen.add(cleaned)


def _write_file(data: IO[bytes], parent_fd: int, name: str, mode: int, progress: _Progress) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, mode, dir_fd=parent_fd)
    with os.fdopen(fd, "wb") as out:
        while chunk := data.read(_CHUNK):
            progress.check_stop()
            progress.wrote(len(chunk))
            out.write(chunk)


_CHUNK = 256 * 1024


@contextmanager
def _open_dir(root_fd: int, parts: list[str], *, create: bool, mode: int) -> Iterator[int]:
    """Open stage-relative directory `parts` component by component, never following links."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
            try:
                next_fd = os.open(part, _DIR_OPEN_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ArchiveError(f"unsafe archive path {quote('/'.join(parts))}") from err
                raise
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def _ancestors(cleaned: str) -> Iterator[str]:
    parts = cleaned.split("/")
    for index in range(1, len(parts)):
        yield "/".join(parts[:index])


def _dir(path: str) -> str:
    head, _, _ = path.rpartition("/")
    return clean(head) if head else "."


def _valid_fs_path(name: str) -> bool:
    # io/fs.ValidPath: valid UTF-8 (tarfile carries bad bytes as surrogates), no empty,
    # `.` or `..` elements.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))
