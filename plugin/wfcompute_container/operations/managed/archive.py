"""Safe extraction of a bundle's tar.gz into a private stage directory.

Every entry is checked before anything is written: no absolute or `..` names, no duplicates,
nothing under an extracted symlink, symlink targets that stay inside the stage, and only
directories, regular files and symlinks. Writes go through directory file descriptors opened
with O_NOFOLLOW, so no path component is ever followed through a link.
"""

from __future__ import annotations

import errno
import gzip
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

from ...goparity.oserror import errno_text
from ...goparity.paths import clean, escapes
from ...goparity.text import quote, trim_space

_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_DIR_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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


def extract_tar_gz(archive: IO[bytes], stage: str) -> None:
    """Extract a gzip-compressed tar stream into the existing directory `stage`."""
    seen: set[str] = set()
    symlinks: set[str] = set()
    stage_fd = os.open(stage, _DIR_OPEN_FLAGS)
    try:
        try:
            with tarfile.open(fileobj=archive, mode="r|gz") as stream:
                for member in _members(stream):
                    _extract_member(stream, member, stage_fd, seen, symlinks)
        except (tarfile.TarError, EOFError, OSError) as err:
            if isinstance(err, ArchiveError):
                raise
            raise ArchiveError(_archive_error_text(err)) from err
    finally:
        os.close(stage_fd)


def _members(stream: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        member = stream.next()
        if member is None:
            return
        yield member


def _extract_member(
    stream: tarfile.TarFile,
    member: tarfile.TarInfo,
    stage_fd: int,
    seen: set[str],
    symlinks: set[str],
) -> None:
    raw = member.name
    cleaned = check_entry_name(raw)
    if cleaned in seen:
        raise ArchiveError(f"duplicate archive entry {quote(raw)}")
    if any(ancestor in symlinks for ancestor in _ancestors(cleaned)):
        raise ArchiveError(f"unsafe archive path {quote(raw)} is under symlink")
    perm = member.mode & 0o777
    parts = cleaned.split("/")
    if member.type == tarfile.DIRTYPE:
        with _open_dir(stage_fd, parts, create=True, mode=perm | 0o700):
            pass
    elif member.type in _REGULAR_TYPES:
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            _write_file(stream, member, parent, parts[-1], perm or 0o600)
    elif member.type == tarfile.SYMTYPE:
        target = check_symlink_target(cleaned, member.linkname)
        with _open_dir(stage_fd, parts[:-1], create=True, mode=0o700) as parent:
            os.symlink(target, parts[-1], dir_fd=parent)
        symlinks.add(cleaned)
    else:
        type_byte = member.type[0] if member.type else 0
        raise ArchiveError(f"unsafe archive entry type {type_byte} for {quote(raw)}")
    seen.add(cleaned)


def _write_file(
    stream: tarfile.TarFile, member: tarfile.TarInfo, parent_fd: int, name: str, mode: int
) -> None:
    source = stream.extractfile(member)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, mode, dir_fd=parent_fd)
    with os.fdopen(fd, "wb") as out:
        if source is None:
            return
        while chunk := source.read(1024 * 1024):
            out.write(chunk)


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


def _archive_error_text(err: BaseException) -> str:
    if isinstance(err, EOFError):
        return "unexpected EOF"
    if isinstance(err, gzip.BadGzipFile) or str(err) == "not a gzip file":
        return "gzip: invalid header"
    if isinstance(err, OSError) and err.errno is not None:
        where = f"openat {err.filename}: " if err.filename else ""
        return where + errno_text(err)
    text = str(err)
    return text or type(err).__name__
