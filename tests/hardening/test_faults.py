"""Faults during real runs: each ends in a specified answer or exit, with nothing left behind.

SIGTERM to the plugin, the host closing stdout, the container tool's client killed, the
workspace deleted, and a full disk under the env file. "Nothing left" is checked by the
containers mounting the test's directories (other sessions may run containers meanwhile)
and by the plugin's private TMPDIR being empty.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import plugin_argv
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import leftover_paths
from wfcompute_container.core.execution import RuntimeExecutionRequest
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations import sandbox_env_file
from wfcompute_container.operations.invocations import Invocation
from wfcompute_container.operations.runs import run_command
from wfcompute_container.operations.sandbox import Runtime

from .leak_watch import read_cmdlines
from .leftovers import containers_under, env_files_under
from .plugin_process import PluginProcess, id_key, request_line
from .valid_requests import command_run_params

pytest_plugins = ["tests.fixtures.sandbox_images"]

CANARY = "canary-fault-91d0e4"
WAIT_SECONDS = 60.0
STOP_SECONDS = 15.0  # docs/PROTOCOL.md §2: exit within 10 s of a signal or closed stdout


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def plugin_tmp(tmp_path: Path) -> Path:
    path = tmp_path / "plugin-tmp"
    path.mkdir()
    return path


@pytest.fixture
def plugin(plugin_tmp: Path, tmp_path: Path) -> Iterator[PluginProcess]:
    started = PluginProcess("--log-level", "debug", env={"TMPDIR": str(plugin_tmp)}, cwd=tmp_path)
    yield started
    started.kill()


def wait_for_client(workspace: Path) -> tuple[int, str]:
    """(pid, container name) of the tool client running the workload in ``workspace``."""
    mount = f"{workspace}:/workspace:rw"
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if (workspace / "started").exists():
            for pid, argv in read_cmdlines().items():
                if "--name" in argv and any(arg.startswith(mount) for arg in argv):
                    assert CANARY not in "\0".join(argv)
                    return pid, argv[argv.index("--name") + 1]
        time.sleep(0.05)
    raise AssertionError("the workload never started")


def start_run(
    plugin: PluginProcess,
    tool: str | RunBackend,
    image: str,
    workspace: Path,
    script: str,
    **extra: Any,
) -> tuple[int, str]:
    plugin.initialize()
    params = command_run_params(
        workspace, tool, image, ["sh", "-c", script], {"SECRET_TOKEN": CANARY}
    )
    params["invocation"]["request"]["input"].update(extra)
    plugin.request(1, "command.run", params)
    return wait_for_client(workspace)


def assert_nothing_left(tool: str, tmp_path: Path, plugin_tmp: Path, stderr: str) -> None:
    assert containers_under(tool, tmp_path) == []
    assert env_files_under(plugin_tmp) == []
    assert leftover_paths(plugin_tmp) == []
    assert CANARY not in stderr
    assert "Traceback" not in stderr, stderr[-3000:]


def test_sigterm_mid_run_answers_cancelled_and_exits_0(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: PluginProcess,
    tmp_path: Path,
    plugin_tmp: Path,
) -> None:
    start_run(plugin, backend, workload_image, workspace, "touch started; sleep 120")
    assert containers_under(tool, tmp_path) != []  # the container is really there
    plugin.proc.send_signal(signal.SIGTERM)
    status = plugin.proc.wait(timeout=STOP_SECONDS)
    plugin.finish()
    assert status == 0, plugin.tail()
    answer = plugin.by_id[id_key(1)]
    assert answer["error"]["code"] == -32800, answer
    assert plugin.answers[id_key(1)] == 1
    assert_nothing_left(tool, tmp_path, plugin_tmp, plugin.stderr_text)


def test_host_closing_stdout_mid_run_stops_the_plugin_and_removes_the_container(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    tmp_path: Path,
    plugin_tmp: Path,
) -> None:
    env = dict(os.environ, TMPDIR=str(plugin_tmp))
    env.pop("WFCOMPUTE_LOG_LEVEL", None)
    proc = subprocess.Popen(
        plugin_argv("--log-level", "debug"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(request_line(0, "initialize", {"protocol_version": "compute.v1alpha1"}))
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 0
        params = command_run_params(
            workspace,
            backend,
            workload_image,
            ["sh", "-c", "touch started; sleep 120"],
            {"SECRET_TOKEN": CANARY},
        )
        proc.stdin.write(request_line(1, "command.run", params))
        proc.stdin.flush()
        wait_for_client(workspace)
        proc.stdout.close()  # the host goes away; stdin stays open
        proc.wait(timeout=STOP_SECONDS)
        stderr = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_nothing_left(tool, tmp_path, plugin_tmp, stderr)


def test_container_tool_killed_mid_run_is_a_runtime_error(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: PluginProcess,
    tmp_path: Path,
    plugin_tmp: Path,
) -> None:
    pid, _ = start_run(plugin, backend, workload_image, workspace, "touch started; sleep 120")
    os.kill(pid, signal.SIGKILL)
    answer = plugin.wait_answer(1, WAIT_SECONDS)
    status = plugin.finish()
    assert status == 0
    error = answer["error"]
    assert error["code"] == -32013, answer
    assert error["message"].startswith("signal: killed"), answer
    assert error["data"]["result"]["exit_code"] == -1
    assert_nothing_left(tool, tmp_path, plugin_tmp, plugin.stderr_text)


def test_workspace_deleted_mid_run_is_a_clear_error(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: PluginProcess,
    tmp_path: Path,
    plugin_tmp: Path,
) -> None:
    start_run(
        plugin,
        backend,
        workload_image,
        workspace,
        "touch started; sleep 2; echo late > out.txt; echo done",
        artifact_allowlist=["out.txt"],
    )
    shutil.rmtree(workspace)
    answer = plugin.wait_answer(1, WAIT_SECONDS)
    status = plugin.finish()
    assert status == 0
    error = answer.get("error")
    assert error is not None, answer
    assert error["code"] == -32010, answer
    assert error["message"] == f"lstat {workspace}: no such file or directory", answer
    assert "result" in error["data"]  # the container did run
    assert_nothing_left(tool, tmp_path, plugin_tmp, plugin.stderr_text)


class _FullDiskFile:
    """A file on a full disk: writes are buffered, the flush fails with ENOSPC."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _FullDiskFile:
        return self

    def write(self, data: bytes) -> int:
        return len(data)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _OsOnFullDisk:
    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def fdopen(fd: int, mode: str = "r") -> _FullDiskFile:
        return _FullDiskFile(fd)


