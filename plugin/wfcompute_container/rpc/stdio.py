"""Keep the protocol's stdin and stdout away from everything but the engine.

While serving, a stray `print()` in a handler or a child process inheriting fd 1 would corrupt
the protocol stream, and a child inheriting fd 0 could swallow requests. So the real streams
move to private close-on-exec descriptors and fds 0/1 are pointed somewhere harmless.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import sys

# Private copies go above the standard three, so that a closed fd 0/1/2 is never reused.
_FIRST_PRIVATE_FD = 3


def _private_copy(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _FIRST_PRIVATE_FD)


def protect_stdout() -> int:
    """Move the real stdout to a private close-on-exec fd and return it.

    fd 1 (and `sys.stdout`) then point at stderr, so stray output ends up in the log.
    """
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    private = _private_copy(1)
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr at all: discard stray output rather than corrupt the wire
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    sys.stdout = sys.stderr
    return private


def protect_stdin() -> int:
    """Move the real stdin to a private close-on-exec fd and return it; fd 0 reads /dev/null."""
    private = _private_copy(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return private


M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
LARGE_ALLOCATION_BYTES = 1 << 20


def return_large_allocations() -> bool:
    """Have glibc serve every allocation of 1 MiB or more with its own mapping, given back to
    the system when freed. False where the C library has no ``mallopt`` (not glibc).

    glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), so after
    the first large answer, later ones come from the heap, whose freed space is kept: a
    server that builds a few 16 MiB answer lines keeps their high-water mark for good. With a
    fixed threshold the plugin's RSS falls back after each one (benchmarks/output_memory.py).
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES))
