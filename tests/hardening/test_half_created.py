"""Cancels and deadlines that land while podman is still creating the container.

podman creates the container inside its client process. A SIGKILL landing there left conmon
and `runc init` alive (holding the workspace bind mount) in about one race in eight, with no
trace in `podman ps -a`. The client is now told to stop (SIGTERM) and given a moment first.
Checked by the processes themselves: no conmon names one of this test's containers, and no
`runc init` has this test's workspace mounted.
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import anyio
import pytest

from tests.conftest import require_runtime
from tests.fixtures.sandbox_images import ensure_image
from wfcompute_container.operations.sandbox import (
    CONTAINER_NAME_PREFIX,
    Runtime,
    SandboxRunRequest,
    run,
)

RACES = 20  # per kind; the old code left one in eight: 0 of 40 by chance is p ~ 0.004


def _cmdline(pid: str) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def stragglers(prefix: str, workspace: Path) -> list[str]:
    """conmon processes naming a container with ``prefix``, and `runc init` processes whose
    mounts include ``workspace``."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        argv = _cmdline(pid)
        if not argv:
            continue
        if argv[0].endswith(b"conmon") and any(a.startswith(prefix.encode()) for a in argv):
            found.append(f"conmon {pid}")
        elif len(argv) > 1 and argv[1] == b"init" and argv[0].endswith(b"runc"):
            try:
                with open(f"/proc/{pid}/mountinfo", "rb") as handle:
                    if str(workspace).encode() in handle.read():
                        found.append(f"runc init {pid}")
            except OSError:
                continue
    return found


def test_cancels_and_deadlines_mid_create_leave_no_conmon_or_runc_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_runtime("podman")
    image = ensure_image("podman", "workload")
    prefix = f"{CONTAINER_NAME_PREFIX}race-{uuid.uuid4().hex[:8]}-"
    monkeypatch.setattr(
        "wfcompute_container.operations.sandbox.new_container_name",
        lambda: prefix + uuid.uuid4().hex[:8],
    )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    rng = random.Random(20261206)

    async def races() -> None:
        for index in range(2 * RACES):
            request = SandboxRunRequest(
                image=image, command=["sleep", "30"], workspace=str(workspace), env={"A": "1"}
            )
            # 0.05-0.45 s spans the client's whole create phase on these machines.
            when = rng.uniform(0.05, 0.45)
            if index % 2:
                result = await run(Runtime(tool="podman"), request, timeout=when)
                assert result.stop_reason in ("timeout", "exited"), result
            else:
                with anyio.move_on_after(when):
                    await run(Runtime(tool="podman"), request, timeout=60)
        await anyio.sleep(1)  # what a killed client left would still be there

    anyio.run(races)
    assert stragglers(prefix, workspace) == []
