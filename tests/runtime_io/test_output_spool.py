"""A tool's output goes to disk while it runs and comes back into memory once, when asked.

The spool is an anonymous file in the plugin's instance directory: seen here through
/proc/self/fd while the process still runs, gone (closed, never named) when the run is over.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio
import pytest

from wfcompute_container.runtime_io.tool_process import run_tool


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "plugin-tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return directory


def spool_files(root: Path) -> list[tuple[str, int]]:
    """(target, size) of this process's open files under ``root`` whose name is gone."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            size = os.fstat(int(fd)).st_size
        except OSError:
            continue
        if target.startswith(str(root)) and target.endswith("(deleted)"):
            found.append((target, size))
    return found


def test_output_is_on_disk_while_the_process_runs(private_tmp: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    printed = 3 << 20
    script = (
        f"head -c {printed} /dev/zero; head -c 1000 /dev/zero >&2;"
        f" while [ ! -e {go} ]; do sleep 0.05; done"
    )
    seen: list[tuple[str, int]] = []

    async def scenario() -> bytes:
        async with anyio.create_task_group() as group:
            result: list[bytes] = []

            async def run() -> None:
                done = await run_tool(["sh", "-c", script], output_limit=64 << 20)
                result.append(done.stdout)

            group.start_soon(run)
            with anyio.fail_after(30):
                while sum(size for _, size in spool_files(private_tmp)) < printed + 1000:
                    await anyio.sleep(0.05)
            seen.extend(spool_files(private_tmp))
            go.touch()
        return result[0]

    stdout = anyio.run(scenario)
    assert stdout == b"\0" * printed
    # Two spools (stdout and stderr), inside the instance directory, holding all of it.
    assert len(seen) == 2, seen
    instance_root = private_tmp / f"wfcompute-state-{os.geteuid()}"
    assert all(target.startswith(str(instance_root)) for target, _ in seen)
    assert sorted(size for _, size in seen) == [1000, printed]
    assert spool_files(private_tmp) == [], "the spools are closed when the run is over"


def test_reserve_is_awaited_with_the_output_size_before_it_is_read_back(
    private_tmp: Path,
) -> None:
    asked: list[int] = []

    async def reserve(nbytes: int) -> None:
        # Still on disk: nothing of the output is in the result yet.
        assert len(spool_files(private_tmp)) == 2
        asked.append(nbytes)

    async def scenario() -> None:
        done = await run_tool(
            ["sh", "-c", "head -c 5000 /dev/zero; printf err >&2"],
            output_limit=1 << 20,
            reserve_output=reserve,
        )
        assert (len(done.stdout), done.stderr) == (5000, b"err")

    anyio.run(scenario)
    assert asked == [5003]


def test_the_output_limit_still_holds_across_both_streams(private_tmp: Path) -> None:
    async def scenario() -> None:
        done = await run_tool(
            ["sh", "-c", "head -c 700000 /dev/zero; head -c 700000 /dev/zero >&2; sleep 5"],
            output_limit=1 << 20,
        )
        assert done.stop_reason == "output_limit"
        assert len(done.stdout) + len(done.stderr) == 1 << 20

    anyio.run(scenario)
    assert spool_files(private_tmp) == []


def test_an_unwritable_spool_keeps_output_in_memory(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wfcompute_container.runtime_io import tool_process

    def refuse() -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tool_process, "_anonymous_file", refuse)

    async def scenario() -> None:
        done = await run_tool(["sh", "-c", "printf hello; printf err >&2"])
        assert (done.stdout, done.stderr, done.error) == (b"hello", b"err", None)

    anyio.run(scenario)
