"""run_tool against real local processes (sh, a fake container tool that logs its argv).

The fake tool stands in for podman/docker where only the client-side contract matters:
which commands the clean-up issues, and when. Real runtimes are exercised in
tests/operations/test_runs_*.py.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import anyio
import pytest

from wfcompute_container.runtime_io.exec_errors import (
    ExitError,
    SignalError,
    ToolNotFound,
    error_for_returncode,
)
from wfcompute_container.runtime_io.tool_lookup import look_path
from wfcompute_container.runtime_io.tool_process import (
    SCRATCH_PREFIX,
    ContainerRef,
    remove_container,
    run_tool,
)

P = ParamSpec("P")
T = TypeVar("T")

FAKE_TOOL = """#!/bin/sh
# Fake container tool: logs each invocation, `run` sleeps or floods, `ps` lists live names.
log="$FAKE_TOOL_LOG"
echo "$*" >> "$log"
case "$1" in
  run) echo "$$" > "$FAKE_TOOL_LOG.pid"; touch "$FAKE_TOOL_LOG.alive"
       if [ "$2" = flood ]; then yes; else sleep 30; fi ;;
  kill|rm) rm -f "$FAKE_TOOL_LOG.alive" ;;
  ps) [ -e "$FAKE_TOOL_LOG.alive" ] && echo wfcompute-run-test ;;
esac
exit 0
"""


def run(coro_fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    async def call() -> T:
        return await coro_fn(*args, **kwargs)

    return anyio.run(call)


@pytest.fixture
def fake_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "faketool"
    tool.write_text(FAKE_TOOL)
    tool.chmod(0o755)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOL_LOG", str(log))
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_exit_status_text_and_separate_streams() -> None:
    result = run(run_tool, ["sh", "-c", "printf out; printf err >&2; exit 7"])
    assert result.stdout == b"out"
    assert result.stderr == b"err"
    assert isinstance(result.error, ExitError)
    assert str(result.error) == "exit status 7"
    assert result.exit_code == 7
    assert result.stop_reason == "exited"


def test_success_has_no_error() -> None:
    result = run(run_tool, ["true"])
    assert result.error is None
    assert result.exit_code == 0


def test_stdin_bytes_reach_the_process() -> None:
    payload = bytes(range(256)) * 1000
    result = run(run_tool, ["cat"], stdin=payload)
    assert result.stdout == payload


def test_empty_stdin_is_the_null_device() -> None:
    result = run(run_tool, ["sh", "-c", "cat; echo done"], timeout=20)
    assert result.stdout == b"done\n"


def test_missing_tool_has_go_text() -> None:
    result = run(run_tool, ["wfcompute-no-such-tool", "version"])
    assert not result.started
    assert isinstance(result.error, ToolNotFound)
    assert str(result.error) == 'exec: "wfcompute-no-such-tool": executable file not found in $PATH'
    assert result.exit_code == -1
    with pytest.raises(ToolNotFound):
        look_path("wfcompute-no-such-tool")


def test_signal_text() -> None:
    assert str(error_for_returncode(-9)) == "signal: killed"
    assert str(error_for_returncode(-15)) == "signal: terminated"
    assert error_for_returncode(0) is None
    killed = run(run_tool, ["sh", "-c", "kill -KILL $$"])
    assert isinstance(killed.error, SignalError)
    assert str(killed.error) == "signal: killed"
    assert killed.exit_code == -1


def test_timeout_stops_the_process_and_keeps_partial_output() -> None:
    result = run(run_tool, ["sh", "-c", "echo started; exec sleep 30"], timeout=0.5)
    assert result.stop_reason == "timeout"
    assert result.stdout == b"started\n"
    assert str(result.error) == "signal: killed"


def test_output_limit_stops_the_run_at_the_limit() -> None:
    result = run(run_tool, ["yes"], output_limit=10_000, timeout=30)
    assert result.stop_reason == "output_limit"
    assert len(result.stdout) + len(result.stderr) == 10_000
    assert result.returncode is not None and result.returncode < 0


def test_output_limit_counts_stdout_and_stderr_together() -> None:
    script = "printf aaaaa; printf bbbbb >&2; printf ccccc"
    result = run(run_tool, ["sh", "-c", script], output_limit=12, timeout=30)
    assert result.stop_reason == "output_limit"
    assert len(result.stdout) + len(result.stderr) == 12


def test_timeout_removes_the_named_container(fake_tool: Path) -> None:
    container = ContainerRef("faketool", "wfcompute-run-test")
    result = run(run_tool, ["faketool", "run", "x"], timeout=0.5, container=container)
    assert result.stop_reason == "timeout"
    assert result.container_removed
    log = calls(fake_tool)
    assert log[0] == "run x"
    assert "kill wfcompute-run-test" in log
    assert "rm -f wfcompute-run-test" in log
    assert log.index("kill wfcompute-run-test") < log.index("rm -f wfcompute-run-test")


def test_output_limit_removes_the_named_container(fake_tool: Path) -> None:
    container = ContainerRef("faketool", "wfcompute-run-test", ("--namespace", "ns"))
    result = run(
        run_tool, ["faketool", "run", "flood"], output_limit=4096, timeout=30, container=container
    )
    assert result.stop_reason == "output_limit"
    assert "--namespace ns rm -f wfcompute-run-test" in calls(fake_tool)


def test_normal_exit_does_not_remove(fake_tool: Path, tmp_path: Path) -> None:
    container = ContainerRef("faketool", "wfcompute-run-test")
    result = run(run_tool, ["faketool", "ps"], container=container)
    assert result.error is None
    assert calls(fake_tool) == ["ps"]


def test_cancellation_kills_client_and_removes_container(fake_tool: Path) -> None:
    container = ContainerRef("faketool", "wfcompute-run-test")
    pid_file = Path(f"{fake_tool}.pid")

    async def run_with_container() -> None:
        await run_tool(["faketool", "run", "x"], container=container)

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(run_with_container)
            with anyio.fail_after(20):
                while not pid_file.exists() or not pid_file.read_text().strip():
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    anyio.run(scenario)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "rm -f wfcompute-run-test" in calls(fake_tool)
    assert not Path(f"{fake_tool}.alive").exists()


def test_remove_container_retries_until_gone(fake_tool: Path) -> None:
    Path(f"{fake_tool}.alive").touch()
    removed = run(remove_container, ContainerRef("faketool", "wfcompute-run-test"), 10.0)
    assert removed
    assert calls(fake_tool)[-1] == "ps -a --format {{.Names}}"


def test_start_failure_is_reported(tmp_path: Path) -> None:
    not_executable = tmp_path / "tool"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(stat.S_IRUSR)
    result = run(run_tool, [str(not_executable)])
    assert not result.started
    # Even root cannot execute a file without any execute bit.
    assert str(result.error) == f"fork/exec {not_executable}: permission denied"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin's TMPDIR, as tempfile sees it, private to the test."""
    directory = tmp_path / "plugin-tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return directory


