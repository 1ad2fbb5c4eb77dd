"""A root build leaves the workspace as its owner had it (docs/SECURITY.md, boundary 2).

The builder profile runs as container root with CHOWN and FOWNER; with rootful podman or
Docker that is host root for the workspace. Tried as an attacker: a workspace owned by uid
4242, mode 0700, and a build that makes itself a setuid-root copy of a tool, opens the
workspace to everyone, creates root-owned 2777 directories, takes a key file and renames a
directory. After the run, on every ending, nothing of that may remain. The tests drive the
sandbox with the builder's own flags (run_as_root, writable root, CHOWN/FOWNER): the path
`container_build.run` takes (tests/operations/test_runs_build.py runs the builder itself).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fixtures.run_backends import RunBackend
from tests.hardening.test_setid_plants import cancel_once, sandbox, setid_entries
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.sandbox import BUILD_TMPFS, SandboxRunRequest
from wfcompute_container.operations.sandbox import run as run_sandbox

pytest_plugins = ["tests.fixtures.sandbox_images"]

OWNER = (4242, 4242)
ATTACK = (
    "chmod 777 /workspace && cp /workspace/tool /workspace/.t && chmod 4755 /workspace/.t && "
    "mkdir /workspace/open && chmod 2777 /workspace/open && touch /workspace/open/f && "
    "chmod 644 /workspace/key && chown 0:0 /workspace/key && chmod 755 /workspace/sub && "
    "mv /workspace/sub /workspace/moved && touch /workspace/done"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root: the workspace belongs to another uid, container root is host root")
    path = tmp_path / "ws"
    path.mkdir()
    (path / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    (path / "tool").chmod(0o755)
    (path / "key").write_text("secret key\n")
    (path / "key").chmod(0o600)
    (path / "sub").mkdir()
    (path / "sub" / "inner").write_text("x\n")
    (path / "sub").chmod(0o700)
    for entry in [path, *path.rglob("*")]:
        os.lchown(entry, *OWNER)
    path.chmod(0o700)
    return path


def owner_of(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("ending", ["exit 0", "exit 3", "sleep 60"])
def test_a_build_leaves_no_root_files_no_setid_bits_and_every_mode_back(
    backend: RunBackend, workload_image: str, workspace: Path, ending: str
) -> None:
    result = sandbox(
        backend,
        workload_image,
        workspace,
        f"{ATTACK}; {ending}",
        root_profile=True,
        timeout=8.0 if ending.startswith("sleep") else 60.0,
    )
    assert (workspace / "done").exists(), result.stderr
    assert setid_entries(workspace) == []
    # What the build made belongs to the workspace's owner.
    for made in (".t", "open", "open/f", "done"):
        assert owner_of(workspace / made) == OWNER, made
    # What was there is as it was: modes and owners, found by identity after a rename.
    assert mode_of(workspace) == 0o700
    assert owner_of(workspace) == OWNER
    assert (mode_of(workspace / "key"), owner_of(workspace / "key")) == (0o600, OWNER)
    assert mode_of(workspace / "moved") == 0o700
    assert mode_of(workspace / "tool") == 0o755
    assert [p for p in workspace.rglob("*") if p.lstat().st_uid == 0] == []


def test_a_hard_link_planted_during_a_build_does_not_change_hands(
    backend: RunBackend, workload_image: str, workspace: Path, tmp_path: Path
) -> None:
    # The tenant (uid 4242 on the host) links a root-owned file it cannot read into its own
    # workspace while the build runs; the clean-up must not hand that inode to 4242.
    secret = tmp_path / "outside-secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)

    def plant() -> None:
        deadline = time.monotonic() + 30
        while not (workspace / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.link(secret, workspace / "linked")

    planter = threading.Thread(target=plant)
    planter.start()
    sandbox(
        backend,
        workload_image,
        workspace,
        # Root without DAC_OVERRIDE writes only after opening the directory (FOWNER).
        "chmod 777 /workspace; touch /workspace/started; sleep 2; touch /workspace/done",
        root_profile=True,
        timeout=60.0,
    )
    planter.join()
    assert owner_of(secret) == (0, 0)
    assert mode_of(secret) == 0o600
    assert owner_of(workspace / "done") == OWNER


def root_request(image: str, workspace: Path, script: str) -> SandboxRunRequest:
    return SandboxRunRequest.model_validate(
        {
            "image": image,
            "command": ["sh", "-c", script],
            "workspace": str(workspace),
            "run_as_root": True,
            "writable_rootfs": True,
            "add_capabilities": ["CHOWN", "FOWNER"],
            "extra_tmpfs": [BUILD_TMPFS],
        }
    )


def test_overlapping_builds_on_one_workspace_are_refused_and_modes_come_back(
    backend: RunBackend, workload_image: str, workspace: Path
) -> None:
    first = root_request(
        workload_image, workspace, "chmod 777 /workspace; touch /workspace/started; sleep 3"
    )
    second = root_request(workload_image, workspace, "true")
    outcome: dict[str, Any] = {}

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: run_sandbox(backend.runtime, first, timeout=60.0)  # type: ignore[arg-type,return-value]
            )
            with anyio.fail_after(60):
                while not (workspace / "started").exists():
                    await anyio.sleep(0.05)
            # The first run holds the workspace changed: the second must not start.
            assert mode_of(workspace) != 0o700
            try:
                await run_sandbox(backend.runtime, second, timeout=60.0)
            except InvalidInput as exc:
                outcome["refused"] = str(exc)

    anyio.run(both)
    assert outcome["refused"] == (
        "sandbox workspace is in use by another build or root run; "
        "runs that change its modes cannot overlap"
    )
    assert mode_of(workspace) == 0o700
    assert mode_of(workspace / "key") == 0o600
    assert mode_of(workspace / "sub") == 0o700
    # Once the first is done, the workspace is free again.
    sandbox(backend, workload_image, workspace, "true", root_profile=True, timeout=60.0)
    assert mode_of(workspace) == 0o700


def test_a_cancelled_build_leaves_the_workspace_as_its_owner_had_it(
    backend: RunBackend, workload_image: str, workspace: Path
) -> None:
    request = root_request(workload_image, workspace, f"{ATTACK}; sleep 60")
    cancel_once(backend, request, workspace / "done")
    assert setid_entries(workspace) == []
    for made in (".t", "open", "open/f", "done"):
        assert owner_of(workspace / made) == OWNER, made
    assert mode_of(workspace) == 0o700
    assert (mode_of(workspace / "key"), owner_of(workspace / "key")) == (0o600, OWNER)
    assert mode_of(workspace / "moved") == 0o700
