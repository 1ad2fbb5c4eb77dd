"""A depth-first stack of open directories that never holds more than a few descriptors.

The tree walks over tenant workspaces (size, setid stripping, mode relaxation) hold the
directory of every level open, so that nothing is ever reached through a path a container
could swap for a symlink. One descriptor per level is one too many: a workspace 3,000 levels
deep exhausted an unprivileged plugin's 1,024 descriptors, and the walks stopped short (a
setuid file at the bottom kept its bit). This stack keeps at most ``MAX_OPEN`` of them: the
levels nearest the root are closed first, and each is opened again, when the walk climbs
back to it, as ``..`` of the level below (the kernel's parent link, never a symlink),
checked to be the very directory (device and inode) that was closed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_OPEN = 64
_CLOSED = -1


class DirectoryMoved(Exception):
    """A closed level, opened again through ``..``, is no longer the same directory."""


@dataclass
class _Level(Generic[T]):
    fd: int
    device: int
    inode: int
    payload: T


class DirStack(Generic[T]):
    """Levels of a walk, each an open directory (``fd``) with what is left to visit in it."""

    def __init__(self, reopen_flags: int) -> None:
        self._levels: list[_Level[T]] = []
        self._closed = 0  # levels [0, _closed) have their descriptor closed
        self._reopen_flags = reopen_flags

    def __len__(self) -> int:
        return len(self._levels)

    def push(self, fd: int, payload: T) -> None:
        """Take ``fd`` (now owned by the stack) as the new deepest level."""
        try:
            info = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._levels.append(_Level(fd, info.st_dev, info.st_ino, payload))
        if len(self._levels) - self._closed > MAX_OPEN:
            level = self._levels[self._closed]
            os.close(level.fd)
            level.fd = _CLOSED
            self._closed += 1

    def top(self) -> tuple[int, T]:
        level = self._levels[-1]
        return level.fd, level.payload

    def pop(self) -> None:
        """Drop the deepest level; the one above is open again when this returns.

        Raises DirectoryMoved when the level above had to be opened again and is not the
        same directory any more (a rename during the walk): the walk must stop.
        """
        level = self._levels.pop()
        try:
            if self._levels and self._closed == len(self._levels):
                parent = self._levels[-1]
                try:
                    fd = os.open("..", self._reopen_flags, dir_fd=level.fd)
                except OSError as exc:
                    raise DirectoryMoved from exc
                info = os.fstat(fd)
                if (info.st_dev, info.st_ino) != (parent.device, parent.inode):
                    os.close(fd)
                    raise DirectoryMoved
                parent.fd = fd
                self._closed -= 1
        finally:
            os.close(level.fd)

    def close(self) -> None:
        """Close every descriptor still open (idempotent)."""
        for level in self._levels[self._closed :]:
            if level.fd != _CLOSED:
                os.close(level.fd)
                level.fd = _CLOSED
        self._levels.clear()
        self._closed = 0
