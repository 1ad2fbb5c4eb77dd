"""Make a workspace readable by a root builder container, and put its modes back afterwards.

the Go plugin with the docs/PROTOCOL.md §8 departures: no symlink is ever followed (entries are
opened with O_PATH|O_NOFOLLOW relative to their parent directory's descriptor and chmodded
through that descriptor), restore puts back the full mode including setuid/setgid/sticky,
and restore only touches the very inode that was relaxed, so a container that swaps a
directory for a symlink during the run cannot redirect the restore outside the workspace.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..goparity.oserror import path_error
from ..workspace.dir_stack import DirectoryMoved, DirStack

_OPEN_ENTRY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_LISTING = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class WorkspaceModeError(Exception):
    """Relaxation failed (message is the reference's text); modes are already restored."""


@dataclass(frozen=True)
class _Recorded:
    path: str
    parts: tuple[str, ...]
    device: int
    inode: int
    mode: int
    uid: int = -1
    """Owner before the run (-1: not known, as for a journalled entry)."""
    gid: int = -1


def _chmod_fd(fd: int, mode: int) -> None:
    # chmod(2) through /proc follows the descriptor's inode, never a path: the Linux way to
    # chmod an O_PATH descriptor (fchmod refuses those).
    os.chmod(f"/proc/self/fd/{fd}", mode)


def _relaxed_mode(st_mode: int) -> int | None:
    perm = st_mode & 0o777
    if stat.S_ISDIR(st_mode):
        return (perm | 0o755) & 0o777
    if stat.S_ISREG(st_mode):
        if perm & 0o111:
            return (perm | 0o755) & 0o777
        return (perm | 0o644) & 0o777
    return None


class Journal(Protocol):
    """Where each relaxation is written down before it is made (runtime_io.instance_state)."""

    def record(self, parts: Sequence[str], device: int, inode: int, mode: int) -> None: ...


class WorkspaceBusy(Exception):
    """Another run that changes the workspace's modes holds it."""


def lock_workspace(workspace: str) -> Callable[[], None]:
    """Hold an exclusive ``flock`` on the workspace directory; return its release.

    Two runs that relax one workspace (root builds) would each record the other's relaxed
    modes as the ones to restore, and leave 0755/0644 behind: the second is refused at once
    instead. The lock is on the directory itself, so any plugin instance on the host sees
    it, and the kernel drops it with a dead holder.
    """
    try:
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        # The reference's text for a workspace that cannot be walked.
        raise WorkspaceModeError(path_error("lstat", workspace, exc)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if isinstance(exc, BlockingIOError):
            raise WorkspaceBusy(
                "sandbox workspace is in use by another build or root run; "
                "runs that change its modes cannot overlap"
            ) from exc
        raise WorkspaceModeError(path_error("flock", workspace, exc)) from exc

    def release() -> None:
        os.close(fd)

    return release


def relax_workspace_modes(workspace: str, journal: Journal | None = None) -> Callable[[], None]:
    """Relax modes under ``workspace`` (absolute, cleaned); return the restore function.

    Each entry's old mode goes to ``journal`` before its chmod, so a restore is possible even
    when this process dies mid-run (``restore_journalled``). Raises WorkspaceModeError with
    the reference's text on failure, and restores on every exception path.
    """
    recorded: list[_Recorded] = []
    try:
        _relax(workspace, recorded, journal)
    except BaseException:
        _restore(workspace, recorded)
        raise
    # A root plugin can give what a root container made back to the workspace's owner.
    owner = (recorded[0].uid, recorded[0].gid) if recorded and os.geteuid() == 0 else None

    def restore() -> None:
        _restore(workspace, recorded, owner)

    return restore


def restore_journalled(
    workspace: str, entries: Sequence[tuple[Sequence[str], int, int, int]]
) -> None:
    """Put back the modes a dead process journalled: (parts, device, inode, mode) each."""
    recorded = [
        _Recorded("", tuple(parts), device, inode, mode) for parts, device, inode, mode in entries
    ]
    _restore(workspace, recorded)


def _relax(workspace: str, recorded: list[_Recorded], journal: Journal | None) -> None:
    try:
        os.lstat(workspace)
        root_fd = os.open(workspace, _OPEN_ENTRY)
    except OSError as exc:
        raise WorkspaceModeError(path_error("lstat", workspace, exc)) from exc
    # Go WalkDir order (an entry, then its children by name), with an explicit stack so a
    # tree of any depth is walked: each level is an open directory (a bounded number stay
    # open, workspace.dir_stack) with its path, components and the names left.
    try:
        names = _visit(root_fd, workspace, (), recorded, journal)
    except BaseException:
        os.close(root_fd)
        raise
    if names is None:
        os.close(root_fd)
        return
    stack: DirStack[tuple[str, tuple[str, ...], list[str]]] = DirStack(_OPEN_ENTRY)
    stack.push(root_fd, (workspace, (), names))
    try:
        while stack:
            fd, (path, parts, pending) = stack.top()
            if not pending:
                try:
                    stack.pop()
                except DirectoryMoved as exc:
                    raise WorkspaceModeError(
                        f"sandbox workspace {workspace} changed during the walk"
                    ) from exc
                continue
            name = pending.pop()
            child_path = f"{path.rstrip('/')}/{name}"
            try:
                child_fd = os.open(name, _OPEN_ENTRY, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed since the listing, as WalkDir skips vanished entries
            except OSError as exc:
                raise WorkspaceModeError(
                    f"stat sandbox workspace path {child_path}: "
                    f"{path_error('lstat', child_path, exc)}"
                ) from exc
            try:
                child_names = _visit(child_fd, child_path, (*parts, name), recorded, journal)
            except BaseException:
                os.close(child_fd)
                raise
            if child_names is None:
                os.close(child_fd)
            else:
                stack.push(child_fd, (child_path, (*parts, name), child_names))
    finally:
        stack.close()


def _visit(
    fd: int,
    path: str,
    parts: tuple[str, ...],
    recorded: list[_Recorded],
    journal: Journal | None,
) -> list[str] | None:
    """Record and relax the entry open at ``fd``; a directory's child names, last first."""
    try:
        info = os.fstat(fd)
    except OSError as exc:
        raise WorkspaceModeError(
            f"stat sandbox workspace path {path}: {path_error('lstat', path, exc)}"
        ) from exc
    recorded.append(
        _Recorded(
            path,
            parts,
            info.st_dev,
            info.st_ino,
            stat.S_IMODE(info.st_mode),
            info.st_uid,
            info.st_gid,
        )
    )
    relaxed = _relaxed_mode(info.st_mode)
    if relaxed is None:
        return None
    if journal is not None and relaxed != stat.S_IMODE(info.st_mode):
        try:
            journal.record(parts, info.st_dev, info.st_ino, stat.S_IMODE(info.st_mode))
        except OSError as exc:
            raise WorkspaceModeError(f"journal sandbox workspace mode of {path}: {exc}") from exc
    kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
    try:
        _chmod_fd(fd, relaxed)
    except OSError as exc:
        raise WorkspaceModeError(
            f"chmod sandbox workspace {kind} {path}: {path_error('chmod', path, exc)}"
        ) from exc
    if kind == "file":
        return None
    try:
        listing_fd = os.open(".", _OPEN_LISTING, dir_fd=fd)
    except OSError as exc:
        raise WorkspaceModeError(path_error("open", path, exc)) from exc
    try:
        names = os.listdir(listing_fd)
    except OSError as exc:
        raise WorkspaceModeError(path_error("readdirent", path, exc)) from exc
    finally:
        os.close(listing_fd)
    # Popped from the end: reverse byte order, so children are visited in byte order.
    return sorted(names, key=os.fsencode, reverse=True)


def _restore(
    workspace: str, recorded: list[_Recorded], owner: tuple[int, int] | None = None
) -> None:
    """Put every recorded mode (and owner, where known) back, and give entries the run
    created to `owner`; errors are ignored.

    Entries are found by identity (device, inode) in one walk of the workspace, not by their
    old path: a directory the container renamed still gets its mode back, and nothing at a
    recorded path that is not the recorded inode is touched. A new entry is given to `owner`
    only when it is a directory or a regular file with one link (a hard link to a file
    outside the workspace, planted during the run, must not change hands); symlinks keep
    their owner (it grants nothing).
    """
    if not recorded:
        return
    by_identity = {(entry.device, entry.inode): entry for entry in recorded}

    def settle(fd: int, parent_fd: int | None, name: str) -> None:
        try:
            info = os.fstat(fd)
        except OSError:
            return
        if stat.S_ISLNK(info.st_mode):
            return
        entry = by_identity.get((info.st_dev, info.st_ino))
        try:
            if entry is not None:
                if entry.uid >= 0 and (info.st_uid, info.st_gid) != (entry.uid, entry.gid):
                    _chown_fd(fd, entry.uid, entry.gid)
                if stat.S_IMODE(info.st_mode) != entry.mode:
                    _chmod_fd(fd, entry.mode)
            elif (
                owner is not None
                and (info.st_uid, info.st_gid) != owner
                and (
                    stat.S_ISDIR(info.st_mode)
                    or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)
                )
            ):
                # chown clears setuid/setgid on files; the strip pass after the run does the rest.
                _chown_fd(fd, *owner)
        except OSError:
            pass

    _walk(workspace, settle)


def _may_change_hands(info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)


def _chown_fd(fd: int, uid: int, gid: int) -> None:
    # Through /proc, like _chmod_fd: the descriptor's inode, never a path.
    os.chown(f"/proc/self/fd/{fd}", uid, gid)


def _walk(workspace: str, visit: Callable[[int, int | None, str], None]) -> None:
    """Call ``visit(fd, parent_fd, name)`` for the workspace and every entry below it, depth
    first; each entry open O_PATH|O_NOFOLLOW relative to its parent's descriptor (nothing is
    opened for reading, so a FIFO cannot block it), at most a bounded number of directories
    open however deep the tree (workspace.dir_stack). Never raises: an entry that cannot be
    opened is skipped, a directory moved during the walk ends it."""
    try:
        root_fd = os.open(workspace, _OPEN_ENTRY)
    except OSError:
        return
    visit(root_fd, None, "")
    names = _directory_names(root_fd)
    if names is None:
        os.close(root_fd)
        return
    stack: DirStack[list[str]] = DirStack(_OPEN_ENTRY)
    stack.push(root_fd, names)
    try:
        while stack:
            dir_fd, pending = stack.top()
            if not pending:
                stack.pop()
                continue
            name = pending.pop()
            try:
                child_fd = os.open(name, _OPEN_ENTRY, dir_fd=dir_fd)
            except OSError:
                continue
            visit(child_fd, dir_fd, name)
            child_names = _directory_names(child_fd)
            if child_names is None:
                os.close(child_fd)
            else:
                stack.push(child_fd, child_names)
    except (DirectoryMoved, OSError):
        pass  # what could be done is done; the walk never raises
    finally:
        stack.close()


_SETID_BITS = stat.S_ISUID | stat.S_ISGID


def strip_setid_bits(workspace: str) -> int:
    """Remove every setuid and setgid bit under ``workspace``; return how many entries changed.

    A container whose root is host root can leave a root-owned setuid binary in the workspace,
    which any host user could then run. After every run this walk takes the bits off every
    regular file and directory. Like relaxation it never follows a symlink: each entry is
    opened O_PATH|O_NOFOLLOW relative to its parent's descriptor (nothing is opened for
    reading, so a FIFO cannot block it) and chmodded through that descriptor. It is iterative
    (no recursion limit on deep trees). A setid file with more than one hard link may share
    its inode with a file outside the workspace, so its name is unlinked instead of chmodded.
    Errors are skipped: the walk does what it can and never raises.
    """
    changed = 0

    def strip(fd: int, parent_fd: int | None, name: str) -> None:
        nonlocal changed
        changed += _strip_entry(fd, parent_fd, name)

    _walk(workspace, strip)
    return changed


def _strip_entry(fd: int, parent_fd: int | None, name: str) -> int:
    try:
        info = os.fstat(fd)
    except OSError:
        return 0
    mode = info.st_mode
    if not mode & _SETID_BITS or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return 0
    try:
        if stat.S_ISREG(mode) and info.st_nlink > 1 and parent_fd is not None:
            os.unlink(name, dir_fd=parent_fd)
        else:
            _chmod_fd(fd, stat.S_IMODE(mode) & ~_SETID_BITS)
    except OSError:
        return 0
    return 1


def _directory_names(fd: int) -> list[str] | None:
    """The entry names of the directory open at ``fd`` (an O_PATH descriptor), or None."""
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            return None
        listing_fd = os.open(".", _OPEN_LISTING, dir_fd=fd)
    except OSError:
        return None
    try:
        return os.listdir(listing_fd)
    except OSError:
        return None
    finally:
        os.close(listing_fd)
