"""container_build.run on real podman and Docker with a busybox script standing in for a builder.

The stand-in builder (tests/fixtures/sandbox_images.py) reports its environment and privileges
on stderr and produces its digest the way TEST_BUILDER_MODE asks, so each digest path of the
reference (stdout marker, workspace digest file, marker before file) and the missing-digest
error are proven against a real container.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import anyio
import pytest

from tests.conftest import workload_stderr
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import container_names, leftover_paths
from wfcompute_container.core.execution import RuntimeExecutionResult
from wfcompute_container.core.workloads import ContainerBuildWorkload
from wfcompute_container.errors import InvalidInput, LimitExceeded
from wfcompute_container.operations.invocations import (
    ContainerBuildInvocationOptions,
    Invocation,
    build_container_build_invocation,
)
from wfcompute_container.operations.runs import build_env, run_container_build
from wfcompute_container.operations.sandbox import ToolName

pytest_plugins = ["tests.fixtures.sandbox_images"]

P = ParamSpec("P")
T = TypeVar("T")
TAG = "example:test"
TAG_DIGEST = "sha256:" + hashlib.sha256(TAG.encode()).hexdigest()
OTHER_DIGEST = "sha256:" + hashlib.sha256(b"other").hexdigest()


def run(coro_fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    async def call() -> T:
        return await coro_fn(*args, **kwargs)

    return anyio.run(call)


def build_invocation(
    image: str, workspace: Path, mode: str, *, timeout_ms: int | None = None
) -> Invocation:
    return build_container_build_invocation(
        ContainerBuildInvocationOptions(
            task_id="task-1",
            lease_id="lease-1",
            image=image,
            workspace=str(workspace),
            workload=ContainerBuildWorkload.model_validate(
                {
                    "context_directory": "./app/",
                    "tags": [TAG, "example:two"],
                    "push_target_ref": "registry://push",
                    "env": [{"name": "TEST_BUILDER_MODE", "value_ref": "mode"}],
                }
            ),
            resolved_env={"mode": mode},
            timeout_ms=timeout_ms,
        )
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    (path / "app").mkdir()
    (path / "app" / "Dockerfile").write_text("FROM scratch\n")
    return path


def stderr_lines(result: RuntimeExecutionResult, tool: ToolName) -> list[str]:
    return workload_stderr(tool, result.stderr).decode().splitlines()


def test_digest_from_stdout_marker_and_builder_profile(
    backend: RunBackend,
    tool: ToolName,
    builder_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    result = run(
        run_container_build,
        build_invocation(builder_image, workspace, "marker"),
        backend.runtime,
    )
    assert result.artifact_hash == TAG_DIGEST
    assert result.artifacts is None
    lines = stderr_lines(result, tool)
    assert lines[:9] == [
        "WORKFLOW_COMPUTE_BUILD_CONTEXT=app",
        "WORKFLOW_COMPUTE_BUILD_DIGEST_FILE=/wfcompute-build/wfcompute-container-build-digest",
        "WORKFLOW_COMPUTE_BUILD_DOCKERFILE=Dockerfile",
        "WORKFLOW_COMPUTE_BUILD_PULL_TARGET_REF=",
        "WORKFLOW_COMPUTE_BUILD_PUSH=true",
        "WORKFLOW_COMPUTE_BUILD_PUSH_TARGET_REF=registry://push",
        "WORKFLOW_COMPUTE_BUILD_STATE_DIR=/wfcompute-build",
        "WORKFLOW_COMPUTE_BUILD_TAG=example:test",
        'WORKFLOW_COMPUTE_BUILD_TAGS=["example:test","example:two"]',
    ]
    assert "uid=0" in lines
    # CHOWN (bit 0) and FOWNER (bit 3) only.
    assert "CapEff:\t0000000000000009" in lines
    assert "NoNewPrivs:\t1" in lines
    assert "state-dir=writable" in lines
    assert "root=writable" in lines  # the builder profile's writable root filesystem
    assert "pwd=/workspace" in lines
    assert container_name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


def test_digest_from_workspace_file(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    result = run(
        run_container_build, build_invocation(builder_image, workspace, "file"), backend.runtime
    )
    assert result.artifact_hash == TAG_DIGEST
    assert (workspace / ".wfcompute-container-build-digest").read_text() == TAG_DIGEST + "\n"


def test_marker_wins_over_workspace_file(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    result = run(
        run_container_build, build_invocation(builder_image, workspace, "both"), backend.runtime
    )
    assert result.artifact_hash == TAG_DIGEST
    assert (workspace / ".wfcompute-container-build-digest").read_text() == OTHER_DIGEST + "\n"


@pytest.mark.parametrize("mode", ["none", "cleared"])
def test_no_digest_is_an_error_with_the_result(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path, mode: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(
            run_container_build,
            build_invocation(builder_image, workspace, mode),
            backend.runtime,
        )
    assert caught.value.message == (
        "sandboxed container build did not produce a sha256 artifact digest"
    )
    partial = caught.value.result
    assert isinstance(partial, RuntimeExecutionResult)
    assert partial.exit_code == 0
    assert partial.artifact_hash == ""


def test_failed_build_is_a_result(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    result = run(
        run_container_build, build_invocation(builder_image, workspace, "fail"), backend.runtime
    )
    assert result.exit_code == 4
    assert "build failed" in stderr_lines(result, tool)
    assert result.artifact_hash == ""


def test_workspace_modes_relaxed_during_and_restored_after(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    secret_dir = workspace / "app" / "private"
    secret_dir.mkdir()
    secret_dir.chmod(0o700)
    key = secret_dir / "key"
    key.write_text("k")
    key.chmod(0o600)
    setuid = workspace / "app" / "tool"
    setuid.write_text("t")
    setuid.chmod(0o4750)
    workspace.chmod(0o700)
    result = run(
        run_container_build,
        build_invocation(builder_image, workspace, "marker"),
        backend.runtime,
    )
    lines = stderr_lines(result, tool)
    assert "workspace-mode=755" in lines
    assert "key-mode=644" in lines
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
    assert stat.S_IMODE(secret_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Restored, then stripped: no setuid or setgid bit survives a run (docs/SECURITY.md).
    assert stat.S_IMODE(setuid.stat().st_mode) == 0o750


def test_timeout_restores_modes_and_leaves_nothing(
    backend: RunBackend,
    tool: ToolName,
    builder_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    workspace.chmod(0o700)
    invocation = build_invocation(builder_image, workspace, "hang", timeout_ms=3000)
    with pytest.raises(LimitExceeded) as caught:
        run(run_container_build, invocation, backend.runtime)
    assert caught.value.message.startswith("sandboxed container build timed out after 3s: ")
    assert (workspace / "started").exists()
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
    assert container_name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


def test_reserved_env_is_refused() -> None:
    workload = ContainerBuildWorkload.model_validate({"context_directory": ".", "tags": ["t"]})
    with pytest.raises(InvalidInput) as caught:
        build_env(workload, "Dockerfile", False, {"WORKFLOW_COMPUTE_BUILD_DIGEST_FILE": "/x"})
    assert caught.value.message == (
        'reserved workflow-compute build env "WORKFLOW_COMPUTE_BUILD_DIGEST_FILE"'
    )
    env = build_env(workload, "Dockerfile", False, {"USER_VAR": "v"})
    assert env["USER_VAR"] == "v"
    assert env["WORKFLOW_COMPUTE_BUILD_TAGS"] == '["t"]'
    assert env["WORKFLOW_COMPUTE_BUILD_PUSH"] == "false"
    assert len(env) == 10
    assert os.environ.get("USER_VAR") is None


def test_build_env_carries_push_and_pull_target_refs() -> None:
    workload = ContainerBuildWorkload.model_validate(
        {
            "context_directory": ".",
            "tags": ["t"],
            "push_target_ref": "registry.example/push:1",
            "pull_target_ref": "registry.example/pull:1",
        }
    )
    env = build_env(workload, "Dockerfile", True, {})
    assert env["WORKFLOW_COMPUTE_BUILD_PUSH_TARGET_REF"] == "registry.example/push:1"
    assert env["WORKFLOW_COMPUTE_BUILD_PULL_TARGET_REF"] == "registry.example/pull:1"
    assert env["WORKFLOW_COMPUTE_BUILD_PUSH"] == "true"
    assert len(env) == 9


PLANTED = "sha256:" + "e" * 64


@pytest.mark.parametrize("plant", ["file", "symlink"])
def test_a_digest_file_planted_before_the_build_never_names_the_digest(
    backend: RunBackend,
    tool: ToolName,
    builder_image: str,
    workspace: Path,
    tmp_path: Path,
    plant: str,
) -> None:
    digest_file = workspace / ".wfcompute-container-build-digest"
    if plant == "file":
        digest_file.write_text(PLANTED + "\n")
    else:
        outside = tmp_path / "outside-digest"
        outside.write_text(PLANTED + "\n")
        digest_file.symlink_to(outside)
    with pytest.raises(InvalidInput) as caught:
        run(
            run_container_build,
            build_invocation(builder_image, workspace, "none"),
            backend.runtime,
        )
    assert caught.value.message == (
        "sandboxed container build did not produce a sha256 artifact digest"
    )
    assert not digest_file.exists() and not digest_file.is_symlink()
    if plant == "symlink":
        assert (tmp_path / "outside-digest").read_text() == PLANTED + "\n"


def test_a_planted_fifo_does_not_block_the_build(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    os.mkfifo(workspace / ".wfcompute-container-build-digest")
    result = run(
        run_container_build,
        build_invocation(builder_image, workspace, "marker"),
        backend.runtime,
    )
    assert result.exit_code == 0
    assert result.artifact_hash.startswith("sha256:")


def test_a_failed_build_never_yields_a_digest(
    backend: RunBackend, tool: ToolName, builder_image: str, workspace: Path
) -> None:
    result = run(
        run_container_build,
        build_invocation(builder_image, workspace, "filefail"),
        backend.runtime,
    )
    assert result.exit_code == 5
    assert (workspace / ".wfcompute-container-build-digest").exists()
    assert result.artifact_hash == ""
