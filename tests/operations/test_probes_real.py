"""Probes against the real podman and Docker, with the probe image built offline.

Skipped locally (with the reason) when a runtime cannot run containers; a failure in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import limits_ignored, require_runsc, require_runtime, rootless_runsc_problem
from tests.operations.probe_fakes import GVISOR_HOST_FACTS, claim_outcomes
from wfcompute_container.operations.probe_evidence import decode_evidence
from wfcompute_container.operations.probe_image import PROBE_SCRIPT_PATH, build_probe_image
from wfcompute_container.operations.probes import (
    DEFAULT_CONFORMANCE_IMAGE,
    DOCKER_INFO_ARGS,
    PODMAN_INFO_ARGS,
    ProbeResults,
    RuntimeIdentity,
    default_probes,
    docker_identity,
    podman_identity,
    probe_all,
)

TEST_TAG = "localhost/wfcompute-sandbox-probe:pytest"


def identity_of(tool: str) -> RuntimeIdentity:
    """What the runtime says it is, asked the way the probe asks."""
    args = PODMAN_INFO_ARGS if tool == "podman" else DOCKER_INFO_ARGS
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=True)
    return podman_identity(done.stdout) if tool == "podman" else docker_identity(done.stdout)


def backend_of(tool: str) -> str:
    """The built-in backend this machine's runtime really is."""
    mode = identity_of(tool).mode
    assert mode, f"{tool} info names no mode"
    return "docker-engine" if mode == "docker-engine-rootless" else mode


