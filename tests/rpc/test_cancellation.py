"""$/cancelRequest, signals and a closed stdout, on the real spawned process."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rpc.harness import (
    HANG_GUARD,
    ToyServer,
    block_params,
    notification,
    request,
    toy_argv,
    wait_for_file,
    wait_for_log,
)

Spawn = Callable[..., ToyServer]


def test_cancel_request_answers_minus_32800_after_the_clean_up(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn()
    server.initialize()
    server.send(
        request("a", "block", block_params(tmp_path, "a")),
        request("b", "block", block_params(tmp_path, "b", until=tmp_path / "release-b")),
    )
    wait_for_file(tmp_path / "a.started", "request a")
    wait_for_file(tmp_path / "b.started", "request b")
    server.send(notification("$/cancelRequest", {"id": "a"}))
    assert server.recv() == {
        "jsonrpc": "2.0",
        "id": "a",
        "error": {"code": -32800, "message": "request cancelled", "data": {"kind": "cancelled"}},
    }
    # The answer is sent only once the handler's shielded clean-up has run.
    assert (tmp_path / "a.cleaned").exists()
    # The other request is untouched.
    assert not (tmp_path / "b.cleaned").exists()
    (tmp_path / "release-b").touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": "b", "result": {"released": "b"}}


def test_cancel_request_for_unknown_or_malformed_ids_is_ignored(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(
        notification("$/cancelRequest", {"id": 12345}),
        notification("$/cancelRequest", {"id": None}),
        notification("$/cancelRequest", {}),
        notification("$/cancelRequest"),
        request(1, "echo", {"after": "cancels"}),
    )
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"after": "cancels"}}
    assert server.finish() == (0, [])


def test_cancel_distinguishes_integer_and_string_ids(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    server.send(request(7, "block", block_params(tmp_path, "seven", until=tmp_path / "go")))
    wait_for_file(tmp_path / "seven.started", "request 7")
    server.send(notification("$/cancelRequest", {"id": "7"}), request(8, "echo", {}))
    assert server.recv()["id"] == 8  # the string id cancelled nothing
    (tmp_path / "go").touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 7, "result": {"released": "seven"}}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_cancels_in_flight_requests_and_exits_0(
    spawn: Spawn, tmp_path: Path, signum: signal.Signals
) -> None:
    server = spawn()
    server.initialize()
    server.send(
        request(1, "block", block_params(tmp_path, "one")),
        request(2, "block", block_params(tmp_path, "two")),
    )
    wait_for_file(tmp_path / "one.started", "request 1")
    wait_for_file(tmp_path / "two.started", "request 2")
    server.signal(signum)
    assert server.wait() == 0
    answers = {m["id"]: m for m in map(json.loads, server.rest())}
    for request_id in (1, 2):
        assert answers[request_id]["error"] == {
            "code": -32800,
            "message": f"request cancelled: server stopping on {signum.name}",
            "data": {"kind": "cancelled"},
        }
    assert (tmp_path / "one.cleaned").exists() and (tmp_path / "two.cleaned").exists()


def test_signal_while_idle_exits_0(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert server.rest() == []


def test_clean_up_that_never_ends_cannot_keep_the_process_alive(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn("--stop-grace", "0.5")
    server.initialize()
    server.send(request(1, "block", block_params(tmp_path, "stuck", stuck_cleanup=True)))
    wait_for_file(tmp_path / "stuck.started", "request 1")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert "in-flight requests (block) to finish their clean-up: still running 0.5 s after" in (
        server.stderr()
    )


def test_host_closing_stdout_cancels_in_flight_work_and_exits(tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            toy_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            messages = [
                request(0, "initialize", {}),
                request(1, "block", block_params(tmp_path, "orphan")),
            ]
            proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline())["id"] == 0
            wait_for_file(tmp_path / "orphan.started", "request 1")
            proc.stdout.close()  # stdin stays open: only the closed stdout can stop it
            assert proc.wait(timeout=HANG_GUARD) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (tmp_path / "orphan.cleaned").exists()
    assert "closed our stdout" in stderr_path.read_text()


def test_a_second_signal_exits_at_once(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--stop-grace", "600")
    server.initialize()
    server.send(request(1, "block", block_params(tmp_path, "stuck", stuck_cleanup=True)))
    wait_for_file(tmp_path / "stuck.started", "request 1")
    server.signal(signal.SIGTERM)
    wait_for_log(server, "received SIGTERM")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    assert "second SIGTERM while stopping" in server.stderr()


def test_exit_inside_a_batch_cancels_the_batch_members(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(
        [request(1, "echo", {}), notification("exit"), request(2, "echo", {})],
        request(3, "echo", {}),  # never read: exit stops reading
    )
    assert server.wait() == 1
    [answer] = [json.loads(line) for line in server.rest()]
    cancelled = {
        "code": -32800,
        "message": "request cancelled: exit notification",
        "data": {"kind": "cancelled"},
    }
    assert answer == [
        {"jsonrpc": "2.0", "id": 1, "error": cancelled},
        {"jsonrpc": "2.0", "id": 2, "error": cancelled},
    ]


def test_signal_answers_queued_requests_unstarted(spawn: Spawn, tmp_path: Path) -> None:
    # At the limit the next request is read and queued (it used to stay unread in stdin).
    server = spawn("--max-concurrency", "1")
    server.initialize()
    server.send(
        request(1, "block", block_params(tmp_path, "only")),
        request(2, "block", block_params(tmp_path, "queued")),
    )
    wait_for_file(tmp_path / "only.started", "request 1")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    answers = {m["id"]: m for m in map(json.loads, server.rest())}
    assert sorted(answers) == [1, 2]
    for answer in answers.values():
        assert answer["error"]["code"] == -32800, answer
        assert answer["error"]["message"] == "request cancelled: server stopping on SIGTERM"
    assert (tmp_path / "only.cleaned").exists()
    assert not (tmp_path / "queued.started").exists()
