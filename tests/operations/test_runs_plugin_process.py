"""command.run through the real spawned plugin: nothing outlives EOF, exit, cancel or SIGTERM.

The container's name is random per run, so the test reads it from the container tool's
command line (``--name``) while the workload runs, then checks that exact name is gone.
Env files go to the plugin's TMPDIR, a directory of the test's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import plugin_argv
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import container_names, leftover_paths

pytest_plugins = ["tests.fixtures.sandbox_images"]

CANARY = "wfcompute-canary-plugin-77c1"
WAIT_SECONDS = 60.0


def message(msg_id: int | None, method: str, params: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if msg_id is not None:
        body["id"] = msg_id
    if params is not None:
        body["params"] = params
    return (json.dumps(body) + "\n").encode()


def command_run(image: str, workspace: Path, tool: RunBackend, script: str) -> dict[str, Any]:
    return {
        "invocation": {
            "request": {
                "protocol_version": "compute.v1alpha1",
                "task_id": "task-1",
                "lease_id": "lease-1",
                "workload_kind": "command",
                "operation": "run-sandboxed-command",
                "input": {"args": ["sh", "-c", script]},
                "env": {"SECRET_TOKEN": CANARY},
            },
            "image": image,
            "workspace": str(workspace),
            "network": "none",
            "timeout_ms": 120000,
            "timeout_limit_hit": "timeout",
        },
        "runtime": tool.params,
    }


class Plugin:
    def __init__(self, tmp_dir: Path) -> None:
        env = dict(os.environ, TMPDIR=str(tmp_dir))
        self.process = subprocess.Popen(
            plugin_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.stdin = None  # communicate() must not flush it again

    def finish(self) -> tuple[list[dict[str, Any]], str, int]:
        stdout, stderr = self.process.communicate(timeout=WAIT_SECONDS)
        lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
        return lines, stderr.decode(errors="replace"), self.process.returncode


@pytest.fixture
def plugin(private_tmp: Path) -> Iterator[Plugin]:
    started = Plugin(private_tmp)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def wait_for_container(workspace: Path) -> str:
    """The running container's name, read from its tool's command line."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if (workspace / "started").exists():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                except OSError:
                    continue
                mount = f"{workspace}:/workspace:rw"
                if "--name" in argv and any(arg.startswith(mount) for arg in argv):
                    name = argv[argv.index("--name") + 1]
                    assert CANARY not in " ".join(argv)
                    return name
        time.sleep(0.05)
    raise AssertionError("the workload never started")


def start_run(plugin: Plugin, image: str, workspace: Path, tool: RunBackend, script: str) -> str:
    plugin.send(message(0, "initialize", {"protocol_version": "compute.v1alpha1"}))
    plugin.send(message(1, "command.run", command_run(image, workspace, tool, script)))
    return wait_for_container(workspace)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def by_id(lines: list[dict[str, Any]], msg_id: int) -> dict[str, Any]:
    found = [line for line in lines if line.get("id") == msg_id]
    assert len(found) == 1, lines
    return found[0]


def test_eof_then_exit_finishes_the_run_and_leaves_nothing(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: Plugin,
    private_tmp: Path,
) -> None:
    script = 'touch started; sleep 1; printf %s "$SECRET_TOKEN" > seen.txt; echo done'
    name = start_run(plugin, workload_image, workspace, backend, script)
    plugin.close_stdin()
    lines, stderr, status = plugin.finish()
    assert status == 0
    result = by_id(lines, 1)["result"]
    assert result["stdout"] == "ZG9uZQo="  # "done\n"
    assert (workspace / "seen.txt").read_text() == CANARY
    assert CANARY not in stderr
    assert name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


def test_cancel_request_answers_cancelled_and_removes_the_container(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: Plugin,
    private_tmp: Path,
) -> None:
    name = start_run(plugin, workload_image, workspace, backend, "touch started; sleep 120")
    plugin.send(message(None, "$/cancelRequest", {"id": 1}))
    plugin.close_stdin()
    lines, stderr, status = plugin.finish()
    assert status == 0
    assert by_id(lines, 1)["error"]["code"] == -32800
    assert CANARY not in stderr
    assert name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


def test_exit_without_shutdown_cleans_up(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: Plugin,
    private_tmp: Path,
) -> None:
    name = start_run(plugin, workload_image, workspace, backend, "touch started; sleep 120")
    plugin.send(message(None, "exit"))
    _, _, status = plugin.finish()
    assert status == 1
    assert name not in container_names(tool)
    assert leftover_paths(private_tmp) == []


def test_sigterm_cleans_up(
    backend: RunBackend,
    tool: str,
    workload_image: str,
    workspace: Path,
    plugin: Plugin,
    private_tmp: Path,
) -> None:
    name = start_run(plugin, workload_image, workspace, backend, "touch started; sleep 120")
    plugin.process.send_signal(signal.SIGTERM)
    lines, _, status = plugin.finish()
    assert status == 0
    assert by_id(lines, 1)["error"]["code"] == -32800
    assert name not in container_names(tool)
    assert leftover_paths(private_tmp) == []