@pytest.fixture(scope="module", params=["podman", "docker"])
def tool(request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    require_runtime(name)
    built = anyio.run(build_probe_image, name, TEST_TAG)
    assert built.tag == TEST_TAG
    yield name
    subprocess.run([name, "rmi", "-f", TEST_TAG], capture_output=True, check=False)


def probe_named(backend_id: str, timeout_ms: int = 60_000, **options: object) -> ProbeResults:
    """Probe one built-in backend with the default probe's options changed."""
    chosen = [
        p
        for p in default_probes(**options)  # type: ignore[arg-type]
        if p.backend_id == backend_id
    ]
    return anyio.run(lambda: probe_all(chosen, timeout_ms=timeout_ms))


def probe_one(tool: str, **options: Any) -> ProbeResults:
    return probe_named(backend_of(tool), **options)


def assert_no_probe_container(tool: str) -> None:
    listing = subprocess.run(
        [tool, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, check=True
    ).stdout.decode()
    assert "wfcompute-probe-" not in listing


def run_image(tool: str, *flags: str, workspace: Path | None = None) -> dict[str, object]:
    mount = ["-v", f"{workspace}:/workspace"] if workspace is not None else []
    done = subprocess.run(
        [tool, "run", "--rm", *mount, "-w", "/workspace", *flags, TEST_TAG, PROBE_SCRIPT_PATH],
        capture_output=True,
        timeout=120,
        check=True,
    )
    evidence = decode_evidence(done.stdout)
    return {
        "workspace": evidence.workspace,
        "network": evidence.network,
        "env": evidence.env,
        "proof": evidence.proof,
        "cleanup": evidence.cleanup,
        "details": evidence.details,
    }


def probe_workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    workspace.chmod(0o703)
    return workspace


def limits_claims(tool: str) -> list[str]:
    """The claims this machine's runtime cannot hold: rootless podman on cgroup v1 applies
    no pids or memory limit at all (the probe asks for both)."""
    return ["pids-limit", "memory-limit"] if limits_ignored(tool) else []


def assert_claims(details: list[str], failed: list[str]) -> None:
    """Every claim is judged; exactly the named ones failed, every other held or was not
    required by this backend."""
    outcomes = {d.split(":")[1]: d.split(":")[2] for d in details if d.startswith("claim:")}
    assert len(outcomes) >= 12, details
    assert sorted(n for n, o in outcomes.items() if o == "failed") == sorted(failed)
    assert set(outcomes.values()) <= {"held", "failed", "not-required"}


def test_probe_image_earns_exactly_what_held(tool: str) -> None:
    results = probe_one(tool, conformance_image=TEST_TAG)
    (report,) = results.reports
    failed = limits_claims(tool)
    assert report.validate_at(report.generated_at) is None
    details = report.evidence.details or []
    assert_claims(details, failed)
    if failed:
        assert report.status == "degraded"
        assert report.reason.startswith("runtime conformance claims failed: pids-limit (")
        assert all(f"{name} (" in report.reason for name in failed)
        assert results.supported_executors == []
        return
    assert report.status == "supported", report.reason
    evidence = report.evidence
    assert [
        evidence.workspace,
        evidence.network,
        evidence.env,
        evidence.proof,
        evidence.cleanup,
    ] == [True] * 5
    assert "rootfs:read-only" in details and "network:loopback-only" in details
    assert any(
        d.startswith("proof:sha256:") and len(d) == len("proof:sha256:") + 64 for d in details
    )
    assert report.executor_providers == ["sandboxed-command", "sandboxed-container-build"]
    assert [e.provider for e in results.supported_executors] == report.executor_providers
    assert report.version not in ("", "unknown")


def test_probe_leaves_nothing_in_a_configured_workspace(tool: str, tmp_path: Path) -> None:
    workspace = tmp_path / "configured"
    workspace.mkdir()
    workspace.chmod(0o750)
    (report,) = probe_one(
        tool, conformance_image=TEST_TAG, conformance_workspace=str(workspace)
    ).reports
    assert_claims(report.evidence.details or [], limits_claims(tool))
    assert report.status == ("degraded" if limits_claims(tool) else "supported"), report.reason
    assert list(workspace.iterdir()) == []
    assert workspace.stat().st_mode & 0o7777 == 0o750


def test_reference_distroless_image_is_degraded_with_clear_reason(tool: str) -> None:
    (report,) = probe_one(tool, conformance_image=DEFAULT_CONFORMANCE_IMAGE).reports
    assert report.status == "degraded"
    assert report.reason.startswith("runtime conformance probe failed: exit status 125: ")
    assert "gcr.io" in report.reason
    assert report.validate_at(report.generated_at) is None


def test_timed_out_probe_is_degraded_and_its_container_removed(tool: str) -> None:
    results = probe_named(
        backend_of(tool),
        timeout_ms=3_000,
        conformance_image=TEST_TAG,
        conformance_command=["/bin/sleep", "60"],
    )
    (report,) = results.reports
    assert report.status == "degraded"
    assert report.reason == "runtime probe timed out"
    assert_no_probe_container(tool)


def test_full_evidence_under_the_probe_flags(tool: str, tmp_path: Path) -> None:
    evidence = run_image(
        tool,
        "--network",
        "none",
        "--read-only",
        "-e",
        "WFCOMPUTE_RUNTIME_PROBE=1",
        workspace=probe_workspace(tmp_path),
    )
    assert [evidence[k] for k in ("workspace", "network", "env", "proof", "cleanup")] == [True] * 5


def test_writable_root_leaves_workspace_evidence_false(tool: str, tmp_path: Path) -> None:
    evidence = run_image(
        tool,
        "--network",
        "none",
        "-e",
        "WFCOMPUTE_RUNTIME_PROBE=1",
        workspace=probe_workspace(tmp_path),
    )
    assert evidence["workspace"] is False
    assert "workspace:rootfs-writable" in evidence["details"]  # type: ignore[operator]
    assert [evidence[k] for k in ("network", "env", "proof", "cleanup")] == [True] * 4


def test_network_leaves_network_evidence_false(tool: str, tmp_path: Path) -> None:
    evidence = run_image(
        tool,
        "--network",
        "host",
        "--read-only",
        "-e",
        "WFCOMPUTE_RUNTIME_PROBE=1",
        workspace=probe_workspace(tmp_path),
    )
    assert evidence["network"] is False
    details = evidence["details"]
    assert isinstance(details, list)
    assert any(d.startswith("network:interfaces+") for d in details)
    assert [evidence[k] for k in ("workspace", "env", "proof", "cleanup")] == [True] * 4


def test_missing_env_and_workspace_leave_their_evidence_false(tool: str) -> None:
    evidence = run_image(tool, "--network", "none", "--read-only")
    assert [evidence[k] for k in ("workspace", "network", "env", "proof", "cleanup")] == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert json.dumps(evidence["details"]).count("nothing-written") == 2


def test_nerdctl_is_unsupported_here() -> None:
    if shutil.which("nerdctl") is not None:
        pytest.skip("nerdctl is installed on this machine; the unsupported case needs it absent")
    chosen = [p for p in default_probes() if p.backend_id == "nerdctl-containerd"]
    (report,) = anyio.run(lambda: probe_all(chosen)).reports
    assert report.status == "unsupported"
    assert report.reason == "runtime executable is unavailable"
    assert report.validate_at(report.generated_at) is None


CLAIMS = (
    "env",
    "loopback-only",
    "workspace",
    "read-only-root",
    "run-user",
    "no-capabilities",
    "no-new-privileges",
    "seccomp",
    "user-namespace",
    "pids-limit",
    "memory-limit",
    "tmp-noexec-nosuid-nodev",
    "user-space-kernel",
    "cleanup",
)
BACKENDS_OF = {
    "podman": ("podman-rootless", "podman-rootful"),
    "docker": ("docker-desktop", "docker-engine"),
}


def test_reports_state_what_the_inside_checks_measured(tool: str) -> None:
    chosen = [p for p in default_probes(conformance_image=TEST_TAG) if p.tool == tool]
    chosen = [p for p in chosen if p.backend_id in BACKENDS_OF[tool]]
    results = anyio.run(lambda: probe_all(chosen, timeout_ms=60_000))
    reports = {r.backend_id: r for r in results.reports}
    assert list(reports) == list(BACKENDS_OF[tool])
    actual = backend_of(tool)
    for backend_id, report in reports.items():
        assert report.validate_at(report.generated_at) is None
        details = report.evidence.details or []
        outcomes = claim_outcomes(details)
        # Every claim was checked and is listed, for supported and degraded reports alike.
        assert list(outcomes) == list(CLAIMS), details
        assert f"identity:{identity_of(tool).mode}" in details
        failed = [name for name, outcome in outcomes.items() if outcome == "failed"]
        for name in failed:
            assert f"{name} (" in report.reason, report.reason
        if backend_id != actual:
            assert report.status == "degraded"
            assert report.reason.startswith("runtime identity mismatch: "), report.reason
            assert report.executors is None and report.executor_providers is None
        else:
            assert report.status == ("degraded" if failed else "supported"), report.reason
    if os.geteuid() == 0:
        # Root's podman is rootful (container root is host root) and this Docker is the Engine:
        # every claim of those backends held; the rootless and Desktop labels are not true.
        rootful, rootless = (
            ("podman-rootful", "podman-rootless")
            if tool == "podman"
            else ("docker-engine", "docker-desktop")
        )
        assert reports[rootful].status == "supported", reports[rootful].reason
        assert reports[rootful].isolation_mode == "shared-kernel-container"
        assert set(claim_outcomes(reports[rootful].evidence.details or []).values()) <= {
            "held",
            "not-required",
        }
        assert reports[rootless].status == "degraded"
        if tool == "podman":
            assert reports[rootless].reason == (
                "runtime identity mismatch: podman-rootless needs rootless podman, podman info "
                "reports rootful podman; runtime conformance claims failed: "
                "user-namespace (userns:identity)"
            )
            outcomes = claim_outcomes(reports[rootless].evidence.details or [])
            assert outcomes["user-namespace"] == "failed"
        else:
            assert reports[rootless].reason == (
                "runtime identity mismatch: docker-desktop needs Docker Desktop, docker info "
                "reports Docker Engine"
            )
        assert [e.provider for e in results.supported_executors] == [
            "sandboxed-command",
            "sandboxed-container-build",
        ]


def test_probe_container_runs_under_the_sandbox_flags(tool: str) -> None:
    (report,) = probe_one(tool, conformance_image=TEST_TAG).reports
    details = report.evidence.details or []
    for fact in (
        f"uid:{os.getuid()}",
        "capeff:0000000000000000",
        "nonewprivs:1",
        "tmp-mount:noexec+nosuid+nodev",
        "rootfs:read-only",
        "network:loopback-only",
        "env:ok",
    ):
        assert fact in details, details
    limits = ("pids-limit:256", f"memory-limit:{256 * 1024 * 1024}")
    if os.geteuid() == 0:
        assert all(fact in details for fact in limits), details
    for fact in limits:
        # Unprivileged runtimes may not apply limits (rootless on cgroup v1): then it says so.
        if fact not in details:
            name = fact.partition(":")[0]
            assert report.status == "degraded" and f"{name} ({name}:" in report.reason


# --- gVisor ---------------------------------------------------------------------------------


GVISOR_TAG = "localhost/wfcompute-sandbox-probe:pytest-gvisor"


@pytest.fixture(scope="module", params=["podman", "docker"])
def gvisor_tool(request: pytest.FixtureRequest) -> Iterator[str]:
    """A tool with gVisor (``<tool>-gvisor``), the probe image built into it as GVISOR_TAG."""
    tool: str = request.param
    require_runsc(tool)
    anyio.run(build_probe_image, tool, GVISOR_TAG)
    yield tool
    subprocess.run([tool, "rmi", "-f", GVISOR_TAG], capture_output=True, check=False)


def runsc_problem(tool: str) -> str | None:
    """Why ``tool`` cannot start runsc for this user (rootless podman on cgroup v1)."""
    return rootless_runsc_problem(GVISOR_TAG) if tool == "podman" else None


def test_gvisor_backend_is_supported_on_inside_and_host_evidence(gvisor_tool: str) -> None:
    results = probe_named(f"{gvisor_tool}-gvisor", conformance_image=GVISOR_TAG)
    (report,) = results.reports
    assert report.validate_at(report.generated_at) is None
    problem = runsc_problem(gvisor_tool)
    if problem is not None:
        # Where runsc cannot start (rootless, cgroup v1) nothing is claimed.
        assert report.status == "degraded"
        assert report.reason.startswith("runtime conformance probe failed: "), report.reason
        assert report.executors is None and results.supported_executors == []
        return
    assert report.status == "supported", report.reason
    assert report.isolation_mode == "vm-backed-container"
    details = report.evidence.details or []
    outcomes = claim_outcomes(details)
    assert list(outcomes) == list(CLAIMS)
    assert outcomes["user-space-kernel"] == "held"
    assert set(outcomes.values()) == {"held", "not-required"}
    # gVisor's own kernel inside; the host saw runsc's sandbox process and its guards.
    for fact in ("kernel-release:4.4.0", "kernel-log:Starting_gVisor...", *GVISOR_HOST_FACTS):
        assert fact in details, details
    assert f"kernel-release:{os.uname().release}" not in details
    assert [e.provider for e in results.supported_executors] == [
        "sandboxed-command",
        "sandboxed-container-build",
    ]
    assert_no_probe_container(gvisor_tool)


def test_runc_never_passes_for_gvisor(gvisor_tool: str) -> None:
    """The same image and argv under runc (the tool's own backend) shows the host's kernel:
    as a gVisor backend it would fail the user-space-kernel claim."""
    (report,) = probe_one(gvisor_tool, conformance_image=GVISOR_TAG).reports
    details = report.evidence.details or []
    assert f"kernel-release:{os.uname().release}" in details
    assert not any(d.startswith("host-") for d in details)
    assert claim_outcomes(details)["user-space-kernel"] == "not-required"


def test_gvisor_probe_times_out_and_leaves_no_container(gvisor_tool: str) -> None:
    if runsc_problem(gvisor_tool) is not None:
        pytest.skip("runsc cannot start a container for this user (see the supported test)")
    (report,) = probe_named(
        f"{gvisor_tool}-gvisor",
        timeout_ms=4_000,
        conformance_image=GVISOR_TAG,
        conformance_command=["/bin/sleep", "60"],
    ).reports
    assert (report.status, report.reason) == ("degraded", "runtime probe timed out")
    assert_no_probe_container(gvisor_tool)
