"""Go's os.MkdirAll: the same directories made, the same mode on each, the same error texts."""

from __future__ import annotations

import errno
import os
import stat

from .oserror import GoPathError, os_error_of


def mkdir_all(path: str, mode: int = 0o777) -> None:
    """Create ``path`` and any missing parents, each with ``mode`` (before umask), as Go does.

    Succeeds when ``path`` already is a directory. Errors are GoPathError with Go's text:
    ``mkdir <path>: not a directory`` when ``path`` (or the first ancestor that is in the way)
    exists but is not a directory, else the failing ``mkdir``'s own error.
    """
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        pass
    else:
        if stat.S_ISDIR(info.st_mode):
            return
        raise GoPathError("mkdir", path, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    end = len(path)
    while end > 0 and path[end - 1] == "/":
        end -= 1
    start = end
    while start > 0 and path[start - 1] != "/":
        start -= 1
    if start > 1:
        mkdir_all(path[: start - 1], mode)
    try:
        os.mkdir(path, mode)
    except (OSError, ValueError) as exc:
        # "foo/." and friends: the directory may exist after all.
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                return
        except (OSError, ValueError):
            pass
        raise GoPathError("mkdir", path, os_error_of(exc)) from None


def temp_dir() -> str:
    """Go os.TempDir on Unix: $TMPDIR when non-empty, else /tmp.

    Read on every call and used as is: unlike tempfile.gettempdir there is no search for a
    usable fallback and no cache, so a missing or full $TMPDIR fails as it does in Go.
    """
    return os.environ.get("TMPDIR") or "/tmp"
