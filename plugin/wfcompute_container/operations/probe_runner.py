"""How a probe finds and runs a container tool: an injectable LookPath + Run pair.

Probes only need "is the tool there" and "run it, give me stdout, stderr and Go's error
text". The real runner delegates to runtime_io (which kills the client and removes the named
container when a run is cancelled, e.g. by a probe timeout); unit tests may substitute a fake
runner, or fake executables on PATH with the real one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..runtime_io.exec_errors import ExecError
from ..runtime_io.tool_lookup import look_path
from ..runtime_io.tool_process import ContainerRef, run_tool

# Evidence and version output are tiny; a tool flooding its output must not exhaust memory.
PROBE_OUTPUT_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class CommandOutcome:
    """What one tool run produced. ``error`` is Go's exec error text, None on exit status 0."""

    stdout: bytes
    stderr: bytes
    error: str | None = None


class ProbeRunner(Protocol):
    def look_path(self, name: str) -> str | None:
        """The executable for ``name`` (Go exec.LookPath rules), or None when there is none."""
        ...

    async def run(
        self, argv: Sequence[str], container: ContainerRef | None = None
    ) -> CommandOutcome:
        """Run argv without stdin. When cancelled, the process must be stopped and
        ``container`` (the run's ``--name``) removed before cancellation propagates."""
        ...


class ExecProbeRunner:
    """Runs real executables found on PATH."""

    def look_path(self, name: str) -> str | None:
        if "/" in name:
            # Go's LookPath checks such a name itself: a regular file with an execute bit.
            try:
                info = os.stat(name)
            except (OSError, ValueError):  # ValueError: a NUL in the name (Go: EINVAL)
                return None
            return name if stat.S_ISREG(info.st_mode) and info.st_mode & 0o111 else None
        try:
            return look_path(name)
        except ExecError:
            return None

    async def run(
        self, argv: Sequence[str], container: ContainerRef | None = None
    ) -> CommandOutcome:
        result = await run_tool(argv, output_limit=PROBE_OUTPUT_LIMIT, container=container)
        error = str(result.error) if result.error is not None else None
        return CommandOutcome(result.stdout, result.stderr, error)
