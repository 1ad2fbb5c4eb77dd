"""Artifact hashing (the Go plugin, byte-exact), workspace size and the command
artifact base directory.

Each hashed file contributes exactly ``<path relative to the base, '/'-separated> NUL
<content> NUL`` to one SHA-256 state, in sorted allowlist order, directories walked in Go
``WalkDir`` order (entries sorted by name bytes, depth first). Files are streamed through a
fixed buffer, so memory stays flat whatever their size. Every file and directory is reached
through descriptors opened without following links (see ``paths``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from collections.abc import Iterable
from contextlib import ExitStack

from ..errors import InvalidInput
from ..goparity.oserror import path_error
from ..goparity.paths import clean, join
from .dir_stack import DirectoryMoved, DirStack
from .paths import (
    DIR_LIST_FLAGS,
    DIR_LOOKUP_FLAGS,
    FILE_READ_FLAGS,
    Anchor,
    locate,
    open_anchor,
    open_checked,
    open_located,
    os_error,
    reject_symlink_path_components,
    relative_parts,
    resolve_inside,
    same_file,
)

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_CHUNK_BYTES = 1 << 20


def _sort_key(text: str) -> bytes:
    # Go compares strings byte-wise (UTF-8); raw names compare by their file-system bytes.
    return os.fsencode(text)


def _rel_join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}"


class HashingCancelled(Exception):
    """The caller set the cancel event; no digest is produced."""


class _ArtifactHasher:
    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._cancel = cancel
        self.sha = hashlib.sha256()
        self._buffer = bytearray(_CHUNK_BYTES)
        self._view = memoryview(self._buffer)

    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()

    def check_cancelled(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise HashingCancelled

    def hash_file(
        self, parent_fd: int | None, name: str, path: str, rel: str, found: os.stat_result
    ) -> None:
        """One file: refuse links and non-regular files, then feed `rel NUL content NUL`."""
        # Error texts hold names as they are, non-UTF-8 bytes included (as surrogate
        # escapes), like the reference's: the JSON encoder writes each such byte as \ufffd.
        if stat.S_ISLNK(found.st_mode):
            raise InvalidInput(f"artifact {rel} is a symlink")
        if not stat.S_ISREG(found.st_mode):
            raise InvalidInput(f"artifact {rel} is not a regular file")
        self.sha.update(os.fsencode(rel) + b"\x00")
        # A name that became a link or another file after the check: the reference would
        # have opened the new file and then found a different inode.
        changed = InvalidInput(f"artifact {rel} changed while opening")
        fd = open_checked(name, parent_fd, path, found, FILE_READ_FLAGS, changed)
        with open(fd, "rb", buffering=0, closefd=True) as stream:
            view, update = self._view, self.sha.update
            while True:
                try:
                    count = stream.readinto(view)
                except OSError as exc:
                    raise os_error("read", path, exc) from None
                if not count:
                    break
                update(view[:count])
                self.check_cancelled()
        self.sha.update(b"\x00")

    def hash_tree(self, dir_fd: int, path: str, rel: str) -> None:
        """A directory artifact in WalkDir order; links inside it are refused."""
        try:
            names = sorted(os.listdir(dir_fd), key=_sort_key)
        except OSError as exc:
            raise os_error("open", path, exc) from None
        for name in names:
            self.check_cancelled()
            child_path = join(path, name)
            child_rel = _rel_join(rel, name)
            try:
                found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                raise os_error("lstat", child_path, exc) from None
            if stat.S_ISLNK(found.st_mode):
                raise InvalidInput(f"artifact {child_rel} is a symlink")
            if not stat.S_ISDIR(found.st_mode):
                self.hash_file(dir_fd, name, child_path, child_rel, found)
                continue
            child_fd = _open_dir(name, dir_fd, child_path, child_rel, found)
            try:
                self.hash_tree(child_fd, child_path, child_rel)
            finally:
                os.close(child_fd)


def _open_dir(name: str, dir_fd: int, path: str, rel: str, found: os.stat_result) -> int:
    try:
        fd = os.open(name, DIR_LIST_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # replaced after the check
            raise InvalidInput(f"artifact {rel} changed while opening") from None
        raise os_error("open", path, exc) from None
    if not same_file(os.fstat(fd), found):
        os.close(fd)
        raise InvalidInput(f"artifact {rel} changed while opening")
    return fd


def hash_artifacts(
    base_dir: str, allowlist: Iterable[str], *, cancel: threading.Event | None = None
) -> str:
    """Digest the allowlisted files below base_dir (reference hashArtifacts).

    ``cancel``, when set by another thread, stops the walk between reads
    (``HashingCancelled``).
    """
    if base_dir == "":
        raise InvalidInput("workspace is required for artifact allowlist")
    with ExitStack() as stack:
        anchor: Anchor | None = None
        hasher = _ArtifactHasher(cancel)
        for allowed in sorted(allowlist, key=lambda s: s.encode("utf-8", "surrogatepass")):
            path = resolve_inside(base_dir, allowed)
            if anchor is None:
                anchor = stack.enter_context(open_anchor(base_dir))
            _hash_entry(hasher, anchor, base_dir, allowed, path)
        return hasher.digest()


def hash_workspace_artifacts(
    workspace: str,
    working_directory: str,
    allowlist: Iterable[str],
    *,
    cancel: threading.Event | None = None,
) -> str:
    """The command adapter's artifact digest: base = commandArtifactBaseDir.

    The base directory is reached from the workspace root through no-follow descriptors, so
    a working-directory component swapped for a link after the checks is refused too.
    """
    base_dir = command_artifact_base_dir(workspace, working_directory)
    entries = sorted(allowlist, key=lambda s: s.encode("utf-8", "surrogatepass"))
    if base_dir == "":
        raise InvalidInput("workspace is required for artifact allowlist")
    hasher = _ArtifactHasher(cancel)
    with ExitStack() as stack:
        base: Anchor | None = None
        for allowed in entries:
            path = resolve_inside(base_dir, allowed)
            if base is None:
                base = _open_base(stack, workspace, base_dir)
            _hash_entry(hasher, base, base_dir, allowed, path)
    return hasher.digest()


def _open_base(stack: ExitStack, workspace: str, base_dir: str) -> Anchor:
    """Open base_dir below the workspace; errors as the reference's lstat of base_dir."""
    root = stack.enter_context(open_anchor(workspace))
    if not relative_parts(root.path, base_dir):
        return root
    location = stack.enter_context(locate(root, base_dir))
    if location.stat is None:
        missing = FileNotFoundError(errno.ENOENT, "no such file")
        raise os_error("lstat", clean(base_dir), missing)
    if not stat.S_ISDIR(location.stat.st_mode):
        return Anchor(path=location.path, fd=None, stat=location.stat)
    fd = open_located(location, root, DIR_LOOKUP_FLAGS)
    stack.callback(os.close, fd)
    return Anchor(path=location.path, fd=fd, stat=location.stat)


