"""Envelope rules, batches, ids and error mapping, on the real spawned process."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import plugin_argv
from tests.rpc.harness import (
    ToyServer,
    block_params,
    error_of,
    notification,
    request,
    wait_for_file,
)
from wfcompute_container.rpc.envelope import decode_line
from wfcompute_container.rpc.errors import RpcError

Spawn = Callable[..., ToyServer]

INVALID_REQUEST = error_of(-32600, "invalid_request")


def _invalid(request_id: Any, message: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": -32600,
            "message": f"invalid request: {message}",
            "data": {"kind": "invalid_request"},
        },
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"jsonrpc":"2.0","id":null,"method":"echo"}',
            _invalid(None, "id must be a string or an integer, got null"),
        ),
        (
            '{"jsonrpc":"2.0","id":1.5,"method":"echo"}',
            _invalid(None, "id must be a string or an integer, got a non-integer number"),
        ),
        (
            '{"jsonrpc":"2.0","id":1.0,"method":"echo"}',
            _invalid(None, "id must be a string or an integer, got a non-integer number"),
        ),
        (
            '{"jsonrpc":"2.0","id":true,"method":"echo"}',
            _invalid(None, "id must be a string or an integer, got a boolean"),
        ),
        (
            '{"jsonrpc":"2.0","id":{"a":1},"method":"echo"}',
            _invalid(None, "id must be a string or an integer, got an object"),
        ),
        ('{"jsonrpc":"1.0","id":3,"method":"echo"}', _invalid(3, 'jsonrpc must be "2.0"')),
        ('{"id":"four","method":"echo"}', _invalid("four", 'jsonrpc must be "2.0"')),
        ('{"jsonrpc":2.0,"id":5,"method":"echo"}', _invalid(5, 'jsonrpc must be "2.0"')),
        ('{"jsonrpc":"2.0","id":6,"method":42}', _invalid(6, "method must be a string")),
        ('{"jsonrpc":"2.0","id":7}', _invalid(7, "method must be a string")),
        (
            '{"jsonrpc":"2.0","id":8,"method":"echo","params":"x"}',
            _invalid(8, "params must be an object or an array, got a string"),
        ),
        (
            '{"jsonrpc":"2.0","id":9,"method":"echo","params":null}',
            _invalid(9, "params must be an object or an array, got null"),
        ),
        ("42", _invalid(None, "expected a JSON object, got a number")),
        ('"text"', _invalid(None, "expected a JSON object, got a string")),
        ('{"jsonrpc":"2.0","method":1}', _invalid(None, "method must be a string")),
        (
            '{"jsonrpc":"2.0","id":10,"method":"exit"}',
            _invalid(10, "exit is a notification and must not have an id"),
        ),
        (
            '{"jsonrpc":"2.0","id":11,"method":"$/cancelRequest","params":{"id":1}}',
            _invalid(11, "$/cancelRequest is a notification and must not have an id"),
        ),
    ],
)
def test_envelope_errors(spawn: Spawn, line: str, expected: dict[str, Any]) -> None:
    server = spawn()
    server.initialize()
    server.write(line.encode() + b"\n")
    assert server.recv() == expected
    server.send(request("after", "echo", {"ok": True}))
    assert server.recv()["id"] == "after"


def test_params_by_position_get_invalid_params(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "echo", [1, 2]))
    assert server.recv() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32602,
            "message": "invalid params: params must be an object (by name), not an array",
            "data": {
                "kind": "invalid_params",
                "errors": [
                    {"path": "", "message": "params must be an object (by name), not an array"}
                ],
            },
        },
    }


def test_unknown_method_is_named(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "no.such.method", {}))
    assert server.recv() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32601,
            "message": "method not found: no.such.method",
            "data": {"kind": "method_not_found"},
        },
    }


def test_unknown_notifications_are_ignored(spawn: Spawn) -> None:
    server = spawn("--log-level", "debug")
    server.initialize()
    server.send(notification("no.such.notification", {"x": 1}), notification("echo", {"y": 2}))
    server.send(request(1, "echo", {"v": "next"}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"v": "next"}}
    assert server.finish() == (0, [])
    assert 'ignoring notification "no.such.notification"' in server.stderr()


def test_batches(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.write(b"[]\n")
    assert server.recv() == _invalid(None, "empty batch")
    server.write(b"[1,2,3]\n")
    assert server.recv() == [_invalid(None, "expected a JSON object, got a number")] * 3
    # Notifications only: no answer at all, so the next line is the echo's answer.
    server.send([notification("no.such"), notification("$/cancelRequest", {"id": 99})])
    server.send(
        [
            request(1, "echo", {"a": 1}),
            notification("no.such"),
            request(2, "no.such.method"),
            {"jsonrpc": "2.0", "id": 3.5, "method": "echo"},
            request("4", "echo", [1]),
            request(5, "crash"),
        ]
    )
    answer = server.recv()
    assert isinstance(answer, list)
    assert [a["id"] for a in answer] == [1, 2, None, "4", 5]
    assert answer[0] == {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}
    assert answer[1]["error"]["code"] == -32601
    assert INVALID_REQUEST(answer[2])
    assert answer[3]["error"]["code"] == -32602
    assert answer[4]["error"]["code"] == -32603
    server.send(request(6, "echo", {"single": True}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 6, "result": {"single": True}}


def test_batch_answer_waits_for_its_slowest_request(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(
        [
            request(1, "block", block_params(tmp_path, "slow", until=release)),
            request(2, "echo", {"n": 2}),
        ]
    )
    wait_for_file(tmp_path / "slow.started", "batch member")
    # A single request sent after the batch is answered while the batch still waits.
    server.send(request(3, "echo", {"n": 3}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 3, "result": {"n": 3}}
    release.touch()
    assert [a["id"] for a in server.recv()] == [1, 2]


def test_ids_1_and_string_1_are_different_and_duplicates_in_flight_are_refused(
    spawn: Spawn, tmp_path: Path
) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(request(1, "block", block_params(tmp_path, "int-id", until=release)))
    wait_for_file(tmp_path / "int-id.started", "first request")
    server.send(request("1", "echo", {"id": "string"}))
    assert server.recv() == {"jsonrpc": "2.0", "id": "1", "result": {"id": "string"}}
    server.send(request(1, "echo", {"duplicate": True}))
    assert server.recv() == _invalid(None, "id 1 is already in flight") | {"id": 1}
    release.touch()
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"released": "int-id"}}
    # Once answered, the id may be used again.
    server.send(request(1, "echo", {"reused": True}))
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"reused": True}}


def test_rpc_errors_from_handlers_are_sent_as_given(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(
        request(
            1,
            "fail",
            {"code": -32010, "message": "workspace is required", "data": {"kind": "invalid_input"}},
        ),
        request(2, "fail", {"code": -32602, "message": "invalid params: bad"}),
        request(3, "fail", {"code": -32099, "message": "custom"}),
        request(4, "group_fail"),
    )
    answers = server.recv_by_id(4)
    assert answers[1]["error"] == {
        "code": -32010,
        "message": "workspace is required",
        "data": {"kind": "invalid_input"},
    }
    # The engine names the class of its own codes when the raiser did not.
    assert answers[2]["error"] == {
        "code": -32602,
        "message": "invalid params: bad",
        "data": {"kind": "invalid_params"},
    }
    assert answers[3]["error"] == {"code": -32099, "message": "custom"}
    assert answers[4]["error"] == {
        "code": -32010,
        "message": "inside a task group",
        "data": {"kind": "invalid_input"},
    }


def test_internal_errors_carry_an_error_id_found_in_the_log(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "crash"), request(2, "not_json"))
    answers = server.recv_by_id(2)
    assert server.finish() == (0, [])
    stderr = server.stderr()
    for request_id, cause in ((1, "ValueError: toy failure"), (2, "result is not JSON")):
        error = answers[request_id]["error"]
        assert error["code"] == -32603
        assert error["message"] == "internal error"
        assert set(error["data"]) == {"kind", "error_id"}
        assert error["data"]["kind"] == "internal_error"
        assert re.fullmatch(r"[0-9a-f]{16}", error["data"]["error_id"])
        [log_line] = [line for line in stderr.splitlines() if error["data"]["error_id"] in line]
        assert "Traceback (most recent call last)" in log_line
        assert cause in log_line
    wire = b"".join(server.raw_lines).decode()
    assert "Traceback" not in wire and "toy failure" not in wire


def test_responses_may_come_back_out_of_order(spawn: Spawn, tmp_path: Path) -> None:
    server = spawn()
    server.initialize()
    release = tmp_path / "release"
    server.send(
        request("slow", "block", block_params(tmp_path, "slow", until=release)),
        request("fast", "echo", {}),
    )
    assert server.recv()["id"] == "fast"
    release.touch()
    assert server.recv()["id"] == "slow"
    assert json.loads(server.raw_lines[-1])["result"] == {"released": "slow"}


@pytest.mark.parametrize(
    ("line", "value"),
    [
        # Go's decoder turns each unpaired surrogate escape into U+FFFD.
        (rb'{"a":"x\ud800y"}', {"a": "x\ufffdy"}),
        (rb'"\uDFFF\uD800"', "\ufffd\ufffd"),
        # A high surrogate followed by a non-surrogate escape: U+FFFD, then that character.
        (rb'["\ud800\u0041"]', ["\ufffdA"]),
        # A valid pair stays one character, also right after a lone high surrogate.
        (rb'["\ud83d\ude00", "\ud83d\ud83d\ude00"]', ["\U0001f600", "\ufffd\U0001f600"]),
        # Keys are fixed too, at any depth, and keys that then coincide keep the last value.
        (
            rb'{"k\udc00":[{"\ud800":1,"\udbff":2}],"n":{"m":["\udfff",3]}}',
            {"k\ufffd": [{"\ufffd": 2}], "n": {"m": ["\ufffd", 3]}},
        ),
        # An escaped backslash before "ud" is no escape: the text is kept.
        (rb'["\\ud800"]', ["\\ud800"]),
    ],
)
def test_lone_surrogate_escapes_decode_to_replacement_character(line: bytes, value: Any) -> None:
    decoded = decode_line(line)
    assert decoded == value
    assert json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # no surrogate left


def test_nested_surrogates_are_replaced_at_every_depth() -> None:
    depth = 500
    line = ("[" * depth + '"\\ud800"' + "]" * depth).encode()
    decoded = decode_line(line)
    for _ in range(depth):
        decoded = decoded[0]
    assert decoded == "\ufffd"


def test_lone_surrogate_escapes_reach_the_plugin_as_replacement_character() -> None:
    """sandbox.plan on the real plugin: U+FFFD as Go decodes it, no -32603 (audit-B 4)."""
    request_template = (
        '{"jsonrpc":"2.0","id":%d,"method":"sandbox.plan","params":{"runtime":{"tool":"docker"},'
        '"request":{"image":"%s","command":["./build.sh"],"workspace":"/ws"%s}}}'
    )
    lines = [
        '{"jsonrpc":"2.0","id":0,"method":"initialize",'
        '"params":{"protocol_version":"compute.v1alpha1"}}',
        request_template % (1, "img", ',"env":{"\\ud800":"x"}'),
        request_template % (2, "img", ',"network":"x\\udc80"'),
        request_template % (3, "i\\uDBFF", ""),
    ]
    done = subprocess.run(
        plugin_argv(),
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    answers = {json.loads(raw)["id"]: raw for raw in done.stdout.splitlines()}
    # %q keeps the printable U+FFFD literally, so the wire has its UTF-8 bytes, not an escape.
    assert (
        answers[1]
        == (
            '{"jsonrpc":"2.0","id":1,"error":{"code":-32010,'
            '"message":"sandbox env name \\"\ufffd\\" is invalid","data":{"kind":"invalid_input"}}}'
        ).encode()
    ), done.stderr
    assert json.loads(answers[2])["error"] == {
        "code": -32010,
        "message": 'unsupported sandbox network "x\ufffd"',
        "data": {"kind": "invalid_input"},
    }
    # U+FFFD is no image reference character: refused like any other, naming the field.
    assert json.loads(answers[3])["error"]["message"] == (
        "image is not a valid OCI image reference: it does not follow the image reference grammar"
    )


def test_an_integer_past_python_s_digit_limit_is_json_not_a_parse_error() -> None:
    # Valid JSON (Go decodes it as a float): the schema refuses it later, not the parser.
    line = b'{"n":' + b"1" * 5000 + b',"m":12}'
    value = decode_line(line)
    assert value["n"] == float("inf") and value["m"] == 12
    with pytest.raises(RpcError) as info:
        decode_line(b'{"n":NaN}')
    assert info.value.code == -32700
