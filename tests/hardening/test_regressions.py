"""Regression tests for bugs the hardening runs found (each names the fix it guards)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from wfcompute_container.operations.sandbox import redact_tool_detail
from wfcompute_container.runtime_io.tool_process import ContainerRef, run_tool

from .plugin_process import PluginProcess, id_key
from .valid_requests import valid_requests


def test_availability_detail_hides_credentials_the_tool_prints() -> None:
    """Found by the canary test: `<tool> version` stderr carrying a token reached -32011.

    Fix: operations/sandbox.py `redact_tool_detail` also drops everything from the first
    word naming a credential (the probe redaction's markers) onwards.
    """
    text = "Error: auth token=canary-77 rejected; password: hunter2 Bearer abc.def"
    redacted = redact_tool_detail(text)
    for secret in ("canary-77", "hunter2", "abc.def"):
        assert secret not in redacted
    assert redacted == "Error: <redacted>"
    # clean lines and socket-only lines are kept as before
    assert redact_tool_detail("Cannot connect: is the daemon running?") == (
        "Cannot connect: is the daemon running?"
    )
    assert redact_tool_detail("dial unix:///run/docker.sock failed") == ("dial <redacted> failed")


def test_cancel_while_the_tool_is_being_spawned_still_removes_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the load test: a cancel landing inside `open_process` left a container.

    asyncio kills the half-connected client when its spawn is cancelled, but the container
    the client was creating survived (podman: "Created", or "Up" when conmon had it). Fix:
    runtime_io/tool_process.py spawns under a shielded scope, so the cancellation reaches the
    try/finally that kills the client and removes the container by name.
    """
    log = tmp_path / "calls.log"
    tool = tmp_path / "fake-tool"
    tool.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = run ] && exec sleep 30\nexit 0\n')
    tool.chmod(0o755)
    real_open_process = anyio.open_process
    spawned: list[anyio.abc.Process] = []

    async def slow_connecting_open_process(*args: Any, **kwargs: Any) -> anyio.abc.Process:
        process = await real_open_process(*args, **kwargs)
        spawned.append(process)
        try:
            await anyio.sleep(0.5)  # the pipes connecting while the machine is busy
        except BaseException:
            process.kill()  # what asyncio does to a spawn cancelled half-way
            raise
        return process

    monkeypatch.setattr(anyio, "open_process", slow_connecting_open_process)

    async def scenario() -> None:
        with anyio.move_on_after(0.2):
            await run_tool(
                [str(tool), "run", "--name", "wfcompute-run-spawn-race"],
                timeout=60,
                container=ContainerRef(str(tool), "wfcompute-run-spawn-race"),
                cleanup_timeout=5,
            )

    anyio.run(scenario)
    assert spawned, "the tool was never spawned"
    calls = log.read_text().splitlines()
    assert "rm -f wfcompute-run-spawn-race" in calls, calls


def _string_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*prefix, index))
    elif isinstance(value, str):
        yield prefix


def test_nul_bytes_in_any_string_param_are_never_an_internal_error(tmp_path: Path) -> None:
    """Found by the soak run: a NUL in a path made Python raise ValueError → -32603.

    Go refuses such a path in the syscall (EINVAL, `<op> <path>: invalid argument`), a
    domain error. Fixes (each site now treats ValueError from the OS call as EINVAL):
    workspace/paths.py open_anchor and _lstat_at, workspace/digests.py read_build_digest,
    operations/probe_runner.py look_path, operations/managed/catalog.py load_catalog,
    operations/managed/layout.py reject_symlinks_in_root_path and bundle_lock; helper
    goparity/oserror.py `os_error_of`.
    """
    bin_dir = tmp_path / "empty-bin"
    bin_dir.mkdir()
    plugin = PluginProcess(env={"PATH": str(bin_dir)}, cwd=tmp_path)
    sent: dict[int, tuple[str, tuple[Any, ...], str]] = {}
    try:
        plugin.initialize()
        for method, params in valid_requests(tmp_path):
            for where in _string_paths(params):
                for suffix in ("\x00", "/\x00x"):
                    mutated = copy.deepcopy(params)
                    parent = mutated
                    for part in where[:-1]:
                        parent = parent[part]
                    parent[where[-1]] += suffix
                    msg_id = len(sent) + 1
                    sent[msg_id] = (method, where, suffix)
                    plugin.request(msg_id, method, mutated)
        plugin.wait_answers(list(sent), 60)
        status = plugin.finish()
    finally:
        plugin.kill()
    assert status == 0
    internal = [
        sent[i] for i in sent if plugin.by_id[id_key(i)].get("error", {}).get("code") == -32603
    ]
    assert internal == [], internal
    assert "Traceback" not in plugin.stderr_text
    # the Go text for a NUL path where a file is opened
    read_file = [
        plugin.by_id[id_key(i)]
        for i, (method, where, suffix) in sent.items()
        if method == "digest.read_file" and suffix == "\x00"
    ]
    assert read_file[0]["error"]["code"] == -32010
    assert read_file[0]["error"]["message"].endswith(": invalid argument"), read_file
