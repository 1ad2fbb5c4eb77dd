"""Control messages are read and acted on at once even when every slot is busy; requests
past the limit wait in a bounded queue (PROTOCOL.md §1), on the real spawned process.

No timing: the slot holders block on files only the test creates, so an answer that
arrives before the test releases them was given while every slot was busy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rpc.harness import ToyServer, block_params, notification, request, wait_for_file

Spawn = Callable[..., ToyServer]


def _cancelled(request_id: object, reason: str = "request cancelled") -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": -32800, "message": reason, "data": {"kind": "cancelled"}},
    }


def _fill(server: ToyServer, tmp_path: Path, *queued: str) -> None:
    """Two slot holders `a` and `b` (blocked until `release-<name>`), then `queued`."""
    server.initialize()
    names = ("a", "b", *queued)
    server.send(
        *(
            request(n, "block", block_params(tmp_path, n, until=tmp_path / f"release-{n}"))
            for n in names
        )
    )
    wait_for_file(tmp_path / "a.started", "request a")
    wait_for_file(tmp_path / "b.started", "request b")


def test_cancel_of_queued_and_running_requests_answers_while_slots_are_busy(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn("--max-concurrency", "2")
    _fill(server, tmp_path, "c", "d")
    server.send(notification("$/cancelRequest", {"id": "c"}))
    assert server.recv() == _cancelled("c")  # a and b still hold both slots
    server.send(notification("$/cancelRequest", {"id": "a"}))
    assert server.recv() == _cancelled("a")
    assert (tmp_path / "a.cleaned").exists()
    wait_for_file(tmp_path / "d.started", "request d takes the freed slot")
    assert not (tmp_path / "c.started").exists()  # never started: no side effects
    (tmp_path / "release-b").touch()
    (tmp_path / "release-d").touch()
    assert sorted(server.recv_by_id(2)) == ["b", "d"]
    assert not (tmp_path / "c.started").exists()
    assert server.finish() == (0, [])


def test_duplicate_id_of_a_queued_request_is_refused(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--max-concurrency", "2")
    _fill(server, tmp_path, "c")
    server.send(request("c", "echo", {}))
    answer = server.recv()
    assert answer["id"] == "c" and answer["error"]["code"] == -32600, answer
    assert "already in flight" in answer["error"]["message"]


def test_shutdown_while_full_is_read_at_once_and_waits_for_queued_requests(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn("--max-concurrency", "2")
    _fill(server, tmp_path, "c")
    server.send(request("s", "shutdown"), request("late", "echo", {}))
    late = server.recv()  # shutdown was acted on while both slots were busy
    assert late["id"] == "late" and late["error"]["code"] == -32600, late
    for name in ("a", "b", "c"):
        (tmp_path / f"release-{name}").touch()
    answers = [server.recv() for _ in range(4)]
    # The queued request ran to completion; shutdown is answered after every one of them.
    assert sorted(m["id"] for m in answers[:3]) == ["a", "b", "c"]
    assert all("result" in m for m in answers[:3]), answers
    assert answers[3] == {"jsonrpc": "2.0", "id": "s", "result": None}


def test_exit_while_full_answers_queued_requests_unstarted(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--max-concurrency", "2")
    _fill(server, tmp_path, "c", "d")
    server.send(notification("exit"))
    assert server.wait() == 1
    answers = {m["id"]: m for m in map(json.loads, server.rest())}
    assert sorted(answers) == ["a", "b", "c", "d"]
    for request_id, answer in answers.items():
        assert answer == _cancelled(request_id, "request cancelled: exit notification")
    assert not (tmp_path / "c.started").exists() and not (tmp_path / "d.started").exists()
    assert (tmp_path / "a.cleaned").exists() and (tmp_path / "b.cleaned").exists()


def test_batch_members_queue_and_the_batch_answers_as_one_array(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn("--max-concurrency", "1")
    server.initialize()
    go = tmp_path / "go"
    server.send([request(n, "block", block_params(tmp_path, n, until=go)) for n in ("x", "y", "z")])
    wait_for_file(tmp_path / "x.started", "request x")
    server.send(notification("$/cancelRequest", {"id": "y"}))  # y waits in the queue
    go.touch()
    [answer] = [server.recv()]
    assert [m["id"] for m in answer] == ["x", "y", "z"]
    assert answer[1] == _cancelled("y")
    assert "result" in answer[0] and "result" in answer[2]
    assert not (tmp_path / "y.started").exists()


@pytest.mark.parametrize(
    "bound",
    [["--max-queued-requests", "1"], ["--max-queued-bytes", "1"]],
    ids=["count", "bytes"],
)
def test_reading_pauses_only_while_the_queue_is_full(
    spawn: Spawn, tmp_path: Path, bound: list[str]
) -> None:
    server = spawn("--max-concurrency", "1", *bound)
    server.initialize()
    third = json.dumps(request(3, "echo", {"third": True})).encode() + b"\n"
    server.send(
        # Answers once the bytes of the third request sit unread in the server's stdin.
        request(1, "pending_input", {"at_least": len(third), "dir": str(tmp_path), "name": "one"}),
        request(2, "block", block_params(tmp_path, "two", until=tmp_path / "release-two")),
    )
    wait_for_file(tmp_path / "one.started", "request 1")
    server.write(third)
    # Request 2 fills the queue, so request 3 stayed unread until request 1 freed its slot.
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"pending": len(third)}}
    wait_for_file(tmp_path / "two.started", "request 2")
    # Request 2 left the queue for the slot: request 3 is read and queued behind it.
    (tmp_path / "release-two").touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"released": "two"}}
    assert server.recv() == {"jsonrpc": "2.0", "id": 3, "result": {"third": True}}
