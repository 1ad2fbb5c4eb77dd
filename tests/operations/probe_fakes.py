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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from wfcompute_container.core.backends import RuntimeBackendReport
from wfcompute_container.operations.probes import ProbeOptions, probe_backend

GENERATED_AT = datetime(2026, 6, 9, tzinfo=UTC)

# What the probe image reports when every claim holds for a run of this process (its uid and
# gid, command.run's pids limit, the probe's 256 MiB memory limit, a user namespace).
FACT_DETAILS = [
    "wfcompute-sandbox-probe-v1",
    "env:ok",
    "network:loopback-only",
    "workspace:ok",
    "rootfs:read-only",
    "cleanup:ok",
    f"uid:{os.getuid()}",
    f"gid:{os.getgid()}",
    "userns:mapped",
    "capeff:0000000000000000",
    "nonewprivs:1",
    "seccomp:2",
    "pids-limit:256",
    f"memory-limit:{256 * 1024 * 1024}",
    "tmp-mount:noexec+nosuid+nodev",
]
# What gVisor's kernel shows the probe image, measured under runsc on these machines: no
# NoNewPrivs line in its status file (setpriv answers), Seccomp 0, no cgroup files, /tmp
# listed noexec only, its own kernel release and boot log.
GVISOR_INSIDE_FACTS = [
    *(
        d
        for d in FACT_DETAILS
        if d.partition(":")[0]
        not in ("userns", "seccomp", "pids-limit", "memory-limit", "tmp-mount")
    ),
    "userns:identity",
    "seccomp:0",
    "pids-limit:unreadable",
    "memory-limit:unreadable",
    "tmp-mount:noexec",
    "kernel-release:4.4.0",
    "kernel-log:Starting_gVisor...",
]
# What the host read of that run's runsc-sandbox process (filter, no_new_privs, cgroup limits).
GVISOR_HOST_FACTS = [
    "host-process:runsc-sandbox",
    "host-nonewprivs:1",
    "host-seccomp:2",
    "host-pids-limit:256",
    f"host-memory-limit:{256 * 1024 * 1024}",
]
BOOLEAN_EVIDENCE = {"workspace": True, "network": True, "env": True, "proof": True, "cleanup": True}
FULL_EVIDENCE = json.dumps(BOOLEAN_EVIDENCE | {"details": FACT_DETAILS})
# `info --format ...` answers: what rootless podman and Docker Desktop say about themselves.
DEFAULT_INFO = {
    "podman": "true|true",
    "docker": "Docker Desktop|[name=seccomp,profile=default name=cgroupns]",
}


def evidence_with(**changes: str | None) -> str:
    """FULL_EVIDENCE with facts replaced (``key=value``) or dropped (``key=None``)."""
    details: list[str] = []
    for detail in FACT_DETAILS:
        key = detail.partition(":")[0].replace("-", "_")
        if key not in changes:
            details.append(detail)
        elif changes[key] is not None:
            details.append(f"{detail.partition(':')[0]}:{changes[key]}")
    return json.dumps(BOOLEAN_EVIDENCE | {"details": details})


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
    info_stdout: str | None = None
    """What `info --format ...` prints (None: DEFAULT_INFO for the tool's name)."""
    info_exit: int = 0
    runtimes_stdout: str = "{}"
    """What `info --format '{{json .Runtimes}}'` prints (Docker's registered OCI runtimes)."""
    inspect_extra: str = ""
    """Shell run for `inspect ...` (the gVisor probe asks for the container's host pid)."""

    def _server_branch(self) -> str:
        if self.server_components is None:
            return ":"
        answer = shlex.quote(self.server_components)
        return f'case "$3" in *Components*) printf "%s\\n" {answer}; exit 0 ;; esac'

    def script(self, log: Path) -> str:
        report = self.self_report if self.self_report is not None else f"{self.name} version 5.0.0"
        hang = "/bin/sleep 30"
        info = self.info_stdout
        if info is None:
            info = DEFAULT_INFO.get(self.name, "")
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
  info)
    case "$3" in
      *Runtimes*) printf '%s\\n' {shlex.quote(self.runtimes_stdout)}; exit {self.info_exit} ;;
    esac
    printf '%s\\n' {shlex.quote(info)}
    exit {self.info_exit} ;;
  inspect)
    {self.inspect_extra or ":"}
    exit 0 ;;
  kill|rm|ps|stop)
    exit 0 ;;
esac
workspace=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "-v" ]; then workspace="${{argument%%:/workspace*}}"; fi
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


def run_call(log: Path) -> list[str]:
    """The arguments of the (first) conformance run."""
    for line in calls(log):
        words = line.split(" ")
        if "run" in words[:3]:
            return words
    raise AssertionError(f"no run call in {calls(log)}")


def run_workspace(argv: list[str]) -> str:
    """The host workspace of a conformance run's ``-v HOST:/workspace:MODE``."""
    mount = argv[argv.index("-v") + 1]
    return mount.split(":/workspace", 1)[0]


def probe(options: ProbeOptions, timeout_ms: int = 20_000) -> RuntimeBackendReport:
    """One probe, its report checked against the report rules at GENERATED_AT."""
    report = anyio.run(lambda: probe_backend(options, timeout_ms=timeout_ms))
    assert report.validate_at(GENERATED_AT) is None, report.to_json()
    return report


def claim_outcomes(details: Sequence[str]) -> dict[str, str]:
    """Claim name -> outcome, from a report's ``claim:<name>:<outcome>`` details."""
    outcomes: dict[str, str] = {}
    for detail in details:
        kind, _, rest = detail.partition(":")
        if kind == "claim":
            name, _, outcome = rest.rpartition(":")
            outcomes[name] = outcome
    return outcomes
