"""Secret canaries: env values, tokens, home and socket paths never reach argv, logs or errors.

Every golden transcript is replayed with its env values salted with a canary (the golden
harness's parser reads the files; expected answers are not compared here, only leaks), and
the real-run kinds of request are sent with canary values. The plugin runs with
``--log-level debug`` so that every log line it can write is checked, and every process's
argv is polled while the requests run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_runtime
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import leftover_paths
from tests.golden.test_golden import CASES, GOLDEN_DIR, parse_case, run_setup

from .leak_watch import ArgvWatch, leaks_in_response
from .plugin_process import PluginProcess, id_key, responses_of
from .valid_requests import build_run_params, command_run_params, valid_requests

pytest_plugins = ["tests.fixtures.sandbox_images"]

CANARY = "canary-5f3c9e1d7a2b"
HOME_CANARY = "/home/canary-5f3c-user/.config/containers/auth.json"
SOCKET_CANARY = "unix:///run/user/4242/canary-5f3c.sock"
SALTED_MAPS = ("env", "resolved", "resolved_env")


def salt(value: Any) -> Any:
    """The same message with every env / resolved value prefixed by the canary."""
    if isinstance(value, dict):
        salted: dict[str, Any] = {}
        for key, item in value.items():
            if key in SALTED_MAPS and isinstance(item, dict):
                salted[key] = {
                    name: f"{CANARY}-{text}" if isinstance(text, str) else text
                    for name, text in item.items()
                }
            else:
                salted[key] = salt(item)
        return salted
    if isinstance(value, list):
        return [salt(item) for item in value]
    return value


def salt_line(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if not isinstance(value, dict | list):
        return text
    return json.dumps(salt(value), ensure_ascii=False)


def methods_by_id(lines: list[str]) -> dict[str, str]:
    methods: dict[str, str] = {}
    for text in lines:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        for message in value if isinstance(value, list) else [value]:
            if isinstance(message, dict) and isinstance(message.get("method"), str):
                methods[id_key(message.get("id"))] = message["method"]
    return methods


def assert_no_leaks(
    plugin: PluginProcess, sent: list[str], watch: ArgvWatch, canaries: list[str]
) -> None:
    methods = methods_by_id(sent)
    places: list[str] = []
    for message in plugin.messages:
        for response in responses_of(message):
            method = methods.get(id_key(response.get("id")))
            places.extend(leaks_in_response(response, canaries, method))
    assert not places, places[:5]
    stderr = plugin.stderr_text
    for canary in canaries:
        assert canary not in stderr, f"stderr log holds {canary!r}:\n{stderr[-3000:]}"
    assert not watch.leaks, f"argv holds a canary: {watch.leaks[:3]}"
    assert watch.polls > 0


def run_watched_and_assert_no_leaks(
    plugin: PluginProcess, requests: Sequence[tuple[str, Any]], canaries: list[str]
) -> None:
    """Send ``requests`` (ids 0..n-1) while argv is watched, end at EOF, assert no leak."""
    sent: list[str] = []
    try:
        with ArgvWatch(canaries) as watch:
            plugin.initialize()
            for index, (method, params) in enumerate(requests):
                line = json.dumps(
                    {"jsonrpc": "2.0", "id": index, "method": method, "params": params}
                )
                sent.append(line)
                plugin.send(line.encode() + b"\n")
            plugin.wait_answers(list(range(len(requests))), 60)
            status = plugin.finish()
    finally:
        plugin.kill()
    assert status == 0
    assert_no_leaks(plugin, sent, watch, canaries)


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(GOLDEN_DIR)) for p in CASES])
def test_golden_case_with_canary_env_leaks_nothing(path: Path, tmp_path: Path) -> None:
    subst = {
        "TMP": str(tmp_path),
        "CWD": str(tmp_path),
        "UID": str(os.getuid()),
        "GID": str(os.getgid()),
        "REPO": str(Path(GOLDEN_DIR).parent.parent),
    }
    case = parse_case(path, subst)
    for tool in case.requires:
        require_runtime(tool)
    run_setup(case)
    sent: list[str] = []
    plugin = PluginProcess(*case.args, "--log-level", "debug", env=case.env, cwd=tmp_path)
    try:
        with ArgvWatch([CANARY]) as watch:
            for step in case.steps:
                if step.kind == "send":
                    line = salt_line(step.value)
                    sent.append(line)
                    plugin.send(line.encode("utf-8", "surrogateescape") + b"\n")
                elif step.kind == "raw":
                    plugin.send(step.value.encode().decode("unicode_escape").encode("latin-1"))
                elif step.kind == "sleep":
                    time.sleep(float(step.value))
                elif step.kind == "await":
                    count = int(step.value)
                    plugin.wait_until(
                        lambda count=count: len(plugin.raw_lines) >= count,  # type: ignore[misc]
                        case.timeout,
                        f"{count} lines",
                    )
                elif step.kind == "close":
                    plugin.close_stdin()
            status = plugin.finish(timeout=case.timeout)
    finally:
        plugin.kill()
    assert status == case.exit_status, plugin.tail()
    assert not plugin.bad_lines, plugin.bad_lines
    assert_no_leaks(plugin, sent, watch, [CANARY])


def test_resolution_planning_and_refusals_with_canary_values_leak_nothing(
    tmp_path: Path,
) -> None:
    """env.resolve / invocation.* return the value to the host; nothing else may show it."""
    requests = valid_requests(tmp_path, secret=CANARY)
    workspace = tmp_path / "ws"
    requests += [
        (
            "sandbox.plan",
            {
                "runtime": {"tool": "docker"},
                "request": {
                    "image": "busybox",
                    "command": ["true"],
                    "workspace": str(workspace),
                    "env": {"TOKEN": f"{CANARY}\nINJECTED=1"},
                },
            },
        ),
        (
            "sandbox.plan",
            {
                "runtime": {"tool": "podman"},
                "request": {
                    "image": "busybox",
                    "command": ["true"],
                    "workspace": str(workspace),
                    "env": {"BAD NAME": CANARY},
                },
            },
        ),
        (
            "env.resolve",
            {
                "workload_kind": "command",
                "env": [{"name": "TOKEN", "secret_ref": "secret:missing"}],
                "resolved": {"secret:other": CANARY},
            },
        ),
        (
            "invocation.command",
            {
                "task_id": "",
                "lease_id": "lease-1",
                "image": "img",
                "workspace": str(workspace),
                "workload": {
                    "args": ["true"],
                    "env": [{"name": "TOKEN", "secret_ref": "secret:token"}],
                },
                "resolved_env": {"secret:token": f"{CANARY}\x00"},
            },
        ),
        (
            "command.run",
            command_run_params(workspace, "nerdctl", "img", ["true"], {"TOKEN": CANARY}),
        ),
    ]
    plugin = PluginProcess("--log-level", "debug", cwd=tmp_path)
    run_watched_and_assert_no_leaks(plugin, requests, [CANARY])
    # the values did travel where they belong (so the canary was really in play)
    resolved = plugin.by_id[id_key(3)]["result"]
    assert resolved["env"]["TOKEN"] == CANARY
    plan = plugin.by_id[id_key(7)]["result"]["argv"]
    assert "<env-file>" in plan
    refusals = [plugin.by_id[id_key(i)] for i in range(len(requests) - 5, len(requests))]
    assert all("error" in answer for answer in refusals), refusals
    assert "TOKEN" in refusals[0]["error"]["message"]


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


SECRET_STDERR = f"Error: auth token={CANARY} rejected; see {HOME_CANARY} via {SOCKET_CANARY}"


def test_tools_that_print_secrets_to_stderr_leak_nothing(tmp_path: Path) -> None:
    """Probes and the run availability check quote tool stderr only through redaction."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    quoted = json.dumps(SECRET_STDERR)
    fake_tool(
        bin_dir,
        "podman",
        f'case "$1" in --version) echo "podman version 5.0.0";;\n'
        f"version) echo {quoted} >&2; exit 1;;\nesac\n",
    )
    fake_tool(
        bin_dir,
        "docker",
        f'case "$1" in --version) echo "Docker version 28.2.2";;\nversion) echo 28.2.2;;\n'
        f"run) echo {quoted} >&2; exit 125;;\nesac\n",
    )
    fake_tool(
        bin_dir,
        "nerdctl",
        f'case "$1" in --version) echo "nerdctl version 2.0.0";;\n'
        f"version) echo 2.0.0; echo {quoted} >&2; exit 0;;\n"
        f"run) echo '{{}}'; echo {quoted} >&2; exit 3;;\nesac\n",
    )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    requests: list[tuple[str, dict[str, Any]]] = [
        ("runtime.probe", {"timeout_ms": 5000}),
        (
            "runtime.probe",
            {
                "backends": ["podman-rootless", "docker-desktop", "nerdctl-containerd"],
                "conformance_image": "localhost/probe:1",
                "timeout_ms": 5000,
            },
        ),
        ("command.run", command_run_params(workspace, "podman", "img", ["true"], {"T": CANARY})),
        ("container_build.run", build_run_params(workspace, "podman", "img", {"T": CANARY})),
    ]
    (workspace / "app").mkdir()
    (workspace / "app" / "Dockerfile").write_text("FROM scratch\n")
    plugin = PluginProcess("--log-level", "debug", env={"PATH": str(bin_dir)}, cwd=tmp_path)
    run_watched_and_assert_no_leaks(
        plugin, requests, [CANARY, "canary-5f3c-user", "canary-5f3c.sock"]
    )
    # the tools really failed (so their stderr was in play)
    unavailable = plugin.by_id[id_key(2)]["error"]
    assert unavailable["code"] == -32011, unavailable
    assert unavailable["message"].startswith("sandbox runtime unavailable: exit status 1"), (
        unavailable
    )
    reports = plugin.by_id[id_key(0)]["result"]["reports"]
    assert {r["status"] for r in reports} != {"supported"}


