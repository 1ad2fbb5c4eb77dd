"""NDJSON over file descriptors: the stdio transport, apart from any JSON-RPC meaning.

Reading waits with `anyio.wait_readable` and then calls `os.read`, so a read is cancellable
at any time and no thread is left stuck in a blocking read at exit. Pipes and sockets are
switched to non-blocking mode while in use (their original flags are restored by `close`);
terminals, regular files and /dev/null are left alone, because those file descriptions are
often shared with the parent shell and never block for long.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import select
import stat
from dataclasses import dataclass
from typing import Final, Literal

import anyio

_READ_CHUNK = 256 * 1024


class ReadState(enum.Enum):
    NEED_INPUT = "need input"


NEED_INPUT: Final = ReadState.NEED_INPUT


@dataclass(frozen=True)
class OversizedLine:
    """A line longer than the limit was met; the reader skips the rest of it by itself."""

    limit: int


def _is_pipe_or_socket(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _FdMode:
    """Non-blocking mode for pipes and sockets, restored on `restore()`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pipe_or_socket = _is_pipe_or_socket(fd)
        self._saved_flags: int | None = None
        if self.pipe_or_socket:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if not flags & os.O_NONBLOCK:
                fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                self._saved_flags = flags

    def restore(self) -> None:
        if self._saved_flags is not None:
            # OSError: the fd was closed under us; nothing left to restore.
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.fd, fcntl.F_SETFL, self._saved_flags)
            self._saved_flags = None


class LineReader:
    """Yields lines (without their `\\n` / `\\r\\n`) read from `fd`, skipping blank ones.

    A line longer than `max_line_bytes` is reported once as `OversizedLine` and then dropped
    chunk by chunk up to its newline, so it is never held in memory whole.
    """

    def __init__(self, fd: int, max_line_bytes: int, *, chunk_size: int = _READ_CHUNK) -> None:
        self._mode = _FdMode(fd)
        self._fd = fd
        self._max = max_line_bytes
        self._chunk = chunk_size
        self._buf = bytearray()
        self._pos = 0  # start of the unconsumed part of _buf
        self._scan = 0  # where the search for the next newline resumes
        self._discarding = False
        self._eof = False
        # epoll refuses regular files and /dev/null; reads from those never block.
        self._pollable = not stat.S_ISREG(os.fstat(fd).st_mode)

    async def next_line(self) -> bytes | OversizedLine | None:
        """The next non-blank line, an OversizedLine notice, or None at end of input."""
        while True:
            item = self.buffered_line()
            if item is not NEED_INPUT:
                return item
            chunk = await self._read_chunk()
            if not chunk:
                self._eof = True
                continue
            if self._pos:
                del self._buf[: self._pos]
                self._scan -= self._pos
                self._pos = 0
            self._buf += chunk

    def buffered_line(self) -> bytes | OversizedLine | Literal[ReadState.NEED_INPUT] | None:
        """Like `next_line` from what is already read; NEED_INPUT when more must be read."""
        while True:
            newline = self._buf.find(b"\n", self._scan)
            if newline >= 0:
                with memoryview(self._buf) as view:
                    line = bytes(view[self._pos : newline])
                self._pos = self._scan = newline + 1
                if self._discarding:
                    self._discarding = False
                    continue
                result = self._complete_line(line)
                if result is not None:
                    return result
                continue
            self._scan = len(self._buf)
            pending = len(self._buf) - self._pos
            if self._discarding:
                self._drop_buffer()
            elif pending > self._max + 1:  # +1: the "\r" of a line exactly at the limit
                self._discarding = True
                self._drop_buffer()
                return OversizedLine(self._max)
            if not self._eof:
                return NEED_INPUT
            if self._discarding or pending == 0:
                self._drop_buffer()
                return None
            # A last line without its newline is still a message.
            line = bytes(self._buf[self._pos :])
            self._drop_buffer()
            return self._complete_line(line)

    def _complete_line(self, line: bytes) -> bytes | OversizedLine | None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self._max:
            return OversizedLine(self._max)
        if not line.strip():
            return None
        return line

    def _drop_buffer(self) -> None:
        self._buf.clear()
        self._pos = self._scan = 0

    async def _read_chunk(self) -> bytes:
        while True:
            if self._pollable:
                try:
                    await anyio.wait_readable(self._fd)
                except PermissionError:
                    self._pollable = False
            try:
                return os.read(self._fd, self._chunk)
            except BlockingIOError:
                continue

    def close(self) -> None:
        self._mode.restore()


class LineWriter:
    """Writes whole lines to `fd`; each `write` returns once the line is handed to the OS."""

    def __init__(self, fd: int) -> None:
        self._mode = _FdMode(fd)
        self._fd = fd
        self._is_fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)

    async def write(self, data: bytes) -> None:
        """Raises OSError (BrokenPipeError when the reading end is gone)."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            view = view[written:]

    async def wait_reader_gone(self) -> None:
        """Return when the process reading our output has closed its end (pipes only).

        Lets the engine stop work nobody will read the answer of, without waiting for the
        next write to fail. For other kinds of output this never returns.
        """
        if not self._is_fifo:
            await anyio.sleep_forever()
        poller = select.poll()
        poller.register(self._fd, select.POLLOUT)
        while True:
            # On a pipe's write end, "readable" can only mean an error condition: no reader.
            await anyio.wait_readable(self._fd)
            if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
                return
            # Spurious wake-up while the writer waits on the same fd; don't spin.
            await anyio.sleep(0.05)

    def close(self) -> None:
        self._mode.restore()
