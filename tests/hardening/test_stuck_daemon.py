"""SIGTERM during a build while the container tool hangs on kill, rm and ps.

A stand-in `docker` on PATH starts "containers" but never answers kill, rm, ps or inspect,
as a wedged daemon does. The plugin must still: remove the env file holding the secret and
restore the workspace modes first (they do not depend on the daemon), answer the cancelled
request `-32800` before it exits, exit 0 within its grace, and leave what the daemon kept
(the container record) to the next start's reaper, in its instance directory.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

from .plugin_process import PluginProcess
from .test_reaper import build_workspace, files_holding, instances, wait_for
from .valid_requests import build_run_params

CANARY = "canary-stuck-daemon-31b5"

FAKE_DOCKER = """#!/bin/sh
case "$1" in
  version) echo "fake docker 1.0"; exit 0 ;;
  run) touch "$FAKE_STARTED"; exec sleep 3600 ;;
  *) exec sleep 3600 ;;
esac
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_sigterm_with_a_hung_daemon_still_removes_secrets_restores_modes_and_answers(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    started = tmp_path / "started"
    state = tmp_path / "state"
    workspace = build_workspace(tmp_path)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_STARTED": str(started),
        "WFCOMPUTE_STATE_DIR": str(state),
    }
    plugin = PluginProcess(env=env, cwd=tmp_path)
    try:
        plugin.initialize()
        params = build_run_params(
            workspace, "docker", "localhost/builder:1", {"USER_SECRET": CANARY}
        )
        plugin.request(1, "container_build.run", params)
        wait_for(started.exists, 60, "the fake container to start")
        assert files_holding(state, CANARY), "the env file exists while the run runs"
        assert mode(workspace) == 0o755
        os.kill(plugin.pid, signal.SIGTERM)
        answer = plugin.wait_answer(1, 15)
        status = plugin.proc.wait(timeout=15)
    finally:
        plugin.kill()
    assert answer["error"]["code"] == -32800, answer
    assert status == 0, plugin.tail()
    # It ended by itself, not by the stop watchdog cutting its clean-up short.
    assert not any("exiting without waiting" in line for line in plugin.stderr_lines)
    assert files_holding(state, CANARY) == []
    assert mode(workspace) == 0o700
    assert mode(workspace / "app" / "private" / "key") == 0o600
    # The container record the daemon kept waits for the next start's reaper.
    (instance,) = instances(state)
    assert (instance / "runtimes.jsonl").exists()
    assert any("left for the next start's reaper" in line for line in plugin.stderr_lines)
    assert not any(CANARY in line for line in plugin.stderr_lines)