def _hash_entry(
    hasher: _ArtifactHasher, anchor: Anchor, base_dir: str, allowed: str, path: str
) -> None:
    with locate(anchor, path) as location:
        found = location.stat
        if found is None:
            lstat_text = path_error("lstat", path, FileNotFoundError(errno.ENOENT, "no such file"))
            raise InvalidInput(f"stat artifact {allowed}: {lstat_text}")
        rel = _rel_of(anchor.path, location.path)
        if not stat.S_ISDIR(found.st_mode):
            parent_fd, name = location.parent_fd, location.name
            if parent_fd is None:
                # The base itself is a file: the reference hashes it under rel ".".
                parent_fd, name = None, anchor.path
            hasher.hash_file(parent_fd, name, path, rel, found)
            return
        changed = InvalidInput(f"artifact {rel} changed while opening")
        dir_fd = open_located(location, anchor, DIR_LIST_FLAGS, changed=changed)
        try:
            hasher.hash_tree(dir_fd, clean(path), rel)
        finally:
            os.close(dir_fd)


def _rel_of(base: str, path: str) -> str:
    parts = relative_parts(base, path)
    return "/".join(parts) if parts else "."


def command_artifact_base_dir(workspace: str, working_directory: str) -> str:
    """Reference commandArtifactBaseDir: the host directory artifacts are relative to."""
    reject_symlink_path_components(workspace, workspace)
    if working_directory == "":
        return workspace
    path = resolve_inside(workspace, working_directory)
    reject_symlink_path_components(workspace, path)
    return path


def directory_size(root: str) -> int:
    """Total lstat size of every non-directory below root; walk errors are ignored."""
    root_c = clean(root)
    try:
        root_stat = os.stat(root_c, follow_symlinks=False)
    except OSError:
        return 0
    if not stat.S_ISDIR(root_stat.st_mode):
        return root_stat.st_size
    try:
        fd = os.open(root_c, DIR_LIST_FLAGS)
    except OSError:
        return 0
    try:
        if not same_file(os.fstat(fd), root_stat):
            return 0
        return _tree_size(fd)
    finally:
        os.close(fd)


def _tree_size(root_fd: int) -> int:
    """Sizes below the open directory ``root_fd``: an explicit stack, so depth is unbounded,
    holding a bounded number of descriptors (workspace.dir_stack)."""
    total = 0
    # Each level: an open directory and the names still to visit in it.
    stack: DirStack[list[str]] = DirStack(DIR_LIST_FLAGS)
    stack.push(os.dup(root_fd), _listing(root_fd))
    try:
        while stack:
            dir_fd, todo = stack.top()
            if not todo:
                stack.pop()
                continue
            name = todo.pop()
            try:
                found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISDIR(found.st_mode):
                total += found.st_size
                continue
            try:
                child = os.open(name, DIR_LIST_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                same = same_file(os.fstat(child), found)
            except OSError:
                same = False
            if not same:
                os.close(child)
                continue
            stack.push(child, _listing(child))
    except DirectoryMoved:
        pass  # renamed during the walk: what was counted so far
    finally:
        stack.close()
    return total


def _listing(dir_fd: int) -> list[str]:
    try:
        return os.listdir(dir_fd)
    except OSError:
        return []
