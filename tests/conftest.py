"""Shared test support: where the plugin lives, and how a test asks for a real runtime."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN_CMD = REPO / "cmd" / "workflow-plugin-compute-container"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def plugin_argv(*args: str) -> list[str]:
    """The command that starts the plugin from this checkout."""
    return [sys.executable, str(PLUGIN_CMD), *args]


@cache
def runtime_problem(tool: str) -> str | None:
    """None when `tool` can run containers here, else why not."""
    path = shutil.which(tool)
    if path is None:
        return f"{tool} is not installed"
    probe = [tool, "info"] if tool == "docker" else [tool, "version"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(probe)}` did not answer within 30 s"
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"`{' '.join(probe)}` failed: {last[0]}"
    return None


def require_runtime(tool: str) -> None:
    """Skip locally when `tool` cannot run containers; in CI that is a failure."""
    problem = runtime_problem(tool)
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must provide {tool}: {problem}")
    pytest.skip(problem)