def instance_contents(tmp: Path) -> list[Path]:
    """What the plugin instance directories under ``tmp`` hold besides lock and owner."""
    root = tmp / f"wfcompute-state-{os.geteuid()}"
    if not root.exists():
        return []
    return sorted(
        path
        for instance in root.iterdir()
        for path in instance.iterdir()
        if path.name not in ("lock", "owner.json", "runtimes.jsonl")
    )


def test_each_tool_gets_a_scratch_tmpdir_in_the_instance_dir_removed_after(
    private_tmp: Path,
) -> None:
    first = run(run_tool, ["sh", "-c", 'printf %s "$TMPDIR"'])
    second = run(run_tool, ["sh", "-c", 'printf %s "$TMPDIR"'])
    seen = [Path(first.stdout.decode()), Path(second.stdout.decode())]
    assert seen[0] != seen[1]
    for scratch in seen:
        # <TMPDIR>/wfcompute-state-<euid>/<instance>/wfcompute-tool-*
        assert scratch.parent.parent == private_tmp / f"wfcompute-state-{os.geteuid()}"
        assert scratch.name.startswith(SCRATCH_PREFIX)
    assert instance_contents(private_tmp) == []


@pytest.mark.parametrize("end", ["exited", "timeout", "cancelled"])
def test_what_a_tool_leaves_in_its_tmpdir_is_removed(private_tmp: Path, end: str) -> None:
    # What podman does when killed mid-way: temporary files (and directories) in TMPDIR.
    script = 'mkdir "$TMPDIR/123/sub" -p; echo x > "$TMPDIR/123/sub/f"; echo > "$TMPDIR/4567"'
    if end != "exited":
        script += "; echo ready; exec sleep 30"

    async def scenario() -> None:
        if end == "cancelled":
            with anyio.move_on_after(1):
                await run_tool(["sh", "-c", script])
        else:
            result = await run_tool(["sh", "-c", script], timeout=1)
            assert result.stop_reason == end

    anyio.run(scenario)
    assert instance_contents(private_tmp) == []


def test_rootless_without_a_runtime_dir_keeps_our_tmpdir(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rootless podman then keeps its runtime state under $TMPDIR: it must stay the same.
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 987654)
    result = run(run_tool, ["sh", "-c", 'printf %s "$TMPDIR"'])
    assert result.stdout.decode() == str(private_tmp)


def test_an_unwritable_tmpdir_still_runs_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "gone"
    monkeypatch.setenv("TMPDIR", str(missing))
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    result = run(run_tool, ["sh", "-c", 'printf %s "$TMPDIR"'])
    assert result.error is None
    assert result.stdout.decode() == str(missing)