REAL_RUN_WAIT = 120.0


def test_real_runs_with_canary_env_leak_nothing(
    backend: RunBackend, tool: str, workload_image: str, builder_image: str, tmp_path: Path
) -> None:
    """Success, builder, tool failure, timeout, bad env and cancellation: nothing leaks."""
    require_runtime(tool)
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    workspaces = {}
    for name in ("ok", "build", "missing", "timeout", "badenv", "cancel"):
        workspaces[name] = tmp_path / name
        workspaces[name].mkdir()
    (workspaces["build"] / "app").mkdir()
    (workspaces["build"] / "app" / "Dockerfile").write_text("FROM scratch\n")
    env = {"SECRET_TOKEN": CANARY}
    requests: list[tuple[int, str, dict[str, Any]]] = [
        (
            1,
            "command.run",
            command_run_params(
                workspaces["ok"],
                backend,
                workload_image,
                ["sh", "-c", 'printf %s "$SECRET_TOKEN" > seen.txt; sleep 1; echo done'],
                env,
            ),
        ),
        (
            2,
            "container_build.run",
            build_run_params(
                workspaces["build"],
                backend,
                builder_image,
                {"TEST_BUILDER_MODE": "marker", "USER_SECRET": CANARY},
            ),
        ),
        (
            3,
            "command.run",
            command_run_params(
                workspaces["missing"],
                backend,
                "localhost/wfcompute-hardening-missing:0",
                ["true"],
                env,
            ),
        ),
        (
            4,
            "command.run",
            command_run_params(
                workspaces["timeout"],
                backend,
                workload_image,
                ["sleep", "30"],
                env,
                timeout_ms=1500,
            ),
        ),
        (
            5,
            "command.run",
            command_run_params(
                workspaces["badenv"],
                backend,
                workload_image,
                ["true"],
                {"SECRET_TOKEN": f"{CANARY}\nX=1"},
            ),
        ),
        (
            6,
            "command.run",
            command_run_params(
                workspaces["cancel"],
                backend,
                workload_image,
                ["sh", "-c", "touch started; sleep 60"],
                env,
            ),
        ),
    ]
    plugin = PluginProcess("--log-level", "debug", env={"TMPDIR": str(private_tmp)}, cwd=tmp_path)
    sent: list[str] = []
    try:
        with ArgvWatch([CANARY], interesting=lambda argv: "--env-file" in argv) as watch:
            plugin.initialize()
            for msg_id, method, params in requests:
                line = json.dumps(
                    {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
                )
                sent.append(line)
                plugin.send(line.encode() + b"\n")
            deadline = time.monotonic() + REAL_RUN_WAIT
            while not (workspaces["cancel"] / "started").exists():
                assert time.monotonic() < deadline, "the run to cancel never started"
                time.sleep(0.05)
            plugin.send(b'{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":6}}\n')
            plugin.wait_answers([1, 2, 3, 4, 5, 6], REAL_RUN_WAIT)
            status = plugin.finish()
    finally:
        plugin.kill()
    assert status == 0
    assert_no_leaks(plugin, sent, watch, [CANARY])
    answers = {i: plugin.by_id[id_key(i)] for i in range(1, 7)}
    assert answers[1]["result"].get("exit_code", 0) == 0, answers[1]
    assert answers[1]["result"]["stdout"] == "ZG9uZQo=", answers[1]  # "done\n"
    assert (workspaces["ok"] / "seen.txt").read_text() == CANARY  # the value did get in
    assert "result" in answers[2], answers[2]
    assert answers[3]["error"]["code"] == -32013, answers[3]
    assert answers[4]["error"]["code"] == -32012, answers[4]
    assert answers[5]["error"]["code"] == -32010, answers[5]
    assert "SECRET_TOKEN" in answers[5]["error"]["message"]
    assert answers[6]["error"]["code"] == -32800, answers[6]
    assert watch.seen, "the argv poller never saw a run's tool process"
    assert leftover_paths(private_tmp) == []
