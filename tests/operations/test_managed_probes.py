"""Managed probe definitions for runtime.probe, and a probe of a really installed bundle."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.operations.managed_fixtures import (
    BUNDLE_ID,
    NOW,
    SigningKey,
    bundle_objects,
    catalog_document,
    catalog_from,
    file,
    serve_objects,
    signing_key,
)
from tests.operations.probe_fakes import FACT_DETAILS, FULL_EVIDENCE, FakeTool, calls
from wfcompute_container.operations.managed import (
    BundleRequest,
    ManagedRuntimeBundleCatalog,
    ManagedRuntimeBundleInstaller,
    default_catalog_path,
    load_catalog,
    managed_probe_options,
)
from wfcompute_container.operations.managed.probes import (
    managed_containerd_probe_options,
    managed_installation,
)
from wfcompute_container.operations.probes import probe_backend

SCOPE = "wfcompute-06d10e1aef1733a0"
AT = datetime(2026, 6, 11, 12, tzinfo=UTC)


def shipped() -> ManagedRuntimeBundleCatalog:
    return load_catalog(default_catalog_path())


def test_blank_install_root_gives_no_probes() -> None:
    assert managed_probe_options(shipped(), " ", AT, target_os="linux", target_arch="amd64") == []


def test_one_probe_per_usable_bundle(tmp_path: Path) -> None:
    probes = managed_probe_options(
        shipped(), str(tmp_path), AT, target_os="linux", target_arch="amd64"
    )
    assert len(probes) == 1
    probe = probes[0]
    assert probe.backend_id == BUNDLE_ID
    assert probe.command == f"{tmp_path}/{BUNDLE_ID}/bin/nerdctl"
    assert (probe.family, probe.tool) == ("containerd", "nerdctl")
    assert probe.version_args == ("version", "--format", "{{.Client.Version}}")
    assert probe.runtime_scope_args == ("--namespace", SCOPE)
    assert (probe.isolation_mode, probe.install_burden) == ("user-namespace", "bundled")
    assert probe.runtime_profiles == ("sandboxed-oci-v1", "container-build-v1")
    assert probe.conformance_profiles == ("distroless-static-v1",)
    assert probe.managed_bundle is not None and probe.managed_bundle.bundle_id == BUNDLE_ID
    assert probe.generated_at == AT


def test_relative_install_root_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    probes = managed_probe_options(shipped(), "roots", AT, target_os="linux", target_arch="amd64")
    assert probes[0].command == f"{tmp_path}/roots/{BUNDLE_ID}/bin/nerdctl"


@pytest.mark.parametrize(("os_name", "arch"), [("darwin", "arm64"), ("linux", "arm64")])
def test_other_targets_get_no_probe(tmp_path: Path, os_name: str, arch: str) -> None:
    assert (
        managed_probe_options(shipped(), str(tmp_path), AT, target_os=os_name, target_arch=arch)
        == []
    )


def test_unusable_bundles_are_skipped(tmp_path: Path) -> None:
    expired = datetime(2027, 1, 1, tzinfo=UTC)
    assert (
        managed_probe_options(
            shipped(), str(tmp_path), expired, target_os="linux", target_arch="amd64"
        )
        == []
    )
    document: dict[str, Any] = copy.deepcopy(shipped().to_wire())
    document["blocked_versions"] = ["v2.3.1"]
    blocked = ManagedRuntimeBundleCatalog.model_validate(document)
    assert (
        managed_probe_options(blocked, str(tmp_path), AT, target_os="linux", target_arch="amd64")
        == []
    )


def test_probe_without_installation() -> None:
    probe = managed_containerd_probe_options(None, AT)
    assert (probe.backend_id, probe.command, probe.managed_bundle) == (
        "managed-containerd",
        "",
        None,
    )
    assert probe.runtime_scope_args == ("--namespace", "wfcompute-2fa49bfd91559a97")
    report = anyio.run(probe_backend, probe)
    assert (report.status, report.reason) == (
        "unsupported",
        "managed runtime bundle is unavailable",
    )


def test_installation_requires_root() -> None:
    from wfcompute_container.errors import InvalidInput

    with pytest.raises(InvalidInput, match="managed runtime root is required"):
        managed_installation(shipped().bundles[0], "  ")  # type: ignore[index]


@pytest.fixture(scope="module")
def key() -> Iterator[SigningKey]:
    with signing_key("Probe Release <probe@example.com>") as generated:
        yield generated


def test_probe_of_an_installed_bundle(tmp_path: Path, key: SigningKey) -> None:
    log = tmp_path / "calls.log"
    evidence = json.dumps(
        json.loads(FULL_EVIDENCE) | {"details": [*FACT_DETAILS, f"runtime-scope:{SCOPE}"]}
    )
    fake = FakeTool("nerdctl", version_stdout="2.3.1-fake", run_stdout=evidence)
    objects = bundle_objects(key, [file("bin/nerdctl", fake.script(log).encode(), 0o755)])
    root = tmp_path / "managed"
    with serve_objects(objects.served()) as server:
        catalog = catalog_from(catalog_document(objects, server.url))
        installer = ManagedRuntimeBundleInstaller(catalog, str(root), now=lambda: NOW)
        anyio.run(installer.install, BundleRequest(BUNDLE_ID, "linux", "amd64"))

    probes = managed_probe_options(catalog, str(root), NOW, target_os="linux", target_arch="amd64")
    report = anyio.run(probe_backend, probes[0])
    assert report.status == "supported", report.reason
    assert report.bundle is not None and report.bundle.bundle_id == BUNDLE_ID
    # The bundle version wins over what the tool prints.
    assert report.version == "v2.3.1"
    assert report.install_burden == "bundled"
    assert report.validation_errors_at(NOW) == []
    assert report.executor_providers == ["sandboxed-command", "sandboxed-container-build"]
    runs = [line for line in calls(log) if " run " in f" {line} "]
    assert runs and runs[0].startswith(f"--namespace {SCOPE} run ")
