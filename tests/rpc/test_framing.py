"""NDJSON framing on the real spawned process: lines, CRLF, size limit, parse errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rpc.harness import ToyServer, error_of, request

Spawn = Callable[..., ToyServer]

PARSE_ERROR = error_of(-32700, "parse_error")
INVALID_REQUEST = error_of(-32600, "invalid_request")


def test_output_is_compact_go_json_one_message_per_line(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.send(request(1, "echo", {"text": "<a&b>", "list": [1, "two", None]}))
    assert server.recv_line() == (
        b'{"jsonrpc":"2.0","id":1,"result":'
        b'{"text":"\\u003ca\\u0026b\\u003e","list":[1,"two",null]}}\n'
    )


def test_blank_lines_are_ignored_and_crlf_is_accepted(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.write(b"\n\n   \n\t\r\n")
    server.write(json.dumps(request(1, "echo", {"n": 1})).encode() + b"\r\n")
    server.write(b"\r\n")
    server.write(json.dumps(request(2, "echo", {"n": 2})).encode() + b"\n")
    assert server.recv() == {"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"n": 2}}
    status, rest = server.finish()
    assert (status, rest) == (0, [])


def test_a_last_line_without_newline_is_still_served(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    server.write(json.dumps(request(1, "echo", {"last": True})).encode())
    status, rest = server.finish()
    assert status == 0
    assert [json.loads(line) for line in rest] == [
        {"jsonrpc": "2.0", "id": 1, "result": {"last": True}}
    ]


def test_one_message_may_arrive_in_many_writes(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    line = json.dumps(request("split", "echo", {"x": "y" * 100})).encode() + b"\n"
    for start in range(0, len(line), 7):
        server.write(line[start : start + 7])
    assert server.recv() == {"jsonrpc": "2.0", "id": "split", "result": {"x": "y" * 100}}


def test_17_mib_line_is_rejected_and_the_next_request_served(spawn: Spawn) -> None:
    server = spawn()  # default max_message_bytes: 16 MiB
    server.initialize()
    big = (
        b'{"jsonrpc":"2.0","id":1,"method":"echo","params":{"pad":"' + b"x" * (17 << 20) + b'"}}\n'
    )
    server.write(big)
    server.send(request(2, "echo", {"after": "big"}))
    rejected = server.recv()
    assert INVALID_REQUEST(rejected)
    assert rejected["id"] is None
    assert rejected["error"]["message"] == (
        "invalid request: message exceeds max_message_bytes (16777216)"
    )
    assert server.recv() == {"jsonrpc": "2.0", "id": 2, "result": {"after": "big"}}
    status, rest = server.finish()
    assert (status, rest) == (0, [])


def _line_of_length(length: int, request_id: int) -> bytes:
    """A valid echo request padded to exactly `length` bytes (terminator not counted)."""
    head = b'{"jsonrpc":"2.0","id":%d,"method":"echo","params":{"p":"' % request_id
    tail = b'"}}'
    return head + b"p" * (length - len(head) - len(tail)) + tail


def test_size_limit_is_exact_and_excludes_the_line_terminator(spawn: Spawn) -> None:
    server = spawn("--max-message-bytes", "100")
    server.initialize()
    server.write(_line_of_length(100, 1) + b"\n")
    server.write(_line_of_length(100, 2) + b"\r\n")
    server.write(_line_of_length(101, 3) + b"\n")
    server.write(_line_of_length(101, 4) + b"\r\n")
    server.write(_line_of_length(5000, 5) + b"\n")
    server.send(request(6, "echo"))
    answers = server.recv_many(6)  # in any order
    served = sorted((a for a in answers if a["id"] is not None), key=lambda a: a["id"])
    rejected = [a for a in answers if a["id"] is None]
    assert [a["id"] for a in served] == [1, 2, 6]
    assert all("result" in a for a in served)
    assert len(rejected) == 3
    for answer in rejected:
        assert INVALID_REQUEST(answer)
        assert answer["error"]["message"] == (
            "invalid request: message exceeds max_message_bytes (100)"
        )


def test_oversized_last_line_at_eof_is_rejected(spawn: Spawn) -> None:
    server = spawn("--max-message-bytes", "100")
    server.initialize()
    server.write(_line_of_length(400, 1))
    status, rest = server.finish()
    assert status == 0
    assert len(rest) == 1 and INVALID_REQUEST(json.loads(rest[0]))


def test_invalid_utf8_and_invalid_json_are_parse_errors(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    bad_lines = [
        b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}',
        b"not json",
        b'{"jsonrpc":"2.0","id":2,"method":',
        b'{"jsonrpc":"2.0","id":3,"method":"echo","params":{"x":NaN}}',
        b"[" * 100_000,
        b"\xef\xbb\xbf{}",  # a byte-order mark is not JSON either
    ]
    for line in bad_lines:
        server.write(line + b"\n")
    server.send(request(4, "echo", {"still": "serving"}))
    answers = server.recv_many(len(bad_lines) + 1)
    for answer in answers[:-1]:
        assert PARSE_ERROR(answer), answer
        assert answer["id"] is None
        assert answer["error"]["message"].startswith("parse error: ")
    offset = bad_lines[0].index(b"\xff")
    assert answers[0]["error"]["message"] == f"parse error: invalid UTF-8 at byte offset {offset}"
    assert answers[-1]["id"] == 4


def test_stdin_may_be_a_regular_file(spawn: Spawn, tmp_path: Path) -> None:
    script = tmp_path / "requests.ndjson"
    script.write_bytes(
        b"".join(
            json.dumps(m).encode() + b"\n"
            for m in (request(0, "initialize", {}), request(1, "echo", {"from": "file"}))
        )
    )
    with script.open("rb") as stdin:
        server = spawn(stdin=stdin)
        status, rest = server.wait(), server.rest()
    assert status == 0
    assert [json.loads(line)["id"] for line in rest] == [0, 1]
    assert json.loads(rest[1])["result"] == {"from": "file"}


def test_stdin_at_dev_null_exits_zero_silently(spawn: Spawn) -> None:
    server = spawn(stdin=subprocess.DEVNULL)
    assert server.wait() == 0
    assert server.rest() == []


def test_large_responses_are_written_whole_past_the_pipe_buffer(spawn: Spawn) -> None:
    server = spawn()
    server.initialize()
    payloads = [chr(ord("a") + i) * (3 << 20) for i in range(3)]
    server.send(*(request(i, "echo", {"p": p}) for i, p in enumerate(payloads)))
    answers = server.recv_by_id(3)
    for i, payload in enumerate(payloads):
        assert answers[i]["result"] == {"p": payload}


def test_the_default_encoder_is_plain_compact_json() -> None:
    """The engine carries no JSON dialect of its own: the plugin passes Go's (marshal_bytes)."""
    from wfcompute_container.rpc.engine import plain_json

    assert plain_json({"a": [1, "é<"], "b": None}) == '{"a":[1,"é<"],"b":null}'.encode()
    with pytest.raises(ValueError):
        plain_json(float("nan"))
