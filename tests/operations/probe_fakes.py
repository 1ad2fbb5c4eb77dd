"""Fake container tools for probe tests: shell scripts on a PATH that holds nothing else.

Each fake records every invocation (one line of arguments) in a log, answers `--version`,
`version ...`, `run ...`, `rm ...` and `ps ...` as the test says, and can hang, fail, or
print secrets to stderr. nerdctl cannot be installed on these machines, so nerdctl paths are
tested with such fakes only.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

FULL_EVIDENCE = json.dumps(
    {"workspace": True, "network": True, "env": True, "proof": True, "cleanup": True}
)


@dataclass
class FakeTool:
    """One fake executable; fields are shell snippets or literal outputs."""

    name: str
    self_report: str | None = None
    server_components: str | None = None
    """What `version --format '{{range .Server.Components}}...'` prints (None: as `version`)."""
    version_stdout: str = "5.0.0"
    version_stderr: str = ""
    version_exit: int = 0
    version_hangs: bool = False
    run_stdout: str = FULL_EVIDENCE
    run_stderr: str = ""
    run_exit: int = 0
    run_hangs: bool = False
    run_extra: str = ""
    """Shell run before answering `run` (``$workspace`` is the host side of ``-v``)."""

    def _server_branch(self) -> str:
        if self.server_components is None:
            return ":"
        answer = shlex.quote(self.server_components)
        return f'case "$3" in *Components*) printf "%s\\n" {answer}; exit 0 ;; esac'

    def script(self, log: Path) -> str:
        report = self.self_report if self.self_report is not None else f"{self.name} version 5.0.0"
        hang = "/bin/sleep 30"
        return f"""#!/bin/sh
printf '%s\\n' "$*" >> {shlex.quote(str(log))}
case "$1" in
  --version)
    printf '%s\\n' {shlex.quote(report)}
    exit 0 ;;
  version)
    {self._server_branch()}
    {hang if self.version_hangs else ":"}
    printf '%s' {shlex.quote(self.version_stdout)}
    printf '%s' {shlex.quote(self.version_stderr)} >&2
    exit {self.version_exit} ;;
  kill|rm|ps|stop|inspect)
    exit 0 ;;
esac
workspace=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "-v" ]; then workspace="${{argument%%:/workspace}}"; fi
  previous="$argument"
done
{self.run_extra}
{hang if self.run_hangs else ":"}
printf '%s' {shlex.quote(self.run_stdout)}
printf '%s' {shlex.quote(self.run_stderr)} >&2
exit {self.run_exit}
"""


def install(bin_dir: Path, tool: FakeTool, log: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / tool.name
    path.write_text(tool.script(log))
    os.chmod(path, 0o755)
    return path


def calls(log: Path) -> list[str]:
    if not log.exists():
        return []
    return log.read_text().splitlines()
