"""The serving options are honoured before and after `serve` (docs/PROTOCOL.md §1)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import plugin_argv
from wfcompute_container.cli import build_parser

DEFAULTS = (16 * 1024 * 1024, 32)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], DEFAULTS),
        (["serve"], DEFAULTS),
        (["--max-message-bytes", "200", "serve"], (200, 32)),
        (["--max-concurrency", "3", "serve"], (DEFAULTS[0], 3)),
        (["serve", "--max-message-bytes", "200", "--max-concurrency", "3"], (200, 3)),
        (["--max-message-bytes", "100", "serve", "--max-message-bytes", "200"], (200, 32)),
    ],
)
def test_limits_given_anywhere_are_kept(argv: list[str], expected: tuple[int, int]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.max_message_bytes, args.max_concurrency) == expected


def test_log_level_after_serve() -> None:
    assert build_parser().parse_args(["serve", "--log-level", "debug"]).log_level
    assert build_parser().parse_args(["--log-level", "debug", "serve"]).log_level
    assert build_parser().parse_args(["serve"]).log_level is None


def test_a_limit_before_serve_is_enforced_on_the_wire() -> None:
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocol_version": "compute.v1alpha1"},
        },
        {"jsonrpc": "2.0", "id": 9, "method": "digest.validate", "params": {"digest": "a" * 300}},
    ]
    done = subprocess.run(
        plugin_argv("--max-message-bytes", "200", "serve"),
        input=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    init, oversized = (json.loads(line) for line in done.stdout.splitlines())
    assert init["result"]["limits"]["max_message_bytes"] == 200
    assert oversized["id"] is None and oversized["error"]["code"] == -32600, oversized
