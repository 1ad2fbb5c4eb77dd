"""initialize / shutdown / exit / EOF, on the real spawned process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.rpc.harness import (
    ToyServer,
    block_params,
    error_of,
    notification,
    request,
    wait_for_file,
)

Spawn = Callable[..., ToyServer]

NOT_INITIALIZED = {
    "code": -32002,
    "message": "server not initialized",
    "data": {"kind": "not_initialized"},
}
INVALID_REQUEST = error_of(-32600, "invalid_request")


def test_requests_before_initialize_are_refused_and_notifications_ignored(spawn: Spawn) -> None:
    server = spawn()
    server.send(request(1, "echo", {}), request("s", "shutdown"))
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "error": NOT_INITIALIZED}
    assert server.recv() == {"jsonrpc": "2.0", "id": "s", "error": NOT_INITIALIZED}
    server.send(notification("echo", {}), notification("$/cancelRequest", {"id": 1}))
    server.send(request(2, "initialize", {}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"name": "toy", "request_id": 2}}
    server.send(request(3, "echo", {"now": "ok"}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 3, "result": {"now": "ok"}}


def test_a_failed_initialize_leaves_the_server_uninitialized(spawn: Spawn) -> None:
    server = spawn()
    server.send(request(1, "initialize", {"fail": "rpc"}))
    assert server.recv()["error"] == {
        "code": -32602,
        "message": "invalid params: toy refuses",
        "data": {"kind": "invalid_params"},
    }
    server.send(request(2, "echo", {}))
    assert server.recv()["error"] == NOT_INITIALIZED
    server.send(request(3, "initialize", {"fail": "crash"}))
    assert server.recv()["error"]["code"] == -32603
    server.send(request(4, "echo", {}))
    assert server.recv()["error"] == NOT_INITIALIZED
    server.send(request(5, "initialize", {}))
    assert "result" in server.recv()
    server.send(request(6, "echo", {}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 6, "result": {}}


def test_second_initialize_is_an_invalid_request(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "initialize", {}))
    answer = server.recv()
    assert INVALID_REQUEST(answer) and answer["id"] == 1
    assert answer["error"]["message"] == "invalid request: server already initialized"


def test_initialize_is_answered_before_the_next_line_is_dispatched(spawn: Spawn) -> None:
    # initialize takes a while; requests pipelined right behind it must not see an
    # uninitialized server, and must be answered after it.
    server = spawn()
    server.send(
        request(0, "initialize", {"delay": 0.3}),
        request(1, "echo", {"n": 1}),
        request(2, "echo", {"n": 2}),
    )
    answers = server.recv_many(3)
    assert answers[0]["id"] == 0  # initialize first; the other two in any order
    assert sorted(a["id"] for a in answers[1:]) == [1, 2]
    assert all("result" in a for a in answers)


def test_initialize_inside_a_batch_is_handled_in_order(spawn: Spawn) -> None:
    server = spawn()
    server.send([request(0, "initialize", {"delay": 0.2}), request(1, "echo", {"n": 1})])
    answer = server.recv()
    assert [a["id"] for a in answer] == [0, 1]
    assert answer[1] == {"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}


def test_shutdown_waits_for_in_flight_requests_then_refuses_requests(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(request(1, "block", block_params(tmp_path, "busy", until=release)))
    wait_for_file(tmp_path / "busy.started", "in-flight request")
    server.send(request(2, "shutdown"))
    # Refused while the shutdown is still pending, and afterwards.
    server.send(request(3, "echo", {}))
    refused = server.recv()
    assert INVALID_REQUEST(refused) and refused["id"] == 3
    assert refused["error"]["message"] == "invalid request: server is shut down"
    release.touch()
    # The in-flight request is answered first, then the shutdown.
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"released": "busy"}}
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": None}
    server.send(request(4, "initialize", {}), request(5, "shutdown"))
    assert all(INVALID_REQUEST(m) for m in server.recv_many(2))
    server.send(notification("exit"))
    assert server.wait() == 0
    assert server.rest() == []


def test_cancel_still_works_after_shutdown(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "block", block_params(tmp_path, "forever")))
    wait_for_file(tmp_path / "forever.started", "in-flight request")
    server.send(request(2, "shutdown"), notification("$/cancelRequest", {"id": 1}))
    cancelled = server.recv()
    assert cancelled["id"] == 1 and cancelled["error"]["code"] == -32800
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": None}
    server.send(notification("exit"))
    assert server.wait() == 0


def test_exit_without_shutdown_cancels_in_flight_work_and_exits_1(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "block", block_params(tmp_path, "work")))
    wait_for_file(tmp_path / "work.started", "in-flight request")
    server.send(notification("exit"))
    assert server.wait() == 1
    # The clean-up awaited before exiting (it sleeps before writing its marker).
    assert (tmp_path / "work.cleaned").exists()
    [answer] = [json.loads(line) for line in server.rest()]
    assert answer["id"] == 1
    assert answer["error"] == {
        "code": -32800,
        "message": "request cancelled: exit notification",
        "data": {"kind": "cancelled"},
    }


def test_exit_before_initialize_exits_1(spawn: Spawn) -> None:
    server = spawn()
    server.send(notification("exit"))
    assert server.wait() == 1
    assert server.rest() == []


def test_eof_lets_in_flight_requests_finish_and_exits_0(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(
        request(1, "block", block_params(tmp_path, "slow", until=release)),
        request(2, "echo", {"n": 2}),
    )
    wait_for_file(tmp_path / "slow.started", "in-flight request")
    server.close_stdin()
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"n": 2}}
    assert server.proc.poll() is None  # still running: request 1 is not finished
    release.touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"released": "slow"}}
    assert server.wait() == 0
    assert server.rest() == []
    assert (tmp_path / "slow.cleaned").exists()


def test_piped_requests_without_initialize_handshake_wait(spawn: Spawn) -> None:
    """`printf '...' | plugin` works: everything is answered before the exit at EOF."""
    server = spawn()
    server.send(request(0, "initialize", {}), *(request(i, "echo", {"i": i}) for i in range(1, 50)))
    status, rest = server.finish()
    assert status == 0
    assert sorted(json.loads(line)["id"] for line in rest) == list(range(50))
