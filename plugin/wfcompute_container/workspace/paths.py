"""Workspace paths: lexical resolution, symlink refusal and race-free no-follow opening.

The checks and their error texts follow the reference (`resolveInside`,
`rejectSymlinkPathComponents`). Beyond the reference, every component is examined with
``fstatat(dir_fd, name, AT_SYMLINK_NOFOLLOW)`` relative to its already opened parent and then
opened with ``openat(dir_fd, name, O_NOFOLLOW)``; the opened descriptor's device and inode must
equal what the check saw. A component swapped for a symlink after the check makes the open fail
(``ELOOP``/``ENOTDIR``); one swapped for another file or directory fails the inode comparison.
Once a directory is open, renaming or replacing its ancestors no longer matters: everything
below is reached through its descriptor.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from ..errors import InvalidInput
from ..goparity.oserror import GoPathError, os_error_of, path_error
from ..goparity.paths import RelError, clean, escapes, is_abs, join, rel
from ..goparity.text import quote

# O_PATH opens a directory for lookups only (no read permission needed, like path traversal).
_O_PATH: int = getattr(os, "O_PATH", 0)
_O_NOCTTY: int = getattr(os, "O_NOCTTY", 0)
DIR_LOOKUP_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the regular-file check must not block the reader.
FILE_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | _O_NOCTTY


def symlink_error(path: str) -> InvalidInput:
    return InvalidInput(f"path {quote(path)} is a symlink")


def changed_error(path: str) -> InvalidInput:
    return InvalidInput(f"path {quote(path)} changed while opening")


def os_error(op: str, path: str, err: OSError) -> InvalidInput:
    """A Go-style OS error text (`lstat /w/x: no such file or directory`) as a domain error."""
    return InvalidInput(path_error(op, path, err))


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def resolve_inside(base_dir: str, value: str) -> str:
    """Join a workload-relative path onto base_dir, refusing absolute and escaping paths."""
    if value == "":
        return base_dir
    if is_abs(value):
        raise InvalidInput(f"path {quote(value)} must be relative")
    path = clean(join(base_dir, value))
    if base_dir == "":
        return path
    try:
        relative = rel(base_dir, path)
    except RelError as exc:
        raise InvalidInput(str(exc)) from None
    if escapes(relative):
        raise InvalidInput(f"path {quote(value)} escapes workspace")
    return path


def relative_parts(root: str, target: str) -> list[str]:
    """Components of target below root (both cleaned); refuses targets outside root."""
    root_c, target_c = clean(root), clean(target)
    if target_c == root_c:
        return []
    try:
        relative = rel(root_c, target_c)
    except RelError as exc:
        raise InvalidInput(str(exc)) from None
    if escapes(relative) or is_abs(relative):
        raise InvalidInput(f"path {quote(target_c)} escapes workspace")
    return [part for part in relative.split("/") if part not in ("", ".")]


@dataclass
class Anchor:
    """A root opened without following a link, with the lexical path that named it.

    ``fd`` is None when the root exists but is not a directory (the reference accepts that;
    only the root itself can then be used).
    """

    path: str
    fd: int | None
    stat: os.stat_result


@dataclass
class Location:
    """Where a target was found below an anchor.

    ``parent_fd``/``name`` address the leaf (``parent_fd`` None: the target is the anchor
    itself). ``stat`` is the no-follow stat of the leaf, or None when some component does not
    exist (the reference's symlink walk then stops without error).
    """

    path: str
    parent_fd: int | None
    name: str
    stat: os.stat_result | None


@contextmanager
def open_anchor(root: str) -> Iterator[Anchor]:
    """Open the workspace (or artifact base) root with the reference's root checks.

    A missing root gives its lstat error and a symlinked root `path "<root>" is a symlink`.
    Ancestors of the root belong to the host and are not checked (as in the reference).
    """
    root_c = clean(root)
    try:
        root_stat = os.stat(root_c, follow_symlinks=False)
    except (OSError, ValueError) as exc:
        raise os_error("lstat", root_c, os_error_of(exc)) from None
    if stat.S_ISLNK(root_stat.st_mode):
        raise symlink_error(root_c)
    if not stat.S_ISDIR(root_stat.st_mode):
        yield Anchor(path=root_c, fd=None, stat=root_stat)
        return
    fd = open_checked(root_c, None, root_c, root_stat, DIR_LOOKUP_FLAGS)
    try:
        yield Anchor(path=root_c, fd=fd, stat=root_stat)
    finally:
        os.close(fd)


def open_checked(
    name: str,
    dir_fd: int | None,
    path: str,
    expected: os.stat_result,
    flags: int,
    changed: InvalidInput | None = None,
) -> int:
    """openat(dir_fd, name, flags|O_NOFOLLOW) and prove it is the file that was checked.

    ``changed`` is the error for a file replaced after its check (default: a symlink error
    when the name is now a link, else `path "<path>" changed while opening`).
    """
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise _replaced(name, dir_fd, path, changed) from None
        raise os_error("open", path, exc) from None
    try:
        opened = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise os_error("fstat", path, exc) from None
    if not same_file(opened, expected):
        os.close(fd)
        raise _replaced(name, dir_fd, path, changed)
    return fd


def _replaced(
    name: str, dir_fd: int | None, path: str, changed: InvalidInput | None
) -> InvalidInput:
    if changed is not None:
        return changed
    try:
        now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return changed_error(path)
    return symlink_error(path) if stat.S_ISLNK(now.st_mode) else changed_error(path)


@contextmanager
def locate(anchor: Anchor, target: str) -> Iterator[Location]:
    """Walk from the anchor to target one component at a time, never following a link.

    Errors, in the reference's order and texts: a symlinked component (the leaf included)
    → `path "<component>" is a symlink`; a component that is not a directory where one is
    needed → `lstat <next>: not a directory`; other lstat errors raw.
    A missing component ends the walk with ``stat`` None.
    """
    parts = relative_parts(anchor.path, target)
    if not parts:
        yield Location(path=anchor.path, parent_fd=None, name="", stat=anchor.stat)
        return
    with ExitStack() as fds:
        current = anchor.path
        dir_fd = anchor.fd
        for index, part in enumerate(parts):
            current = join(current, part)
            if dir_fd is None:
                # The previous component exists but is not a directory.
                raise os_error("lstat", current, OSError(errno.ENOTDIR, "not a directory"))
            part_stat = _lstat_at(part, dir_fd, current)
            if part_stat is None:
                yield Location(path=current, parent_fd=None, name="", stat=None)
                return
            last = index == len(parts) - 1
            if stat.S_ISLNK(part_stat.st_mode):
                raise symlink_error(current)
            if last:
                yield Location(path=current, parent_fd=dir_fd, name=part, stat=part_stat)
                return
            if not stat.S_ISDIR(part_stat.st_mode):
                dir_fd = None
                continue
            child = open_checked(part, dir_fd, current, part_stat, DIR_LOOKUP_FLAGS)
            fds.callback(os.close, child)
            dir_fd = child


def _lstat_at(name: str, dir_fd: int, path: str) -> os.stat_result | None:
    """fstatat(dir_fd, name, AT_SYMLINK_NOFOLLOW); None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (OSError, ValueError) as exc:
        err = os_error_of(exc)
        if err.errno == errno.ENOENT:
            return None
        raise os_error("lstat", path, err) from None


def open_located(
    location: Location, anchor: Anchor, flags: int, *, changed: InvalidInput | None = None
) -> int:
    """Open what ``locate`` found (no-follow, same device and inode as its stat)."""
    found = location.stat
    if found is None:
        raise os_error("lstat", location.path, OSError(errno.ENOENT, "no such file"))
    if location.parent_fd is not None:
        parent, name = location.parent_fd, location.name
        return open_checked(name, parent, location.path, found, flags, changed)
    if anchor.fd is not None:
        return open_checked(".", anchor.fd, location.path, found, flags, changed)
    return open_checked(location.path, None, location.path, found, flags, changed)


def reject_symlink_path_components(root: str, target: str) -> None:
    """Refuse a symlinked root or any symlinked component of target below it.

    Reference semantics: a root that cleans to `.` is not checked; a missing root gives its
    lstat error; a missing component ends the check without error.
    """
    if clean(root) == ".":
        return
    with open_anchor(root) as anchor, locate(anchor, target):
        pass


def read_regular_file(
    name: str, limit: int, *, dir_fd: int | None = None, path: str | None = None
) -> bytes:
    """A regular file's bytes, read without following a link and without blocking.

    Every configuration file the plugin reads (catalogs, install manifests, local mirror
    objects) comes through here: opened ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO cannot stall the
    reader, a symlink cannot redirect it), refused unless ``fstat`` says it is a regular file
    (``/dev/zero`` cannot feed it forever), and read to at most ``limit`` bytes. Raises
    GoPathError with ``<op> <path>: <reason>``; ``path`` names the file in texts (default
    ``name``).
    """
    shown = name if path is None else path
    try:
        fd = os.open(name, FILE_READ_FLAGS, dir_fd=dir_fd)
    except (OSError, ValueError) as exc:
        raise GoPathError("open", shown, os_error_of(exc)) from None
    try:
        info = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise GoPathError("read", shown, OSError(errno.EISDIR, "is a directory"))
        raise _not_regular(shown)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = handle.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise FileTooLarge(shown, limit)
    return b"".join(chunks)


class FileTooLarge(GoPathError):
    """``read <path>: larger than <limit> bytes``: the file is over its reader's cap."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__("read", path, OSError(errno.EFBIG, "file too large"))
        self.message = f"read {path}: larger than {limit} bytes"


def _not_regular(path: str) -> GoPathError:
    error = GoPathError("open", path, OSError(errno.EINVAL, "invalid argument"))
    error.message = f"open {path}: not a regular file"
    return error
