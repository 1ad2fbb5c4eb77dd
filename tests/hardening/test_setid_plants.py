"""No setuid or setgid file a workload makes survives its run (docs/SECURITY.md, boundary 2).

As root without a user namespace, container root is host root for the workspace: a
workload that copies a shell there and makes it setuid-root would hand uid 0 to any host
user who runs it. Every path out of a run strips the bits; the walk never follows a link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fixtures.deep_trees import make_deep_chain, remove_deep_chain
from tests.fixtures.run_backends import RunBackend
from wfcompute_container.operations.sandbox import BUILD_TMPFS, SandboxRunRequest
from wfcompute_container.operations.sandbox import run as run_sandbox
from wfcompute_container.operations.sandbox_workspace_modes import strip_setid_bits

pytest_plugins = ["tests.fixtures.sandbox_images"]

PLANT = (
    "cp /bin/busybox /workspace/x && chmod 4755 /workspace/x && "
    "mkdir -p /workspace/d/e && chmod 2775 /workspace/d && "
    "cp /bin/busybox /workspace/d/e/y && chmod 6755 /workspace/d/e/y && touch /workspace/planted"
)


def setid_entries(root: Path) -> list[str]:
    found = []
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(os.path.relpath(os.path.join(directory, name), root))
    return found


def sandbox(
    backend: RunBackend,
    image: str,
    workspace: Path,
    script: str,
    *,
    root_profile: bool,
    timeout: float,
) -> Any:
    fields: dict[str, Any] = {
        "image": image,
        "command": ["sh", "-c", script],
        "workspace": str(workspace),
    }
    if root_profile:
        fields.update(
            run_as_root=True,
            writable_rootfs=True,
            add_capabilities=["CHOWN", "FOWNER"],
            extra_tmpfs=[BUILD_TMPFS],
        )
    request = SandboxRunRequest.model_validate(fields)

    async def go() -> Any:
        return await run_sandbox(backend.runtime, request, timeout=timeout)

    return anyio.run(go)


def cancel_once(backend: RunBackend, request: SandboxRunRequest, marker: Path) -> None:
    """Start the run, wait until the workload has made `marker`, then cancel it."""

    async def go() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: run_sandbox(backend.runtime, request, timeout=120.0)  # type: ignore[arg-type,return-value]
            )
            with anyio.fail_after(60):
                while not marker.exists():
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    anyio.run(go)


@pytest.mark.parametrize("root_profile", [False, True], ids=["command", "builder"])
@pytest.mark.parametrize("ending", ["exit 0", "exit 3", "sleep 60"])
def test_planted_setid_bits_are_gone_after_every_ending(
    backend: RunBackend, workload_image: str, tmp_path: Path, root_profile: bool, ending: str
) -> None:
    if os.getuid() != 0:
        pytest.skip("the plant needs container root mapped to host root (plugin as root)")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = sandbox(
        backend,
        workload_image,
        workspace,
        f"{PLANT}; {ending}",
        root_profile=root_profile,
        timeout=5.0 if ending.startswith("sleep") else 60.0,
    )
    assert (workspace / "planted").exists(), result.stderr
    assert (workspace / "x").stat().st_uid == 0
    assert setid_entries(workspace) == []
    if ending == "sleep 60":
        assert result.stop_reason == "timeout"


def test_cancelled_run_is_stripped_too(
    backend: RunBackend, workload_image: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    request = SandboxRunRequest.model_validate(
        {
            "image": workload_image,
            "command": ["sh", "-c", f"{PLANT}; sleep 60"],
            "workspace": str(workspace),
        }
    )

    cancel_once(backend, request, workspace / "planted")
    assert setid_entries(workspace) == []


def test_strip_never_follows_links_and_leaves_outside_files_alone(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    outside = tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    target = outside / "sudo"
    target.write_bytes(b"x")
    target.chmod(0o4755)
    (workspace / "link").symlink_to(target)
    (workspace / "dirlink").symlink_to(outside)
    os.link(target, workspace / "hard")
    os.mkfifo(workspace / "fifo")
    os.chmod(workspace / "fifo", 0o2644)
    inner = workspace / "a" / "b"
    inner.mkdir(parents=True)
    (inner / "suid").write_bytes(b"y")
    (inner / "suid").chmod(0o6750)
    (workspace / "a").chmod(0o2755)

    changed = strip_setid_bits(str(workspace))

    assert stat.S_IMODE(target.stat().st_mode) == 0o4755
    assert not (workspace / "hard").exists()  # unlinked, not chmodded: the inode is shared
    assert stat.S_IMODE((inner / "suid").stat().st_mode) == 0o750
    assert stat.S_IMODE((workspace / "a").stat().st_mode) == 0o755
    assert (workspace / "link").is_symlink()
    assert changed == 3
    assert stat.S_ISFIFO(os.lstat(workspace / "fifo").st_mode)


def test_strip_walks_deep_trees_without_recursion(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    fd = make_deep_chain(workspace, 3000)
    try:
        leaf = os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.fchmod(leaf, 0o4755)
        os.close(leaf)
        assert strip_setid_bits(str(workspace)) == 1
        assert stat.S_IMODE(os.stat("f", dir_fd=fd).st_mode) == 0o755
    finally:
        os.close(fd)
        remove_deep_chain(workspace)


def test_relax_and_restore_walk_deep_trees_without_recursion(tmp_path: Path) -> None:
    from wfcompute_container.operations.sandbox_workspace_modes import relax_workspace_modes

    workspace = tmp_path / "ws"
    workspace.mkdir()
    fd = make_deep_chain(workspace, 3000, mode=0o700)
    try:
        leaf = os.open("key", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd)
        os.close(leaf)
        restore = relax_workspace_modes(str(workspace))
        assert stat.S_IMODE(os.stat("key", dir_fd=fd).st_mode) == 0o644
        restore()
        assert stat.S_IMODE(os.stat("key", dir_fd=fd).st_mode) == 0o600
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o700
    finally:
        os.close(fd)
        remove_deep_chain(workspace)
