"""Answer memory: a handler's reservation is held until its answer line is written.

The host here does not read stdout at first, so a large answer sits in the pipe: a second
reservation must wait until the host reads it. No timing is asserted; the one pause only
gives a wrong implementation the chance to show itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.rpc.harness import request, toy_argv, wait_for_file

INIT = request(0, "initialize", {})


def reserve(name: str, tmp_path: Path, nbytes: int, size: int = 0) -> dict[str, Any]:
    return request(
        name, "reserve", {"dir": str(tmp_path), "name": name, "bytes": nbytes, "size": size}
    )


def send(proc: subprocess.Popen[bytes], *messages: Any) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    proc.stdin.flush()


def read(proc: subprocess.Popen[bytes]) -> Any:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def test_a_reservation_waits_until_the_answer_holding_the_budget_is_written(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        toy_argv("--answer-memory-bytes", "1000"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        send(proc, INIT)
        assert read(proc)["id"] == 0
        # a holds all of the budget; its 1 MiB answer does not fit the pipe while unread.
        send(proc, reserve("a", tmp_path, 1000, size=1 << 20))
        wait_for_file(tmp_path / "a.reserved", "a's reservation")
        send(proc, reserve("b", tmp_path, 10))
        # c asks for more than there is: it gets the whole budget, after b.
        send(proc, reserve("c", tmp_path, 10**9))
        wait_for_file(tmp_path / "b.asking", "b asking")
        wait_for_file(tmp_path / "c.asking", "c asking")
        time.sleep(0.5)
        assert not (tmp_path / "b.reserved").exists(), "a's answer is not written yet"
        assert not (tmp_path / "c.reserved").exists()
        first = read(proc)
        assert first["id"] == "a" and len(first["result"]["pad"]) == 1 << 20
        wait_for_file(tmp_path / "b.reserved", "b's reservation once a's answer is out")
        answers = {read(proc)["id"] for _ in range(2)}
        assert answers == {"b", "c"}
    finally:
        proc.kill()
        proc.wait()


def test_a_cancelled_waiter_gives_nothing_away_and_takes_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        toy_argv("--answer-memory-bytes", "1000"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        send(proc, INIT)
        read(proc)
        send(proc, reserve("a", tmp_path, 1000, size=1 << 20))
        wait_for_file(tmp_path / "a.reserved", "a's reservation")
        send(proc, reserve("b", tmp_path, 600))
        wait_for_file(tmp_path / "b.asking", "b asking")
        send(proc, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "b"}})
        assert read(proc)["id"] == "a"
        cancelled = read(proc)
        assert cancelled["id"] == "b" and cancelled["error"]["code"] == -32800, cancelled
        assert not (tmp_path / "b.reserved").exists()
        # All of the budget is free again: d gets it at once.
        send(proc, reserve("d", tmp_path, 1000))
        assert read(proc)["id"] == "d"
    finally:
        proc.kill()
        proc.wait()
