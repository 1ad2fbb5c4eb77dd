"""command.run on real podman and Docker: what the sandbox flags promise, seen from inside.

Every test runs once per runtime (``tool`` fixture); a missing runtime skips locally and
fails in CI. Leftovers are checked by the exact container name of the run (pinned through
``container_name``) and by the test's private temp dir (env files).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio
import pytest

from tests.conftest import limits_ignored, require_runtime, workload_stderr
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import container_names, leftover_paths
from wfcompute_container.core.execution import RuntimeExecutionResult
from wfcompute_container.core.resources import ResourceLimits
from wfcompute_container.core.workloads import CommandWorkload
from wfcompute_container.errors import (
    InvalidInput,
    LimitExceeded,
    RuntimeFailure,
    RuntimeUnavailable,
)
from wfcompute_container.operations.invocations import (
    CommandInvocationOptions,
    Invocation,
    build_command_invocation,
)
from wfcompute_container.operations.runs import run_command
from wfcompute_container.operations.sandbox import Runtime, SandboxRunRequest, ToolName
from wfcompute_container.operations.sandbox import run as run_sandbox

pytest_plugins = ["tests.fixtures.sandbox_images"]

P = ParamSpec("P")
T = TypeVar("T")
CANARY = "wfcompute-canary-3b1f9e"


def run(coro_fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    async def call() -> T:
        return await coro_fn(*args, **kwargs)

    return anyio.run(call)


def invocation(
    image: str,
    workspace: Path,
    script: str,
    *,
    env: dict[str, str] | None = None,
    timeout_ms: int | None = None,
    limits: ResourceLimits | None = None,
    **workload: Any,
) -> Invocation:
    env = env or {}
    return build_command_invocation(
        CommandInvocationOptions(
            task_id="task-1",
            lease_id="lease-1",
            image=image,
            workspace=str(workspace),
            workload=CommandWorkload.model_validate(
                {
                    "args": ["sh", "-c", script],
                    "env": [{"name": name, "secret_ref": f"ref-{name}"} for name in env],
                    **workload,
                }
            ),
            resolved_env={f"ref-{name}": value for name, value in env.items()},
            timeout_ms=timeout_ms,
            limits=limits,
        )
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    # The sandbox runs as our uid; the workspace must be writable by it (it is: we own it).
    return path


def assert_nothing_left(tool: ToolName, name: str, private_tmp: Path) -> None:
    assert name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


HARDENING_REPORT = r"""
echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -d '\t'
# gVisor's /proc/self/status has no NoNewPrivs line; prctl answers through setpriv.
grep -q '^NoNewPrivs' /proc/self/status || setpriv -d | sed -n 's/^no_new_privs: */NoNewPrivs:/p'
if touch /rootfs-write 2>/dev/null; then echo root=writable; else echo root=readonly; fi
cp /bin/busybox /tmp/bb && if /tmp/bb true 2>/dev/null; then echo tmp=exec; else echo tmp=noexec; fi
echo "uid=$(id -u):$(id -g)"
echo "pwd=$(pwd)"
echo "pids.max=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
echo written > "$PWD/out.txt"
"""


def report_lines(result: RuntimeExecutionResult) -> dict[str, str]:
    lines = (result.stdout or b"").decode().splitlines()
    return dict(line.split("=", 1) if "=" in line else line.split(":", 1) for line in lines)


def test_flags_hold_inside_the_container(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    (workspace / "work").mkdir()
    result = run(
        run_command,
        invocation(
            workload_image,
            workspace,
            HARDENING_REPORT,
            working_directory="work",
            artifact_allowlist=["out.txt"],
        ),
        backend.runtime,
    )
    report = report_lines(result)
    assert result.exit_code == 0, result.stderr
    assert report["ifaces"].split() == ["lo"]
    assert report["CapEff"] == "0000000000000000"
    assert report["NoNewPrivs"] == "1"
    assert report["root"] == "readonly"
    assert report["tmp"] == "noexec"
    assert report["uid"] == f"{os.getuid()}:{os.getgid()}"
    assert report["pwd"] == "/workspace/work"
    # Rootless podman on cgroup v1 applies no limit and the cgroup files are not there.
    # gVisor shows no cgroup files inside: its limits bound the sandbox's host process, which
    # the gVisor probe reads from the host (tests/operations/test_probes_real.py).
    hidden = limits_ignored(tool) or backend.gvisor
    assert report["pids.max"] == ("" if hidden else "256")
    assert (workspace / "work" / "out.txt").read_text() == "written\n"
    assert result.artifacts == ["out.txt"]
    assert result.artifact_hash.startswith("sha256:")
    assert result.resource_usage.workspace_bytes == len("written\n")
    assert result.resource_usage.output_bytes == len(result.stdout or b"") + len(
        result.stderr or b""
    )
    assert result.finished_at >= result.started_at
    assert_nothing_left(tool, container_name, private_tmp)


def test_non_zero_exit_is_a_result(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    result = run(
        run_command,
        invocation(workload_image, workspace, "echo out; echo err >&2; exit 3"),
        backend.runtime,
    )
    assert result.exit_code == 3
    assert result.stdout == b"out\n"
    assert workload_stderr(tool, result.stderr) == b"err\n"
    assert_nothing_left(tool, container_name, private_tmp)


def test_env_reaches_the_workload_but_never_the_tool_command_line(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    seen_tool_cmdlines: list[list[str]] = []
    canary_in_cmdline: list[str] = []

    async def watch_processes(done: anyio.Event) -> None:
        while not done.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    raw = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                argv = raw.decode(errors="replace").split("\0")
                if CANARY in raw.decode(errors="replace"):
                    canary_in_cmdline.append(entry.name)
                if container_name in argv:
                    seen_tool_cmdlines.append(argv)
            await anyio.sleep(0.05)

    async def scenario() -> RuntimeExecutionResult:
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(watch_processes, done)
            try:
                result = await run_command(
                    invocation(
                        workload_image,
                        workspace,
                        'printf %s "$SECRET_TOKEN" > canary.txt; sleep 2',
                        env={"SECRET_TOKEN": CANARY},
                    ),
                    backend.runtime,
                )
            finally:
                done.set()
        return result

    result = anyio.run(scenario)
    assert result.exit_code == 0
    assert (workspace / "canary.txt").read_text() == CANARY
    assert seen_tool_cmdlines, "the tool process was never seen while the container ran"
    assert any("--env-file" in argv for argv in seen_tool_cmdlines)
    assert canary_in_cmdline == []
    assert_nothing_left(tool, container_name, private_tmp)


def test_timeout_kills_and_removes_the_container(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    with pytest.raises(LimitExceeded) as caught:
        run(
            run_command,
            invocation(
                workload_image, workspace, "echo started; sleep 60", env={"A": "1"}, timeout_ms=1500
            ),
            backend.runtime,
        )
    assert caught.value.message == (
        "sandboxed command timed out after 1.5s: context deadline exceeded"
    )
    partial = caught.value.result
    assert isinstance(partial, RuntimeExecutionResult)
    assert partial.resource_usage.limit_hit == "timeout"
    assert_nothing_left(tool, container_name, private_tmp)


def test_output_limit_stops_the_run(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    with pytest.raises(LimitExceeded) as caught:
        run(
            run_command,
            invocation(
                workload_image,
                workspace,
                "yes",
                env={"A": "1"},
                limits=ResourceLimits(output_bytes=4096),
            ),
            backend.runtime,
        )
    partial = caught.value.result
    assert isinstance(partial, RuntimeExecutionResult)
    assert partial.resource_usage.limit_hit == "output_bytes"
    assert partial.resource_usage.output_bytes == 4096
    assert caught.value.message == "sandboxed command output exceeded 4096 bytes"
    assert_nothing_left(tool, container_name, private_tmp)


def test_cancel_kills_and_removes_the_container(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(
                run_command,
                invocation(workload_image, workspace, "touch started; sleep 60", env={"A": "1"}),
                backend.runtime,
            )
            with anyio.fail_after(60):
                while not (workspace / "started").exists():
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    anyio.run(scenario)
    assert_nothing_left(tool, container_name, private_tmp)


def test_missing_image_is_a_tool_failure(
    backend: RunBackend,
    tool: ToolName,
    workload_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        run(
            run_command,
            invocation("localhost/wfcompute-no-such-image:0", workspace, "true", env={"A": "1"}),
            backend.runtime,
        )
    assert caught.value.message.startswith("exit status 125: ")
    partial = caught.value.result
    assert isinstance(partial, RuntimeExecutionResult)
    assert partial.exit_code == 125
    assert_nothing_left(tool, container_name, private_tmp)


def test_stdin_and_entrypoint_override_through_the_sandbox(
    backend: RunBackend,
    tool: ToolName,
    entrypoint_image: str,
    workspace: Path,
    container_name: str,
    private_tmp: Path,
) -> None:
    by_entrypoint = run(
        run_sandbox,
        backend.runtime,
        SandboxRunRequest(image=entrypoint_image, command=["a", "b"], workspace=str(workspace)),
        timeout=60,
    )
    assert by_entrypoint.stdout == b"entrypoint saw: a b\n"
    overridden = run(
        run_sandbox,
        backend.runtime,
        SandboxRunRequest(
            image=entrypoint_image,
            command=["/bin/sh", "-c", "cat; echo"],
            workspace=str(workspace),
            entrypoint_override=True,
            stdin=b"from stdin",
        ),
        timeout=60,
    )
    assert overridden.stdout == b"from stdin\n"
    assert overridden.failure is None
    assert_nothing_left(tool, container_name, private_tmp)


def test_artifact_symlink_component_is_refused_with_the_result(
    backend: RunBackend, tool: ToolName, workload_image: str, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "out.txt").write_text("x")
    (workspace / "link").symlink_to(outside)
    with pytest.raises(InvalidInput) as caught:
        run(
            run_command,
            invocation(workload_image, workspace, "echo ran", artifact_allowlist=["link/out.txt"]),
            backend.runtime,
        )
    assert "is a symlink" in caught.value.message
    partial = caught.value.result
    assert isinstance(partial, RuntimeExecutionResult)
    assert partial.stdout == b"ran\n"


def test_missing_tool_is_unavailable(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(RuntimeUnavailable) as caught:
        run(run_command, invocation("img", workspace, "true"), Runtime(tool="podman"))
    assert caught.value.message == (
        'sandbox runtime unavailable: exec: "podman": executable file not found in $PATH'
    )


FAKE_NERDCTL = """#!/bin/sh
# Fake nerdctl (nerdctl cannot be installed on this machine): records its arguments.
printf '%s\\n' "$*" >> "$FAKE_NERDCTL_LOG"
case "$*" in
  version) echo "nerdctl version 1.7.0" ;;
  *" run "*) echo "workload output" ;;
