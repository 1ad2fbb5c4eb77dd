"""Shared test support: where the plugin lives, and how a test asks for a real runtime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from wfcompute_container.operations.probes import DOCKER_RUNTIMES_ARGS, docker_gvisor_problem

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


PODMAN_LIMITS_WARNING = (
    "Resource limits are not supported and ignored on cgroups V1 rootless systems"
)
"""What rootless podman on a cgroup v1 host prints on stderr before every container."""


@cache
def podman_ignores_limits() -> bool:
    """True when podman here is rootless on a cgroup v1 host: it applies no pids, memory or
    CPU limit at all (the probe reports those claims failed; the tests expect the same)."""
    done = subprocess.run(
        ["podman", "info", "--format", "{{.Host.Security.Rootless}} {{.Host.CgroupsVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split() == ["true", "v1"]


def limits_ignored(tool: str) -> bool:
    return tool == "podman" and podman_ignores_limits()


def workload_stderr(tool: str, stderr: bytes | None) -> bytes:
    """A run's stderr without the line rootless podman adds when it ignores limits."""
    data = stderr or b""
    if not limits_ignored(tool):
        return data
    warning = PODMAN_LIMITS_WARNING.encode() + b"\n"
    return data[len(warning) :] if data.startswith(warning) else data


TEST_TOOLS_ENV = "WFCOMPUTE_TEST_TOOLS"
"""Comma-separated tools a test pass covers (scripts/test-rootless.sh: podman only)."""


def require_runtime(tool: str) -> None:
    """Skip locally when `tool` cannot run containers; in CI that is a failure, unless this
    pass was told to cover other tools only (then the skip names why)."""
    chosen = os.environ.get(TEST_TOOLS_ENV, "")
    if chosen and tool not in chosen.split(","):
        pytest.skip(f"{tool} is not part of this pass ({TEST_TOOLS_ENV}={chosen})")
    problem = runtime_problem(tool)
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must provide {tool}: {problem}")
    pytest.skip(problem)


def require_runsc(tool: str = "podman") -> None:
    """``tool`` must run containers and gVisor's runsc must be there for it: on PATH for
    podman, registered with the daemon (with ``--network=none``) for Docker. CI provides both
    (.ci/setup-runtimes.sh)."""
    require_runtime(tool)
    if tool == "docker":
        done = subprocess.run(
            ["docker", *DOCKER_RUNTIMES_ARGS], capture_output=True, timeout=60, check=False
        )
        problem = docker_gvisor_problem(done.stdout)
    else:
        problem = None if shutil.which("runsc") is not None else "runsc is not installed"
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must provide gVisor for {tool} (.ci/setup-runtimes.sh): {problem}")
    pytest.skip(problem)


@cache
def rootless_runsc_problem(image: str) -> str | None:
    """Why rootless podman cannot run ``image`` under runsc here (None as root, or when it
    can). Measured on these machines: on cgroup v1 it fails with "cannot set up cgroup for
    root: ... permission denied". Asked once per image: each asking starts a container."""
    if os.geteuid() == 0:
        return None
    done = subprocess.run(
        ["podman", "--runtime-flag", "network=none", "run", "--rm", "--runtime", "runsc",
         "--network", "none", "--", image, "true"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["?"])[-1]
    return f"rootless podman cannot run runsc here: {last[:200]}"


@cache
def output_line_validator() -> Draft202012Validator:
    """The JSON Schema every stdout line must satisfy (a response or a batch of them)."""
    base = REPO / "schemas" / "jsonrpc"
    resources = []
    for path in base.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append(
            (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
        )
    registry: Registry[Any] = Registry().with_resources(resources)
    line = json.loads((base / "output-line.schema.json").read_text())
    return Draft202012Validator(line, registry=registry)
