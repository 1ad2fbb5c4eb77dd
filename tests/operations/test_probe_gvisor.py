"""The gVisor probe with fake tools: runsc must be there, the plugin picks gVisor's runtime
flags, the image is held while the host reads its sandbox process, and that view decides the
claims gVisor's kernel cannot show from inside. The real runsc is probed in
tests/operations/test_probes_real.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from wfcompute_container.operations import probe_host
from wfcompute_container.operations.probes import (
    REASON_DOCKER_GVISOR_NETWORK,
    REASON_DOCKER_GVISOR_UNREGISTERED,
    REASON_GVISOR_UNAVAILABLE,
    ProbeOptions,
    default_probes,
    docker_gvisor_problem,
)

from .probe_fakes import (
    BOOLEAN_EVIDENCE,
    GENERATED_AT,
    GVISOR_INSIDE_FACTS,
    FakeTool,
    calls,
    claim_outcomes,
    install,
    probe,
    run_call,
)

GVISOR_EVIDENCE = json.dumps(BOOLEAN_EVIDENCE | {"details": GVISOR_INSIDE_FACTS})


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


def gvisor_options(backend_id: str = "podman-gvisor") -> ProbeOptions:
    (options,) = [p for p in default_probes(GENERATED_AT) if p.backend_id == backend_id]
    return options


def install_tools(fake_bin: Path, log: Path, *, runsc: bool = True, **fake: Any) -> None:
    """A fake rootful podman (``fake``: its FakeTool fields) and, unless told not to, runsc."""
    install(fake_bin, FakeTool("podman", info_stdout="false|true", **fake), log)
    if runsc:
        (fake_bin / "runsc").write_text("#!/bin/sh\nexit 0\n")
        (fake_bin / "runsc").chmod(0o755)


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[Path]:
    """Where the fake run records the pid of its stand-in ``runsc-sandbox`` (a copy of sleep);
    whatever it started is killed afterwards."""
    pid_file = tmp_path / "sandbox.pid"
    yield pid_file
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def holding(tmp_path: Path, pid_file: Path) -> dict[str, Any]:
    """FakeTool fields for a run that behaves as the held probe image does, with a host
    process named runsc-sandbox standing in for gVisor's sandbox."""
    sleeper = tmp_path / "runsc-sandbox"
    shutil.copy("/bin/sleep", sleeper)
    return {"run_extra": holding_script(sleeper, pid_file), "inspect_extra": f"/bin/cat {pid_file}"}


def holding_script(sleeper: Path, pid_file: Path) -> str:
    return f"""
{sleeper} 30 &
echo $! > {pid_file}
: > "$workspace/.wfcompute-probe-ready"
i=0
while [ ! -e "$workspace/.wfcompute-probe-release" ] && [ $i -lt 100 ]; do
  /bin/sleep 0.1; i=$((i+1))
done
[ -e "$workspace/.wfcompute-probe-release" ] || exit 9
"""


def test_without_runsc_the_backend_is_unsupported_and_nothing_runs(
    fake_bin: Path, log: Path
) -> None:
    install_tools(fake_bin, log, runsc=False)
    report = probe(gvisor_options())
    assert report.status == "unsupported"
    assert report.reason == REASON_GVISOR_UNAVAILABLE
    assert calls(log) == []
    assert report.executors is None


def test_the_plugin_chooses_gvisors_runtime_and_flags(fake_bin: Path, log: Path) -> None:
    install_tools(fake_bin, log)
    probe(gvisor_options(), timeout_ms=10_000)
    words = run_call(log)
    # Engine flags before `run`, then the hardened run under runsc.
    assert words[:3] == ["--runtime-flag", "network=none", "run"]
    assert words[words.index("--runtime") + 1] == "runsc"
    for flag in ("--read-only", "no-new-privileges", "--pids-limit", "--memory"):
        assert flag in words


def test_held_probe_is_judged_on_the_hosts_view(
    fake_bin: Path, log: Path, tmp_path: Path, sandbox_process: Path
) -> None:
    install_tools(fake_bin, log, run_stdout=GVISOR_EVIDENCE, **holding(tmp_path, sandbox_process))
    report = probe(gvisor_options())
    details = report.evidence.details or []
    assert "host-process:runsc-sandbox" in details
    # This test's own process (the stand-in's parent) has neither no_new_privs nor a filter.
    own = Path("/proc/self/status").read_text()
    nnp = next(line.split()[1] for line in own.splitlines() if line.startswith("NoNewPrivs:"))
    assert f"host-nonewprivs:{nnp}" in details
    found = claim_outcomes(report.evidence.details or [])
    assert found["user-space-kernel"] == "held"
    assert found["no-new-privileges"] == ("held" if nnp == "1" else "failed")
    assert report.status == "degraded"
    assert "seccomp (host-seccomp:" in report.reason
    # The inside facts alone never hold a host claim.
    assert found["pids-limit"] == "failed"
    assert f"inspect --format {{{{.State.Pid}}}} {words_name(log)}" in calls(log)


