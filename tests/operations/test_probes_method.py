"""runtime.probe params: which probes a request asks for, and the -32010 texts for bad ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.probe_selection import (
    RuntimeProbeParams,
    probe_options_from,
    run_probe,
)
from wfcompute_container.server.methods_probe import METHODS

from .probe_fakes import FakeTool, install


def params(**values: Any) -> RuntimeProbeParams:
    return RuntimeProbeParams.model_validate(values)


def custom(**changes: Any) -> dict[str, Any]:
    definition = {
        "backend_id": "podman-custom",
        "family": "podman",
        "tool": "podman",
        "command": "podman",
        "isolation_mode": "user-namespace",
        "runtime_profiles": ["sandboxed-oci-v1"],
    }
    definition.update(changes)
    return definition


def invalid(**values: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        probe_options_from(params(**values))
    return str(caught.value)


def test_method_is_declared() -> None:
    assert [m.name for m in METHODS] == ["runtime.probe"]


def test_default_is_the_seven_builtin_probes_with_one_timestamp() -> None:
    chosen = probe_options_from(params())
    assert [p.backend_id for p in chosen] == [
        "podman-rootless",
        "docker-desktop",
        "nerdctl-containerd",
        "podman-rootful",
        "docker-engine",
        "podman-gvisor",
        "docker-gvisor",
    ]
    assert len({p.generated_at for p in chosen}) == 1


def test_backends_keep_the_order_asked_and_take_the_image() -> None:
    chosen = probe_options_from(
        params(backends=["nerdctl-containerd", "podman-rootless"], conformance_image="img:1"),
        "from-env:1",
    )
    assert [p.backend_id for p in chosen] == ["nerdctl-containerd", "podman-rootless"]
    assert {p.conformance_image for p in chosen} == {"img:1"}


def test_server_default_image_applies_when_request_names_none() -> None:
    chosen = probe_options_from(params(backends=["podman-rootless"]), "localhost/probe:v1")
    assert chosen[0].conformance_image == "localhost/probe:v1"


def test_custom_probes_follow_builtins() -> None:
    at = datetime(2026, 6, 9, tzinfo=UTC)
    chosen = probe_options_from(
        params(
            backends=["docker-desktop"],
            probes=[custom(version_args=[], conformance_profiles=["mine-v1"])],
            conformance_command=["/probe", "--all"],
            generated_at="2026-06-09T00:00:00Z",
        )
    )
    assert [p.backend_id for p in chosen] == ["docker-desktop", "podman-custom"]
    assert chosen[1].version_args == ()
    assert chosen[1].conformance_profiles == ("mine-v1",)
    assert chosen[1].conformance_command == ("/probe", "--all")
    assert {p.generated_at for p in chosen} == {at}


def test_unknown_backend_id() -> None:
    assert invalid(backends=["podman-rootless", "lxc"]) == (
        'runtime backend "lxc" is unknown '
        "(built-in: podman-rootless, docker-desktop, nerdctl-containerd, podman-rootful, "
        "docker-engine, podman-gvisor, docker-gvisor)"
    )


def test_empty_backend_list() -> None:
    assert invalid(backends=[]) == "backends must name at least one runtime backend"


def test_custom_probe_with_invalid_enums_names_each() -> None:
    message = invalid(
        probes=[
            custom(),
            custom(
                backend_id="bad id",
                family="lxc",
                tool="",
                command=" ",
                isolation_mode="none",
                install_burden="magic",
                runtime_profiles=["sandboxed-oci-v1", "gpu-v9"],
                conformance_profiles=["ok", "a/b"],
            ),
        ]
    )
    assert message.split("\n") == [
        "probes[1].backend_id must not contain whitespace, scheme, path, query, or fragment",
        'probes[1].family "lxc" is unsupported',
        "probes[1].tool is required",
        "probes[1].command is required",
        'probes[1].isolation_mode "none" is unsupported',
        'probes[1].install_burden "magic" is unsupported',
        'probes[1].runtime_profiles[1] "gpu-v9" is unsupported',
        "probes[1].conformance_profiles[1] must not contain whitespace, scheme, path, query, "
        "or fragment",
    ]


def test_custom_probe_needs_runtime_profiles_and_cannot_claim_bundled() -> None:
    assert invalid(probes=[custom(runtime_profiles=[], install_burden="bundled")]).split("\n") == [
        'probes[0].install_burden "bundled" is reserved for managed runtime probes '
        "(use managed_install_root)",
        "probes[0].runtime_profiles is required",
    ]


def test_conformance_workspace_that_is_a_file_degrades_each_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reference's Probe never fails: no -32010, each report that gets past tool lookup and
    # version carries the mkdir error of the first non-directory on the path.
    path = tmp_path / "file"
    path.write_text("x")
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", str(bin_dir))
    install(bin_dir, FakeTool("podman"), tmp_path / "log")
    for workspace in (str(path), str(path / "below"), str(path / "below" / "deeper")):
        result = anyio.run(
            run_probe,
            params(
                backends=["podman-rootless", "nerdctl-containerd"], conformance_workspace=workspace
            ),
            "",
        )
        reports = result.to_wire()["reports"]
        assert [(r["status"], r["reason"]) for r in reports] == [
            ("degraded", f"runtime conformance workspace failed: mkdir {path}: not a directory"),
            ("unsupported", "runtime executable is unavailable"),
        ]
        assert result.supported_executors == []
    assert path.read_text() == "x"


def test_missing_conformance_workspace_is_fine(tmp_path: Path) -> None:
    chosen = probe_options_from(params(conformance_workspace=str(tmp_path / "new" / "ws")))
    assert chosen[0].conformance_workspace == str(tmp_path / "new" / "ws")
    assert not (tmp_path / "new").exists(), "only probing creates it"


def test_blank_managed_install_root() -> None:
    assert invalid(managed_install_root="  ") == "managed_install_root must not be blank"


def test_unknown_members_and_bad_timeouts_are_schema_errors() -> None:
    for bad in ({"extra": 1}, {"timeout_ms": 0}, {"probes": [custom(colour="red")]}):
        with pytest.raises(ValueError):
            RuntimeProbeParams.model_validate(bad)


def test_run_probe_returns_wire_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", str(bin_dir))
    install(bin_dir, FakeTool("podman"), tmp_path / "log")
    result = anyio.run(run_probe, params(backends=["podman-rootless", "nerdctl-containerd"]), "")
    wire = result.to_wire()
    assert list(wire) == ["reports", "supported_executors", "provider_capabilities"]
    assert [r["status"] for r in wire["reports"]] == ["supported", "unsupported"]
    assert [e["provider"] for e in wire["supported_executors"]] == [
        "sandboxed-command",
        "sandboxed-container-build",
    ]
    assert wire["provider_capabilities"] == [
        {"provider": "sandboxed-command", "status": "supported"},
        {"provider": "sandboxed-container-build", "status": "supported"},
    ]