esac
exit 0
"""


def test_nerdctl_through_a_fake_executable(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_tmp: Path
) -> None:
    """nerdctl cannot be installed here (RUNTIMES.md): a fake on PATH records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nerdctl"
    fake.write_text(FAKE_NERDCTL)
    fake.chmod(0o755)
    log = tmp_path / "nerdctl.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NERDCTL_LOG", str(log))
    result = run(
        run_command,
        invocation("localhost/img:1", workspace, "true", env={"TOKEN": CANARY}),
        Runtime(tool="nerdctl", scope=["--namespace", "wfcompute-x"]),
    )
    assert result.stdout == b"workload output\n"
    calls = log.read_text().splitlines()
    assert calls[0] == "version"
    run_call = calls[1].split(" ")
    assert run_call[:6] == ["--namespace", "wfcompute-x", "run", "--rm", "--name", run_call[5]]
    assert run_call[5].startswith("wfcompute-run-")
    assert "--env-file" in run_call
    assert CANARY not in calls[1]
    assert run_call[-4:] == ["localhost/img:1", "sh", "-c", "true"]
    assert len(calls) == 2  # a clean exit needs no removal
    assert leftover_paths(private_tmp) == []


def test_workspace_modes_untouched_for_command_runs(
    backend: RunBackend, tool: ToolName, workload_image: str, workspace: Path
) -> None:
    workspace.chmod(0o700)
    run(run_command, invocation(workload_image, workspace, "true"), backend.runtime)
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700


def test_docker_without_a_daemon_is_unavailable_without_the_socket_path(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require_runtime("docker")
    socket = tmp_path / "home" / "someone" / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    with pytest.raises(RuntimeUnavailable) as caught:
        run(run_command, invocation("img", workspace, "true"), Runtime(tool="docker"))
    message = caught.value.message
    assert message.startswith("sandbox runtime unavailable: exit status 1: ")
    assert "docker.sock" not in message
    assert str(tmp_path) not in message
