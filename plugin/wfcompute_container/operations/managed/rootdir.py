"""The install root held open: every managed step is relative to one directory descriptor.

An install can take minutes (a slow download), an uninstall can run in a loop, and the
directories around the install root may belong to someone else. Paths are therefore resolved
once: the root is opened component by component from ``/`` with ``O_NOFOLLOW`` (a symlink
anywhere refuses the operation), and from then on the lock, the stage, the promotion, the
manifest check and every removal go through that descriptor. Renaming the root, or swapping
one of its parents for a symlink, after that moment changes nothing we do.

Two more rules close the remaining gaps:

* A bundle directory is only ever moved or removed after it was opened without following a
  link, its manifest read through that descriptor, and its identity (device, inode) checked
  again after the move: what we remove is what we checked.
* Moves never replace anything (``renameat2(RENAME_NOREPLACE)``): a directory that appeared
  under the bundle's name meanwhile is refused, never overwritten.

The per-bundle lock is an ``flock`` on ``.locks/<bundle-id>.lock``: the kernel drops it when
its holder dies, so a lock left by a killed plugin is reclaimed by the next operation, and a
live one refuses the second operation at once. The file records the owner's pid and start
time for whoever looks; it is removed (while still locked) when the operation ends.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from ...errors import InvalidInput
from ...goparity.oserror import errno_text, os_error_of, path_error
from ...goparity.paths import join
from ...goparity.text import quote
from ...runtime_io.instance_state import process_start_ticks
from ...workspace.dir_stack import DirectoryMoved, DirStack

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RENAME_NOREPLACE = 1


@dataclass
class InstallRoot:
    """The install root directory, open; `path` only names it in texts and results."""

    path: str
    fd: int
    _children: list[int] = field(default_factory=list)

    def close(self) -> None:
        for fd in self._children:
            with suppress(OSError):
                os.close(fd)
        self._children.clear()
        with suppress(OSError):
            os.close(self.fd)

    def subdir(self, name: str, *, create: bool) -> int | None:
        """``<root>/<name>`` opened (made 0700 when `create`); closed with the root."""
        fd = open_child_dir(self.fd, name, join(self.path, name), create=create)
        if fd is not None:
            self.adopt(fd)
        return fd

    def adopt(self, fd: int) -> None:
        """Close `fd` together with the root."""
        self._children.append(fd)


@contextmanager
def open_install_root(path: str, *, create: bool) -> Iterator[InstallRoot | None]:
    """The root opened from ``/`` one component at a time; None when it does not exist and
    `create` is false (missing components are made 0700 otherwise, as Go's MkdirAll)."""
    fd = os.open("/", DIR_FLAGS)
    current = "/"
    try:
        for part in [p for p in path.split("/") if p]:
            current = join(current, part)
            child = open_child_dir(fd, part, current, create=create, root=path)
            os.close(fd)
            fd = -1
            if child is None:
                break
            fd = child
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    if fd < 0:
        yield None
        return
    root = InstallRoot(path=path, fd=fd)
    try:
        yield root
    finally:
        root.close()


def open_child_dir(
    parent_fd: int, name: str, shown: str, *, create: bool, root: str | None = None
) -> int | None:
    """openat(parent, name, O_DIRECTORY|O_NOFOLLOW), making it 0700 first when `create`."""
    for _ in range(2):
        try:
            return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                continue
            except (OSError, ValueError) as exc:
                raise InvalidInput(path_error("mkdir", shown, os_error_of(exc))) from None
        except (OSError, ValueError) as exc:
            err = os_error_of(exc)
            if err.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(parent_fd, name):
                if root is not None:
                    raise InvalidInput(
                        f"managed runtime install root path {quote(root)} "
                        f"contains symlink {quote(shown)}"
                    ) from None
                raise InvalidInput(f"managed runtime path {quote(shown)} is a symlink") from None
            if err.errno == errno.ENOTDIR:
                op = "mkdir" if create else "open"
                raise InvalidInput(path_error(op, shown, err)) from None
            raise InvalidInput(path_error("open", shown, err)) from None
    raise InvalidInput(f"managed runtime path {quote(shown)} changed while opening")


def _is_link(parent_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def lstat_at(parent_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


# --- the lock ------------------------------------------------------------------------------------


@contextmanager
def bundle_lock(root: InstallRoot, locks_dir: str, bundle_id: str) -> Iterator[None]:
    """Hold ``<root>/<locks_dir>/<bundle_id>.lock`` exclusively, or refuse at once."""
    locks_fd = root.subdir(locks_dir, create=True)
    assert locks_fd is not None
    name = f"{bundle_id}.lock"
    shown = join(root.path, locks_dir, name)
    fd = _take_lock(locks_fd, name, shown, bundle_id)
    try:
        record = {"pid": os.getpid(), "start": process_start_ticks(os.getpid())}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(record) + "\n").encode())
        yield
    finally:
        # Unlinked while still held: a waiter that opened this inode sees it gone and retries.
        with suppress(OSError):
            os.unlink(name, dir_fd=locks_fd)
        os.close(fd)


def _take_lock(locks_fd: int, name: str, shown: str, bundle_id: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    for _ in range(100):
        try:
            fd = os.open(name, flags, 0o600, dir_fd=locks_fd)
        except (OSError, ValueError) as exc:
            raise InvalidInput(path_error("open", shown, os_error_of(exc))) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InvalidInput(f"managed runtime lock {quote(shown)} is not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InvalidInput(
                    f"managed runtime bundle {quote(bundle_id)} is already locked"
                ) from None
            now = lstat_at(locks_fd, name)
            held = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the previous holder removed it between our open and our flock
    raise InvalidInput(f"managed runtime bundle {quote(bundle_id)} is already locked")


# --- moves and removals --------------------------------------------------------------------------


def rename_noreplace(
    src_fd: int, src: str, dst_fd: int, dst: str, shown_src: str, shown_dst: str
) -> None:
    """renameat2(RENAME_NOREPLACE): fails with EEXIST instead of replacing `dst`; errors in
    Go's *LinkError shape, `rename <old> <new>: <reason>`."""
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.renameat2(
        src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), ctypes.c_uint(_RENAME_NOREPLACE)
    )
    if result != 0:
        code = ctypes.get_errno()
        reason = errno_text(OSError(code, os.strerror(code)))
        raise InvalidInput(f"rename {shown_src} {shown_dst}: {reason}")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


@dataclass
class _Level:
    names: list[str]
    name: str


def remove_tree_at(parent_fd: int, name: str, shown: str) -> None:
    """Remove ``<parent>/<name>`` and everything below, never following a link, without
    recursion and with a bounded number of open descriptors; a missing name is fine."""
    try:
        info = lstat_at(parent_fd, name)
        if info is None:
            return
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
        top = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise InvalidInput(path_error("remove", shown, exc)) from None
    stack: DirStack[_Level] = DirStack(DIR_FLAGS)
    try:
        stack.push(top, _Level(os.listdir(top), name))
        while len(stack):
            fd, level = stack.top()
            if not level.names:
                stack.pop()
                above = stack.top()[0] if len(stack) else parent_fd
                os.rmdir(level.name, dir_fd=above)
                continue
            child = level.names.pop()
            child_info = lstat_at(fd, child)
            if child_info is None:
                continue
            if stat.S_ISDIR(child_info.st_mode):
                child_fd = os.open(child, DIR_FLAGS, dir_fd=fd)
                stack.push(child_fd, _Level(os.listdir(child_fd), child))
            else:
                os.unlink(child, dir_fd=fd)
    except DirectoryMoved:
        raise InvalidInput(f"managed runtime path {quote(shown)} changed during removal") from None
    except OSError as exc:
        raise InvalidInput(path_error("remove", shown, exc)) from None
    finally:
        stack.close()
