"""Finding a container tool on PATH, the way Go's exec.LookPath does."""

from __future__ import annotations

import shutil

from .exec_errors import ToolNotFound


def look_path(name: str) -> str:
    """The executable for ``name``: itself when it contains a slash (starting it reports any
    problem), else the first PATH hit. Raises ToolNotFound with Go's text when there is none.
    """
    if "/" in name:
        return name
    found = shutil.which(name) if name else None
    if found is None:
        raise ToolNotFound(name)
    return found
