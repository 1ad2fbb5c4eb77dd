"""While serving, stray output and children cannot touch the protocol streams."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.rpc.harness import ToyServer, request

Spawn = Callable[..., ToyServer]


def test_stray_prints_and_child_output_go_to_stderr_not_the_wire(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "stray_output", {}), request(2, "echo", {"after": "stray"}))
    # The child ran `cat` on its inherited stdin: it read /dev/null, not our requests.
    assert server.recv_by_id(2) == {
        1: {"jsonrpc": "2.0", "id": 1, "result": {"child_status": 0}},
        2: {"jsonrpc": "2.0", "id": 2, "result": {"after": "stray"}},
    }
    assert server.finish() == (0, [])
    for line in server.raw_lines:
        json.loads(line)
    assert b"STRAY" not in b"".join(server.raw_lines)
    stderr = server.stderr()
    for marker in ("STRAY-PRINT", "STRAY-FD1", "STRAY-CHILD"):
        assert marker in stderr
