"""A podman container cannot outlive its deadline, even when the plugin is killed hard.

The tool client runs in a session of its own, so `kill -9` of the plugin leaves `podman run`
and its container alive. podman runs carry `--timeout` (the deadline plus a grace), so podman
itself stops and removes the container. Docker has no such flag (docs/SECURITY.md §4).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.conftest import require_runtime
from tests.fixtures.runtime_state import container_names
from wfcompute_container.operations.sandbox import RUNTIME_DEADLINE_GRACE_SECONDS

from .leak_watch import read_cmdlines
from .plugin_process import PluginProcess
from .valid_requests import command_run_params

pytest_plugins = ["tests.fixtures.sandbox_images"]


def test_killed_plugin_leaves_no_podman_container_past_its_deadline(tmp_path: Path) -> None:
    require_runtime("podman")
    from tests.fixtures.sandbox_images import ensure_image

    image = ensure_image("podman", "workload")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    plugin = PluginProcess(cwd=tmp_path)
    name = ""
    try:
        plugin.initialize()
        params = command_run_params(
            workspace, "podman", image, ["sh", "-c", "touch started; sleep 600"], timeout_ms=2000
        )
        plugin.request(1, "command.run", params)
        deadline = time.monotonic() + 60
        while not name and time.monotonic() < deadline:
            if (workspace / "started").exists():
                for argv in read_cmdlines().values():
                    mount = f"{workspace}:/workspace:"
                    if "--name" in argv and any(a.startswith(mount) for a in argv):
                        assert argv[argv.index("--timeout") + 1] == str(
                            2 + RUNTIME_DEADLINE_GRACE_SECONDS
                        )
                        name = argv[argv.index("--name") + 1]
            time.sleep(0.05)
        assert name, "the run's podman client was not found"
        os.kill(plugin.pid, signal.SIGKILL)
        plugin.proc.wait(timeout=30)
        # No plugin is alive now: only podman's own --timeout can end the container.
        gone_by = time.monotonic() + 120
        while name in container_names("podman") and time.monotonic() < gone_by:
            time.sleep(0.5)
        assert name not in container_names("podman")
    finally:
        plugin.kill()