def test_env_file_on_a_full_disk_is_a_clear_error_in_process(
    backend: RunBackend, tool: str, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "tmpdir"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setattr(sandbox_env_file, "os", _OsOnFullDisk())
    invocation = Invocation.model_validate(
        command_run_params(workspace, tool, "img", ["true"], {"SECRET_TOKEN": CANARY})["invocation"]
    )
    assert isinstance(invocation.request, RuntimeExecutionRequest)

    async def attempt() -> None:
        await run_command(invocation, Runtime.model_validate(backend.params))

    with pytest.raises(InvalidInput) as caught:
        anyio.run(attempt)
    message = caught.value.message
    assert message == "write sandbox env file: no space left on device"
    assert CANARY not in message
    assert leftover_paths(private) == []
    assert containers_under(tool, tmp_path) == []


def fill_up(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (needs mount rights: root here, skipped with the reason elsewhere)."""
    mount_point = tmp_path / "tiny-tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_env_file_on_a_full_tmpfs_through_the_plugin(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    tiny_tmpfs: Path,
    tmp_path: Path,
) -> None:
    """TMPDIR fills up while the plugin serves: the next run's env file cannot be written.

    The first run happens on the empty tmpfs so that Python settles on it as the temp dir
    (a temp dir that is full at start-up would be passed over for /tmp).
    """
    plugin = PluginProcess("--log-level", "debug", env={"TMPDIR": str(tiny_tmpfs)}, cwd=tmp_path)
    try:
        plugin.initialize()
        plugin.request(
            1,
            "command.run",
            command_run_params(workspace, backend, workload_image, ["true"], {"SECRET_TOKEN": "x"}),
        )
        first = plugin.wait_answer(1, WAIT_SECONDS)
        assert "result" in first, first
        fill_up(tiny_tmpfs)
        plugin.request(
            2,
            "command.run",
            command_run_params(
                workspace, backend, workload_image, ["true"], {"SECRET_TOKEN": CANARY * 512}
            ),
        )
        answer = plugin.wait_answer(2, WAIT_SECONDS)
        status = plugin.finish()
    finally:
        plugin.kill()
    assert status == 0
    error = answer["error"]
    assert error["code"] == -32010, answer
    assert error["message"] == "write sandbox env file: no space left on device", answer
    assert CANARY not in json.dumps(answer)
    assert CANARY not in plugin.stderr_text
    assert [p.name for p in leftover_paths(tiny_tmpfs)] == ["filler"]
    assert containers_under(tool, tmp_path) == []
