"""The managed-bundle steps of the probe flow (reference v0.4.0), with a fake nerdctl.

nerdctl cannot be installed on these machines; the fake records its arguments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from wfcompute_container.core.backends import RuntimeBackendReport
from wfcompute_container.core.managed_bundle import ManagedRuntimeBundleDescriptor
from wfcompute_container.operations.probes import (
    DEFAULT_VERSION_ARGS,
    ProbeOptions,
    claim_digest,
    probe_backend,
)

from .probe_fakes import FACT_DETAILS, FULL_EVIDENCE, FakeTool, install, run_call

REPO = Path(__file__).resolve().parents[2]
AT = datetime(2026, 6, 12, tzinfo=UTC)
BACKEND = "managed-containerd-linux-amd64"
SCOPE = "wfcompute-06d10e1aef1733a0"
SCOPED_EVIDENCE = json.dumps(
    json.loads(FULL_EVIDENCE) | {"details": [*FACT_DETAILS, f"runtime-scope:{SCOPE}"]}
)


def shipped_bundle() -> ManagedRuntimeBundleDescriptor:
    document = json.loads((REPO / "managed-runtime-bundles.json").read_text())
    return ManagedRuntimeBundleDescriptor.model_validate(document["bundles"][0])


def managed_options(command: str, bundle: ManagedRuntimeBundleDescriptor | None) -> ProbeOptions:
    return ProbeOptions(
        backend_id=BACKEND,
        family="containerd",
        tool="nerdctl",
        command=command,
        isolation_mode="user-namespace",
        install_burden="bundled",
        version_args=DEFAULT_VERSION_ARGS,
        runtime_profiles=("sandboxed-oci-v1", "container-build-v1"),
        conformance_profiles=("distroless-static-v1",),
        generated_at=AT,
        runtime_scope_args=("--namespace", SCOPE),
        managed_bundle=bundle,
    )


def probe(options: ProbeOptions) -> RuntimeBackendReport:
    report = anyio.run(lambda: probe_backend(options, timeout_ms=20_000))
    assert report.validate_at(AT) is None, report.to_json()
    return report


@pytest.fixture
def nerdctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    bin_dir = tmp_path / "root" / BACKEND / "bin"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    return bin_dir, tmp_path / "calls.log"


def test_without_bundle_is_unsupported(nerdctl: tuple[Path, Path]) -> None:
    report = probe(managed_options("/opt/x/bin/nerdctl", None))
    assert report.status == "unsupported"
    assert report.reason == "managed runtime bundle is unavailable"
    assert report.bundle is None


def test_relative_command_is_unsupported(nerdctl: tuple[Path, Path]) -> None:
    report = probe(managed_options("bin/nerdctl", shipped_bundle()))
    assert report.status == "unsupported"
    assert report.reason == "managed runtime executable is unavailable"


def test_invalid_bundle_is_degraded(nerdctl: tuple[Path, Path]) -> None:
    bundle = shipped_bundle()
    bundle.valid_until = datetime(2026, 1, 1, tzinfo=UTC)
    report = probe(managed_options("/opt/x/bin/nerdctl", bundle))
    assert report.status == "degraded"
    assert report.reason == (
        "managed runtime bundle validation failed: valid_until must be in the future"
    )


def test_missing_installed_command_keeps_bundle_fields(nerdctl: tuple[Path, Path]) -> None:
    bin_dir, _ = nerdctl
    report = probe(managed_options(str(bin_dir / "nerdctl"), shipped_bundle()))
    assert report.status == "unsupported"
    assert report.reason == "runtime executable is unavailable"
    assert report.bundle is not None
    assert (report.version, report.family, report.tool) == ("v2.3.1", "containerd", "nerdctl")


def test_scoped_run_with_scope_evidence_is_supported(nerdctl: tuple[Path, Path]) -> None:
    bin_dir, log = nerdctl
    command = install(bin_dir, FakeTool("nerdctl", run_stdout=SCOPED_EVIDENCE), log)
    report = probe(managed_options(str(command), shipped_bundle()))
    assert report.status == "supported", report.reason
    assert report.bundle is not None and report.bundle.bundle_id == BACKEND
    assert report.install_burden == "bundled"
    # The bundle's version wins over the tool's own ("5.0.0" from the fake).
    assert report.version == "v2.3.1"
    assert report.executors is not None
    assert report.executors[0].image_digest == (
        "sha256:0800555973768e0ac84330caeb71404b39dd103d2ca0544d12b7d838d5c501ba"
    )
    assert report.executors[1].image_digest == claim_digest(
        "sandboxed-container-build", "v2.3.1", "container-build", "image"
    )
    conformance = " ".join(run_call(log))
    assert conformance.startswith(f"--namespace {SCOPE} run --rm --name wfcompute-probe-")
    assert "pool" not in conformance and "worker" not in conformance


def test_scoped_run_without_scope_evidence_is_degraded(nerdctl: tuple[Path, Path]) -> None:
    bin_dir, log = nerdctl
    command = install(bin_dir, FakeTool("nerdctl"), log)
    report = probe(managed_options(str(command), shipped_bundle()))
    assert report.status == "degraded"
    assert report.reason == (
        "runtime conformance evidence incomplete: missing managed runtime scope evidence"
    )
    assert report.executors is None
