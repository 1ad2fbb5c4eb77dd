"""command.run and the builder profile under gVisor (podman ``runtime_name: "runsc"``).

gVisor puts a user-space kernel between the workload and the host. These runs prove, from
inside, that the kernel is gVisor's (its own /proc/version and boot log), that every
hardening flag still holds, and that timeouts and clean-up work as under runc. Debian's
``runsc`` package is installed by .ci/setup-runtimes.sh; CI fails without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.conftest import require_runsc, rootless_runsc_problem
from tests.fixtures.runtime_state import container_names
from tests.hardening.test_setid_plants import setid_entries
from wfcompute_container.core.workloads import CommandWorkload
from wfcompute_container.errors import LimitExceeded
from wfcompute_container.operations.invocations import (
    CommandInvocationOptions,
    build_command_invocation,
)
from wfcompute_container.operations.runs import run_command
from wfcompute_container.operations.sandbox import BUILD_TMPFS, Runtime, SandboxRunRequest
from wfcompute_container.operations.sandbox import run as run_sandbox

pytest_plugins = ["tests.fixtures.sandbox_images"]

GVISOR = Runtime(tool="podman", runtime_name="runsc")


@pytest.fixture(scope="module")
def gvisor_image() -> str:
    require_runsc()
    from tests.fixtures.sandbox_images import ensure_image

    image = ensure_image("podman", "workload")
    problem = rootless_runsc_problem(image)
    if problem is not None:
        pytest.skip(problem)
    return image


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
    gvisor_image: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = anyio.run(run_command, invocation(gvisor_image, workspace, INSIDE), GVISOR)
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


def test_a_gvisor_run_past_its_deadline_is_stopped_and_removed(
    gvisor_image: str, tmp_path: Path, container_name: str
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with pytest.raises(LimitExceeded) as caught:
        anyio.run(
            run_command, invocation(gvisor_image, workspace, "sleep 60", timeout_ms=3000), GVISOR
        )
    assert caught.value.result is not None
    assert container_name not in container_names("podman")


def test_builder_profile_under_gvisor_leaves_no_setid_bits(
    gvisor_image: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    request = SandboxRunRequest.model_validate(
        {
            "image": gvisor_image,
            "command": [
                "sh",
                "-c",
                "cp /bin/busybox /workspace/x && chmod 4755 /workspace/x && touch /workspace/done",
            ],
            "workspace": str(workspace),
            "run_as_root": True,
            "writable_rootfs": True,
            "add_capabilities": ["CHOWN", "FOWNER"],
            "extra_tmpfs": [BUILD_TMPFS],
        }
    )

    async def go() -> object:
        return await run_sandbox(GVISOR, request, timeout=60.0)

    outcome = anyio.run(go)
    assert (workspace / "done").exists(), outcome
    assert setid_entries(workspace) == []