def words_name(log: Path) -> str:
    words = run_call(log)
    return words[words.index("--name") + 1]


def test_gvisor_markers_from_a_run_that_never_holds_prove_nothing(
    fake_bin: Path, log: Path
) -> None:
    """An image that prints gVisor's markers but is not held (no host view) fails the
    user-space-kernel claim and every host-judged claim, and the probe still ends."""
    install_tools(fake_bin, log, run_stdout=GVISOR_EVIDENCE)
    report = probe(gvisor_options())
    found = claim_outcomes(report.evidence.details or [])
    assert report.status == "degraded"
    for claim in (
        "user-space-kernel",
        "no-new-privileges",
        "seccomp",
        "pids-limit",
        "memory-limit",
    ):
        assert found[claim] == "failed", claim
    assert not any(d.startswith("host-") for d in report.evidence.details or [])


@pytest.mark.parametrize("holds", [True, False], ids=["held", "never-held"])
def test_a_configured_workspace_keeps_no_hold_files(
    fake_bin: Path, log: Path, tmp_path: Path, sandbox_process: Path, holds: bool
) -> None:
    """Whether or not the image held, the ready and release files are gone afterwards."""
    workspace = tmp_path / "configured"
    workspace.mkdir()
    workspace.chmod(0o750)
    held: dict[str, Any] = holding(tmp_path, sandbox_process) if holds else {}
    install_tools(fake_bin, log, run_stdout=GVISOR_EVIDENCE, **held)
    report = probe(replace(gvisor_options(), conformance_workspace=str(workspace)))
    assert ("host-process:runsc-sandbox" in (report.evidence.details or [])) is holds
    assert list(workspace.iterdir()) == []
    assert workspace.stat().st_mode & 0o7777 == 0o750


def test_release_never_follows_a_planted_link(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    victim = tmp_path / "victim"
    (workspace / probe_host.RELEASE_FILE).symlink_to(victim)
    probe_host.release(str(workspace))
    assert not victim.exists()
    assert (workspace / probe_host.RELEASE_FILE).is_symlink()


def test_process_facts_of_a_real_process() -> None:
    child = subprocess.Popen(["/bin/sleep", "30"])
    try:
        # Popen may return before the exec shows in /proc (seen as an unprivileged user).
        cmdline = Path(f"/proc/{child.pid}/cmdline")
        for _ in range(500):
            if cmdline.read_bytes().startswith(b"/bin/sleep"):
                break
            time.sleep(0.01)
        facts = probe_host.read_process_facts(child.pid)
    finally:
        child.kill()
        child.wait()
    assert facts[0] == "host-process:sleep"
    assert [f.partition(":")[0] for f in facts] == [
        "host-process",
        "host-nonewprivs",
        "host-seccomp",
        "host-pids-limit",
        "host-memory-limit",
    ]
    assert all(f.partition(":")[2] not in ("", "unreadable") for f in facts[:3])


def test_process_facts_of_a_gone_process_are_unreadable() -> None:
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    facts = probe_host.read_process_facts(child.pid)
    assert facts == [
        "host-process:unreadable",
        "host-nonewprivs:unreadable",
        "host-seccomp:unreadable",
        "host-pids-limit:unreadable",
        "host-memory-limit:unreadable",
    ]


@pytest.mark.parametrize(
    ("cgroup", "files"),
    [
        (
            "12:pids:/machine/ctr\n5:memory:/machine/ctr\n0::/\n",
            {
                "pids/machine/ctr/pids.max": "256",
                "memory/machine/ctr/memory.limit_in_bytes": "4096",
            },
        ),
        (
            "0::/machine.slice/ctr.scope\n",
            {
                "machine.slice/ctr.scope/pids.max": "256",
                "machine.slice/ctr.scope/memory.max": "4096",
            },
        ),
    ],
    ids=["cgroup-v1", "cgroup-v2"],
)
def test_cgroup_limits_are_read_from_each_layout(
    tmp_path: Path, cgroup: str, files: dict[str, str]
) -> None:
    for name, value in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(value + "\n")
    facts = probe_host.cgroup_limit_facts(cgroup, str(tmp_path))
    assert facts == ["host-pids-limit:256", "host-memory-limit:4096"]


def test_cgroup_paths_that_climb_out_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "pids.max").write_text("256\n")
    facts = probe_host.cgroup_limit_facts("3:pids:/../etc\n0::/a/../../etc\n", str(tmp_path / "x"))
    assert facts == ["host-pids-limit:unreadable", "host-memory-limit:unreadable"]


