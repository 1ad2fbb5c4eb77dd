"""The `probe` and `probe-image build` commands (parsers from cli/probe.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_runtime
from wfcompute_container.cli import probe as probe_cli
from wfcompute_container.operations.probe_image import is_static_elf

from .probe_fakes import FakeTool, install, run_call


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    probe_cli.add_parsers(sub)
    args = parser.parse_args(list(argv))
    status: int = args.func(args)
    return status


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("WFCOMPUTE_CONFORMANCE_IMAGE", raising=False)
    return bin_dir, tmp_path / "calls.log"


def test_table_shows_backend_status_version_reason(
    fake_path: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir, log = fake_path
    install(bin_dir, FakeTool("podman"), log)
    install(bin_dir, FakeTool("docker", version_exit=1), log)
    assert run_cli("probe") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["BACKEND", "STATUS", "VERSION", "REASON"]
    assert lines[1].split() == ["podman-rootless", "supported", "5.0.0"]
    assert lines[2].split(None, 3) == [
        "docker-desktop",
        "degraded",
        "-",
        "runtime version probe failed: exit status 1",
    ]
    assert lines[3].split(None, 3) == [
        "nerdctl-containerd",
        "unsupported",
        "-",
        "runtime executable is unavailable",
    ]
    assert lines[-1] == "supported providers: sandboxed-command, sandboxed-container-build"
    # The columns line up: every status starts where the header's STATUS does.
    column = lines[0].index("STATUS")
    assert all(
        line[column:].split()[0] in ("STATUS", "supported", "degraded", "unsupported")
        for line in lines[:4]
    )


def test_json_with_backend_and_image_from_environment(
    fake_path: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir, log = fake_path
    install(bin_dir, FakeTool("podman"), log)
    monkeypatch.setenv("WFCOMPUTE_CONFORMANCE_IMAGE", "localhost/probe:env")
    assert run_cli("probe", "--json", "--backend", "podman-rootless") == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["backend_id"] for r in result["reports"]] == ["podman-rootless"]
    assert result["reports"][0]["status"] == "supported"
    assert list(result) == ["reports", "supported_executors", "provider_capabilities"]
    assert "localhost/probe:env" in run_call(log)


def test_conformance_image_flag_wins_over_environment(
    fake_path: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir, log = fake_path
    install(bin_dir, FakeTool("podman"), log)
    monkeypatch.setenv("WFCOMPUTE_CONFORMANCE_IMAGE", "localhost/probe:env")
    status = run_cli(
        "probe",
        "--backend",
        "podman-rootless",
        "--backend",
        "nerdctl-containerd",
        "--conformance-image",
        "localhost/probe:flag",
    )
    assert status == 0
    assert "localhost/probe:flag" in run_call(log)
    out = capsys.readouterr().out
    assert "nerdctl-containerd" in out and "docker-desktop" not in out


def test_unknown_backend_is_a_usage_error(fake_path: tuple[Path, Path]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli("probe", "--backend", "lxc")
    assert caught.value.code == 2


def test_workspace_that_is_a_file_is_reported(
    fake_path: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a usage error: as in the reference, each probe that gets that far reports it.
    bin_dir, log = fake_path
    install(bin_dir, FakeTool("podman"), log)
    path = tmp_path / "file"
    path.write_text("x")
    assert run_cli("probe", "--conformance-workspace", str(path)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[1].split(None, 3) == [
        "podman-rootless",
        "degraded",
        "5.0.0",
        f"runtime conformance workspace failed: mkdir {path}: not a directory",
    ]
    assert lines[2].split(None, 3)[:2] == ["docker-desktop", "unsupported"]


def test_probe_image_build_needs_a_known_tool() -> None:
    with pytest.raises(SystemExit):
        run_cli("probe-image", "build", "--tool", "nerdctl")


def test_busybox_in_images_is_static() -> None:
    assert is_static_elf("/bin/busybox") or is_static_elf("/usr/bin/busybox")
    assert not is_static_elf(sys.executable), "the Python interpreter is dynamically linked"
    assert not is_static_elf(__file__), "not an ELF file at all"


@pytest.mark.parametrize("tool", ["podman", "docker"])
def test_probe_image_build_imports_a_runnable_probe(
    tool: str, capsys: pytest.CaptureFixture[str]
) -> None:
    require_runtime(tool)
    tag = "localhost/wfcompute-sandbox-probe:cli-test"
    try:
        assert run_cli("probe-image", "build", "--tool", tool, "--tag", tag) == 0
        assert f"built {tag} with {tool}" in capsys.readouterr().out
        # The image's default command is the probe program.
        done = subprocess.run(
            [tool, "run", "--rm", "--network", "none", "--read-only", tag],
            capture_output=True,
            timeout=120,
            check=True,
        )
        evidence = json.loads(done.stdout)
        assert evidence["network"] is True and evidence["env"] is False
    finally:
        subprocess.run([tool, "rmi", "-f", tag], capture_output=True, check=False)
