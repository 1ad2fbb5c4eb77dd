"""A plugin killed with SIGKILL mid-run: the next start reaps everything, and nothing else.

Real podman and Docker. What the killed plugin leaves is checked first (so the test proves the
reaper did the work): the running container, the env file holding the secret, the relaxed
workspace, the journal. Then a new plugin starts, and all of it goes; a live plugin's run
beside it is not touched.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import plugin_argv, require_runtime
from tests.fixtures.run_backends import RUN_BACKENDS, TOOLS, RunBackend
from tests.fixtures.sandbox_images import ensure_image, require_backend
from wfcompute_container.runtime_io.instance_state import LABEL_INSTANCE

from .plugin_process import PluginProcess
from .valid_requests import build_run_params, command_run_params

CANARY = "canary-reaper-77d1e0"


def labelled(tool: str, instance: str) -> list[str]:
    listing = subprocess.run(
        [
            tool,
            "ps",
            "-a",
            "--filter",
            f"label={LABEL_INSTANCE}={instance}",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def files_holding(root: Path, needle: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                pass
    return found


def instances(state: Path) -> list[Path]:
    return sorted(path for path in state.iterdir()) if state.exists() else []


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.2)


def build_workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    (workspace / "app" / "private").mkdir(parents=True)
    (workspace / "app" / "Dockerfile").write_text("FROM scratch\n")
    key = workspace / "app" / "private" / "key"
    key.write_text("key\n")
    key.chmod(0o600)
    (workspace / "app" / "private").chmod(0o700)
    workspace.chmod(0o700)
    return workspace


def start_and_kill(
    tmp_path: Path, state: Path, method: str, params: dict[str, Any], started: Path
) -> str:
    """Start a run in a fresh plugin, SIGKILL the plugin once the workload runs; the instance id."""
    plugin = PluginProcess(env={"WFCOMPUTE_STATE_DIR": str(state)}, cwd=tmp_path)
    try:
        plugin.initialize()
        plugin.request(1, method, params)
        wait_for(started.exists, 90, "the workload to start")
        os.kill(plugin.pid, signal.SIGKILL)
        plugin.proc.wait(timeout=30)
    finally:
        plugin.kill()
    (instance,) = instances(state)
    return instance.name


@pytest.mark.parametrize("tool", TOOLS)
def test_kill_9_mid_build_is_reaped_by_the_next_serve(tmp_path: Path, tool: str) -> None:
    require_runtime(tool)
    image = ensure_image(tool, "builder")
    state = tmp_path / "state"
    workspace = build_workspace(tmp_path)
    params = build_run_params(
        workspace, tool, image, {"TEST_BUILDER_MODE": "hang", "USER_SECRET": CANARY}
    )
    instance = start_and_kill(tmp_path, state, "container_build.run", params, workspace / "started")

    # What the dead plugin left: its container still runs, the secret is on disk, the
    # workspace is relaxed and the relaxation journalled.
    assert labelled(tool, instance), "the killed plugin's container should still exist"
    assert files_holding(state, CANARY), "the env file should still hold the secret"
    assert mode(workspace) == 0o755 and mode(workspace / "app" / "private" / "key") == 0o644
    assert list((state / instance).glob("modes-*.jsonl"))

    second = PluginProcess(env={"WFCOMPUTE_STATE_DIR": str(state)}, cwd=tmp_path)
    try:
        second.initialize()
        wait_for(lambda: not (state / instance).exists(), 90, "the dead instance to be reaped")
        assert labelled(tool, instance) == []
        assert files_holding(state, CANARY) == []
        assert mode(workspace) == 0o700
        assert mode(workspace / "app" / "private") == 0o700
        assert mode(workspace / "app" / "private" / "key") == 0o600
        assert any("reaped dead plugin instance" in line for line in second.stderr_lines)
        assert not any(CANARY in line for line in second.stderr_lines)
        assert second.finish() == 0
    finally:
        second.kill()
    # A clean exit leaves no instance directory of its own.
    assert instances(state) == []


def leftovers(state: Path, *args: str) -> tuple[int, Any]:
    done = subprocess.run(
        plugin_argv("leftovers", "--json", *args),
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "WFCOMPUTE_STATE_DIR": str(state)},
        check=False,
    )
    assert CANARY not in done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("backend", RUN_BACKENDS, ids=str)
def test_leftovers_shows_then_reaps_a_killed_command_run(
    tmp_path: Path, backend: RunBackend
) -> None:
    """SIGKILL the plugin mid-run: `leftovers` shows what it left, `--reap` removes the
    container and the secret env file; under runsc, gVisor's sandbox process goes too."""
    require_backend(backend)
    tool = backend.tool
    image = ensure_image(tool, "workload")
    state = tmp_path / "state"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    params = command_run_params(
        workspace, backend, image, ["sh", "-c", "touch started; sleep 600"], {"TOKEN": CANARY}
    )
    instance = start_and_kill(tmp_path, state, "command.run", params, workspace / "started")
    sandbox_pid = gvisor_sandbox_pid(tool, instance) if backend.gvisor else None

    status, shown = leftovers(state)
    assert status == 1
    (found,) = shown["instances"]
    assert found["id"] == instance
    assert found["env_dirs"] == 1
    assert found["runtimes"] == [{"tool": tool, "scope_args": []}]
    assert not found["removed"]
    assert labelled(tool, instance), "showing must not remove anything"

    status, reaped = leftovers(state, "--reap")
    assert status == 0, reaped
    (found,) = reaped["instances"]
    assert found["removed"] and len(found["containers"]) == 1 and found["containers_left"] == []
    assert labelled(tool, instance) == []
    assert files_holding(state, CANARY) == []
    assert not (state / instance).exists()
    status, after = leftovers(state)
    assert (status, after["instances"]) == (0, [])
    if sandbox_pid is not None:
        assert (
            not Path(f"/proc/{sandbox_pid}").exists()
            or b"runsc-sandbox" not in Path(f"/proc/{sandbox_pid}/cmdline").read_bytes()
        )


