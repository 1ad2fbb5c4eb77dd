"""Finding a container tool on PATH, the way Go's exec.LookPath does (Go 1.19 and later)."""

from __future__ import annotations

import os
import stat

from ..goparity.paths import is_abs, join
from .exec_errors import ToolNotFound


class ToolFoundRelative(ToolNotFound):
    """The PATH search hit came from a relative entry (``.`` or an empty one): Go's exec.ErrDot.

    Refused like a missing tool, so everything that handles "not found" handles it, but worded
    as Go words it.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.message = f'exec: "{name}": cannot run executable found relative to current directory'
        self.args = (self.message,)


def look_path(name: str) -> str:
    """The executable for ``name``: itself when it contains a slash (starting it reports any
    problem), else the first PATH hit. Raises ToolNotFound with Go's text when there is none,
    and ToolFoundRelative when the first hit is relative to the working directory.
    """
    if "/" in name:
        return name
    search = os.environ.get("PATH", "")
    # Go's filepath.SplitList: an unset or empty PATH searches nothing.
    for directory in search.split(os.pathsep) if search else ():
        # An empty entry means the working directory, as in the shell.
        candidate = join(directory or ".", name)
        if _is_executable(candidate):
            if not is_abs(candidate):
                raise ToolFoundRelative(name)
            return candidate
    raise ToolNotFound(name)


def _is_executable(path: str) -> bool:
    """Go's findExecutable: exists, not a directory, executable by us."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False
    if stat.S_ISDIR(info.st_mode):
        return False
    # Go asks with the effective ids (faccessat AT_EACCESS).
    return os.access(path, os.X_OK, effective_ids=os.access in os.supports_effective_ids)