# --- Docker: the daemon's registered runsc ----------------------------------------------------

DOCKER_ENGINE_INFO = "Debian GNU/Linux 12 (bookworm)|[name=seccomp,profile=builtin]"
RUNSC_NETWORK_NONE = json.dumps(
    {
        "runc": {"path": "runc"},
        "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]},
    }
)


def install_docker(fake_bin: Path, log: Path, runtimes: str, **fake: Any) -> None:
    """A fake Docker Engine whose daemon has ``runtimes`` registered (no runsc on PATH: the
    daemon's runtime is what runs, wherever it lives)."""
    install(
        fake_bin,
        FakeTool("docker", info_stdout=DOCKER_ENGINE_INFO, runtimes_stdout=runtimes, **fake),
        log,
    )


@pytest.mark.parametrize(
    ("runtimes", "reason"),
    [
        ("{}", REASON_DOCKER_GVISOR_UNREGISTERED),
        ('{"runc": {"path": "runc"}}', REASON_DOCKER_GVISOR_UNREGISTERED),
        ("not json", REASON_DOCKER_GVISOR_UNREGISTERED),
        ('{"runsc": {"path": "/usr/bin/runsc"}}', REASON_DOCKER_GVISOR_NETWORK),
        ('{"runsc": {"path": "runsc", "runtimeArgs": ["--debug"]}}', REASON_DOCKER_GVISOR_NETWORK),
    ],
    ids=["none", "runc-only", "garbled", "no-args", "other-args"],
)
def test_docker_without_a_usable_runsc_is_unsupported_and_nothing_runs(
    fake_bin: Path, log: Path, runtimes: str, reason: str
) -> None:
    install_docker(fake_bin, log, runtimes)
    report = probe(gvisor_options("docker-gvisor"))
    assert (report.status, report.reason) == ("unsupported", reason)
    assert not any(call.startswith("run ") for call in calls(log))
    assert report.executors is None


def test_docker_info_failing_is_degraded(fake_bin: Path, log: Path) -> None:
    install_docker(fake_bin, log, RUNSC_NETWORK_NONE, info_exit=1)
    report = probe(gvisor_options("docker-gvisor"))
    assert report.status == "degraded"
    assert report.reason.startswith("docker info failed"), report.reason


def test_docker_runs_the_registered_runsc_with_no_runtime_flag(fake_bin: Path, log: Path) -> None:
    """Docker has no per-run runtime flag: the argv names the runtime and nothing else of it."""
    install_docker(fake_bin, log, RUNSC_NETWORK_NONE, run_stdout=GVISOR_EVIDENCE)
    report = probe(gvisor_options("docker-gvisor"), timeout_ms=10_000)
    words = run_call(log)
    assert words[0] == "run" and "--runtime-flag" not in words
    assert words[words.index("--runtime") + 1] == "runsc"
    for flag in ("--read-only", "no-new-privileges", "--pids-limit", "--memory"):
        assert flag in words
    assert report.isolation_mode == "vm-backed-container"
    # A fake never holds and has no sandbox process: gVisor is not proven.
    assert report.status == "degraded"
    assert claim_outcomes(report.evidence.details or [])["user-space-kernel"] == "failed"


def test_docker_held_probe_is_judged_on_the_hosts_view(
    fake_bin: Path, log: Path, tmp_path: Path, sandbox_process: Path
) -> None:
    install_docker(
        fake_bin,
        log,
        RUNSC_NETWORK_NONE,
        run_stdout=GVISOR_EVIDENCE,
        **holding(tmp_path, sandbox_process),
    )
    report = probe(gvisor_options("docker-gvisor"))
    assert "host-process:runsc-sandbox" in (report.evidence.details or [])
    assert claim_outcomes(report.evidence.details or [])["user-space-kernel"] == "held"
    assert f"inspect --format {{{{.State.Pid}}}} {words_name(log)}" in calls(log)


@pytest.mark.parametrize(
    ("args", "usable"),
    [
        (["--network=none"], True),
        (["-network=none"], True),
        (["--network", "none"], True),
        (["--debug", "--network=none", "--platform=ptrace"], True),
        (["--network=none", "--network=sandbox"], False),
        (["--network=host"], False),
        (["--network"], False),
        (["network=none"], False),
        (["--networking=none"], False),
        ([], False),
    ],
)
def test_runsc_network_flag_forms(args: list[str], usable: bool) -> None:
    runtimes = json.dumps({"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": args}})
    problem = docker_gvisor_problem(runtimes.encode())
    assert problem == (None if usable else REASON_DOCKER_GVISOR_NETWORK)
