"""Inline methods: answered on the reader, with the same error mapping as a task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.rpc.harness import ToyServer, notification, request, wait_for_file

Spawn = Callable[..., ToyServer]


def test_inline_answer_carries_the_request(
    spawn: Spawn,
) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "now", {"x": 1}), request("two", "now"))
    first, second = server.recv_many(2)
    assert first == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"via": "inline", "params": {"x": 1}, "request_id": 1},
    }
    assert second["result"] == {"via": "inline", "params": None, "request_id": "two"}


def test_inline_errors_map_as_a_task_s_do(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "now_fail"), request(2, "now_crash"), request(3, "now_not_json"))
    refused, crashed, not_json = server.recv_many(3)
    assert refused["error"] == {
        "code": -32010,
        "message": "inline refusal",
        "data": {"kind": "invalid_input"},
    }
    for answer in (crashed, not_json):
        assert answer["error"]["code"] == -32603, answer
        error_id = answer["error"]["data"]["error_id"]
        assert "inline failure" not in str(answer)
    server.close_stdin()
    assert server.wait() == 0
    log = server.stderr()
    assert f"error_id={crashed['error']['data']['error_id']}" in log
    assert "ValueError: inline failure" in log
    assert f"error_id={error_id}" in log


def test_inline_request_is_answered_while_a_task_waits(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(request(1, "block", {"dir": str(tmp_path), "name": "b", "until": str(release)}))
    wait_for_file(tmp_path / "b.started", "block handler")
    server.send(request(2, "now"))
    assert server.recv()["id"] == 2
    release.write_text("")
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"released": "b"}}


def test_inline_members_of_a_batch_keep_their_places(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send([request(1, "now"), request(2, "echo", {"e": 2}), request(3, "now_fail")])
    answers = server.recv()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"]["via"] == "inline"
    assert answers[1]["result"] == {"e": 2}
    assert answers[2]["error"]["code"] == -32010


def test_a_failing_inline_lookup_falls_back_to_the_task(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "lookup_breaks", {"k": 1}))
    assert server.recv()["result"] == {"via": "task", "params": {"k": 1}}


def test_an_answered_inline_id_is_free_and_cancelling_it_does_nothing(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(7, "now"))
    assert server.recv()["id"] == 7
    server.send(notification("$/cancelRequest", {"id": 7}), request(7, "now", {"again": True}))
    again = server.recv()
    assert again["id"] == 7 and again["result"]["params"] == {"again": True}
