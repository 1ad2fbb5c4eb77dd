"""command.run under gVisor (``runtime_name: "runsc"``), with podman and with Docker.

gVisor puts a user-space kernel between the workload and the host. This run proves, from
inside, that the kernel is gVisor's (its own /proc/version and boot log) and that the
hardening flags still hold. The whole real-run, build and hardening suites also run under
runsc (``RUN_BACKENDS`` in tests/fixtures/run_backends.py). Debian's ``runsc`` package and
its Docker registration come from .ci/setup-runtimes.sh; CI fails without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.fixtures.run_backends import RUN_BACKENDS, RunBackend
from tests.fixtures.sandbox_images import ensure_image, require_backend
from wfcompute_container.core.workloads import CommandWorkload
from wfcompute_container.operations.invocations import (
    CommandInvocationOptions,
    build_command_invocation,
)
from wfcompute_container.operations.runs import run_command


@pytest.fixture(params=[b for b in RUN_BACKENDS if b.gvisor], ids=str)
def gvisor(request: pytest.FixtureRequest) -> RunBackend:
    chosen: RunBackend = request.param
    require_backend(chosen)
    return chosen


def invocation(image: str, workspace: Path, script: str, timeout_ms: int = 0) -> object:
    return build_command_invocation(
        CommandInvocationOptions(
            task_id="t",
            lease_id="l",
            image=image,
            workspace=str(workspace),
            workload=CommandWorkload.model_validate(
                {"args": ["sh", "-c", script], "artifact_allowlist": ["out.txt"]}
            ),
            timeout_ms=timeout_ms or None,
        )
    )


INSIDE = r"""
cat /proc/version
dmesg | head -1
echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
grep -E '^CapEff' /proc/self/status | tr -d '\t'
if touch /rootfs-write 2>/dev/null; then echo root=writable; else echo root=readonly; fi
echo "uid=$(id -u):$(id -g)"
echo gvisor > /workspace/out.txt
"""


def test_command_run_under_gvisor_sees_gvisors_kernel_and_the_hardening(
    gvisor: RunBackend, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    image = ensure_image(gvisor.tool, "workload")
    result = anyio.run(run_command, invocation(image, workspace, INSIDE), gvisor.runtime)
    assert result.exit_code == 0, result.stderr
    lines = (result.stdout or b"").decode().splitlines()
    assert lines[0].startswith("Linux version 4.4.0"), lines
    assert "Starting gVisor" in lines[1], lines
    assert "ifaces=lo " in lines
    assert "CapEff:0000000000000000" in lines
    assert "root=readonly" in lines
    assert f"uid={os.getuid()}:{os.getgid()}" in lines
    out = workspace / "out.txt"
    assert out.read_text() == "gvisor\n"
    assert (out.stat().st_uid, out.stat().st_gid) == (os.getuid(), os.getgid())
    assert result.artifacts == ["out.txt"] and result.artifact_hash.startswith("sha256:")