def gvisor_sandbox_pid(tool: str, instance: str) -> str:
    """The host pid of the instance's one container: gVisor's runsc-sandbox process."""
    (name,) = labelled(tool, instance)
    pid = subprocess.run(
        [tool, "inspect", "--format", "{{.State.Pid}}", name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"runsc-sandbox")
    return pid


@pytest.mark.parametrize("tool", TOOLS)
def test_a_start_beside_a_live_plugin_leaves_its_run_alone(tmp_path: Path, tool: str) -> None:
    require_runtime(tool)
    image = ensure_image(tool, "workload")
    state = tmp_path / "state"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {"WFCOMPUTE_STATE_DIR": str(state)}
    live = PluginProcess(env=env, cwd=tmp_path)
    try:
        live.initialize()
        script = 'touch started; while [ ! -e go ]; do sleep 0.1; done; printf %s "$TOKEN"'
        live.request(
            1,
            "command.run",
            command_run_params(workspace, tool, image, ["sh", "-c", script], {"TOKEN": CANARY}),
        )
        wait_for((workspace / "started").exists, 90, "the live run to start")
        (instance,) = instances(state)
        _, shown = leftovers(state, "--reap", "--orphans")
        assert shown["instances"] == []
        # Other tests' killed plugins may have left orphans; never the live one's container.
        assert [o for o in shown["orphans"] if o["instance"] == instance.name] == []
        other = PluginProcess(env=env, cwd=tmp_path)
        try:
            other.initialize()
            time.sleep(2)  # give its reaper the time to (wrongly) act
            assert other.finish() == 0
        finally:
            other.kill()
        assert labelled(tool, instance.name)
        assert files_holding(state, CANARY)
        (workspace / "go").touch()
        answer = live.wait_answer(1, 120)
        assert "error" not in answer and answer["result"].get("exit_code", 0) == 0, answer
        # The run read its env: the env file was still there when the container started.
        assert base64.b64decode(answer["result"]["stdout"]).decode() == CANARY
    finally:
        live.kill()
