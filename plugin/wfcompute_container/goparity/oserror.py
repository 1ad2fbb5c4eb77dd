"""Go-style OS error texts: `<op> <path>: <lowercase strerror>`."""

from __future__ import annotations

import errno
import os


def errno_text(err: OSError) -> str:
    """The C strerror text with Go's lowercase first letter."""
    code = err.errno
    text = os.strerror(code) if code is not None else (err.strerror or str(err))
    return text[:1].lower() + text[1:] if text else text


def os_error_of(err: OSError | ValueError) -> OSError:
    """The OSError Go's syscall would give: Python refuses a path holding NUL with ValueError
    before the call; the kernel interface Go uses answers EINVAL (`invalid argument`)."""
    if isinstance(err, OSError):
        return err
    return OSError(errno.EINVAL, os.strerror(errno.EINVAL))


def path_error(op: str, path: str, err: OSError) -> str:
    """Go *fs.PathError text, e.g. `lstat /w/x: no such file or directory`."""
    return f"{op} {path}: {errno_text(err)}"


def is_not_exist(err: OSError) -> bool:
    """errors.Is(err, fs.ErrNotExist): ENOENT only (not ENOTDIR)."""
    return err.errno == errno.ENOENT


class GoPathError(OSError):
    """An OSError whose str() is Go's `<op> <path>: <errno text>`."""

    def __init__(self, op: str, path: str, err: OSError) -> None:
        super().__init__(err.errno, err.strerror)
        self.op = op
        self.go_path = path
        self.message = path_error(op, path, err)

    def __str__(self) -> str:
        return self.message


def read_file(path: str) -> bytes:
    """Go os.ReadFile: the file's bytes, or GoPathError with Go's text. A directory opens fine
    in Go and fails at the read, so it is ``read <path>: is a directory``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, ValueError) as exc:
        err = os_error_of(exc)
        op = "read" if err.errno == errno.EISDIR else "open"
        raise GoPathError(op, path, err) from None
