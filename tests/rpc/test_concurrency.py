"""Bounded concurrency with read backpressure, on the real spawned process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.rpc.harness import ToyServer, block_params, request, wait_for_file

Spawn = Callable[..., ToyServer]


def test_at_the_limit_further_requests_wait_and_start_as_slots_free(
    spawn: Spawn, tmp_path: Path
) -> None:
    # Past the limit requests are read and queued (stdin is no longer left unread: see
    # test_control_messages.py); one starts only when a running one finishes.
    server = spawn("--max-concurrency", "2")
    server.initialize()
    server.send(
        request(1, "block", block_params(tmp_path, "one", until=tmp_path / "release-one")),
        request(2, "block", block_params(tmp_path, "two", until=tmp_path / "release-two")),
        request(3, "block", block_params(tmp_path, "three", until=tmp_path / "release-one")),
        request(4, "echo", {"fourth": True}),
    )
    wait_for_file(tmp_path / "one.started", "request 1")
    wait_for_file(tmp_path / "two.started", "request 2")
    assert not (tmp_path / "three.started").exists()
    (tmp_path / "release-one").touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"released": "one"}}
    assert server.recv() == {"jsonrpc": "2.0", "id": 3, "result": {"released": "three"}}
    assert server.recv() == {"jsonrpc": "2.0", "id": 4, "result": {"fourth": True}}
    (tmp_path / "release-two").touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"released": "two"}}


def test_batch_members_share_the_same_limit(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--max-concurrency", "1")
    server.initialize()
    (tmp_path / "open").touch()
    server.send(
        [
            request(1, "block", block_params(tmp_path, "first", until=tmp_path / "release")),
            request(
                2,
                "block",
                block_params(
                    tmp_path,
                    "second",
                    until=tmp_path / "open",
                    report_exists=str(tmp_path / "first.cleaned"),
                ),
            ),
        ]
    )
    wait_for_file(tmp_path / "first.started", "request 1")
    (tmp_path / "release").touch()
    answer = server.recv()
    assert answer[0] == {"jsonrpc": "2.0", "id": 1, "result": {"released": "first"}}
    # The second member started only after the first had finished, clean-up included.
    assert answer[1] == {"jsonrpc": "2.0", "id": 2, "result": {"released": "second", "saw": True}}


def test_requests_run_concurrently_below_the_limit(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn("--max-concurrency", "3")
    server.initialize()
    release = tmp_path / "release"
    server.send(
        *(request(i, "block", block_params(tmp_path, f"r{i}", until=release)) for i in range(3))
    )
    for i in range(3):
        wait_for_file(tmp_path / f"r{i}.started", f"request {i}")
    release.touch()
    assert sorted(server.recv_by_id(3)) == [0, 1, 2]
