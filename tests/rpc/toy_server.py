#!/usr/bin/env python3
"""A test-only plugin served by the generic engine: toy methods that exercise its rules.

Run as a real subprocess by tests/rpc and benchmarks/rpc_throughput.py, the way a host runs
the plugin. Marker files let tests observe what a handler did (started, cleaned up) without
timing assumptions.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(_REPO / "plugin"))

import anyio  # noqa: E402

from wfcompute_container.goparity.jsonenc import marshal_bytes  # noqa: E402
from wfcompute_container.rpc import (  # noqa: E402
    EngineConfig,
    Handler,
    RpcError,
    configure_logging,
    current_request,
    protect_stdin,
    protect_stdout,
    reserve_answer_memory,
    serve,
)

_POLL = 0.01


def _mark(directory: str, name: str, suffix: str) -> None:
    Path(directory, f"{name}.{suffix}").write_text("")


async def _until_exists(path: str | None) -> None:
    if path is None:
        await anyio.sleep_forever()
        return
    while not os.path.exists(path):
        await anyio.sleep(_POLL)


def build_handlers(stdin_fd: int) -> tuple[dict[str, Handler], Handler]:
    async def initialize(params: Any) -> Any:
        params = params or {}
        if params.get("delay"):
            await anyio.sleep(float(params["delay"]))
        if params.get("fail") == "rpc":
            raise RpcError(-32602, "invalid params: toy refuses", {"kind": "invalid_params"})
        if params.get("fail") == "crash":
            raise RuntimeError("toy initialize crashed")
        info = current_request()
        return {"name": "toy", "request_id": None if info is None else info.id}

    async def echo(params: Any) -> Any:
        return params

    async def block(params: Any) -> Any:
        """Mark `<name>.started`, wait for the `until` file (or forever); on the way out,
        always run an awaited, shielded clean-up that marks `<name>.cleaned`.

        With `report_exists`, the answer says whether that path existed when it started."""
        directory, name = params["dir"], params["name"]
        saw = os.path.exists(params["report_exists"]) if "report_exists" in params else None
        _mark(directory, name, "started")
        try:
            await _until_exists(params.get("until"))
            return {"released": name} if saw is None else {"released": name, "saw": saw}
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)  # clean-up that itself has to await something
                if params.get("stuck_cleanup"):
                    await anyio.sleep_forever()
                _mark(directory, name, "cleaned")

    async def crash(params: Any) -> Any:
        raise ValueError("toy failure")

    async def fail(params: Any) -> Any:
        raise RpcError(params["code"], params["message"], params.get("data"))

    async def group_fail(params: Any) -> Any:
        async def raiser() -> None:
            raise RpcError(-32010, "inside a task group", {"kind": "invalid_input"})

        async with anyio.create_task_group() as tg:
            tg.start_soon(raiser)
        return None

    async def not_json(params: Any) -> Any:
        return {"value": float("nan")}

    async def stray_output(params: Any) -> Any:
        print("STRAY-PRINT from a handler")
        os.write(1, b"STRAY-FD1 from a handler\n")
        child = subprocess.run(
            ["sh", "-c", "echo STRAY-CHILD from a child process; cat"],
            check=False,
        )
        return {"child_status": child.returncode}

    async def pending_input(params: Any) -> Any:
        """Wait until at least `at_least` bytes sit unread in our stdin pipe; return them."""
        if "dir" in params:
            _mark(params["dir"], params["name"], "started")
        while True:
            raw = fcntl.ioctl(stdin_fd, termios.FIONREAD, struct.pack("i", 0))
            pending = struct.unpack("i", raw)[0]
            if pending >= params["at_least"]:
                return {"pending": pending}
            await anyio.sleep(_POLL)

    async def reserve(params: Any) -> Any:
        """Mark `<name>.asking`, reserve `bytes` of answer memory, mark `<name>.reserved`,
        answer with `size` bytes of padding."""
        _mark(params["dir"], params["name"], "asking")
        await reserve_answer_memory(params["bytes"])
        _mark(params["dir"], params["name"], "reserved")
        return {"pad": "x" * params.get("size", 0)}

    async def ran_as_task(params: Any) -> Any:
        return {"via": "task", "params": params}

    handlers: dict[str, Handler] = {
        **INLINE,
        "lookup_breaks": ran_as_task,
        "echo": echo,
        "block": block,
        "crash": crash,
        "fail": fail,
        "group_fail": group_fail,
        "not_json": not_json,
        "stray_output": stray_output,
        "pending_input": pending_input,
        "reserve": reserve,
    }
    return handlers, initialize


def _now(params: Any) -> Any:
    info = current_request()
    return {"via": "inline", "params": params, "request_id": None if info is None else info.id}


def _now_fail(params: Any) -> Any:
    raise RpcError(-32010, "inline refusal", {"kind": "invalid_input"})


def _now_crash(params: Any) -> Any:
    raise ValueError("inline failure")


def _now_not_json(params: Any) -> Any:
    return {"value": float("inf")}


INLINE: dict[str, Handler] = {
    "now": _now,
    "now_fail": _now_fail,
    "now_crash": _now_crash,
    "now_not_json": _now_not_json,
}


def inline_lookup(method: str) -> bool:
    """The inline methods; the lookup itself fails for `lookup_breaks`."""
    if method == "lookup_breaks":
        raise RuntimeError("no inline handler table")
    return method in INLINE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-concurrency", type=int, default=32)
    parser.add_argument("--max-message-bytes", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--max-queued-requests", type=int, default=256)
    parser.add_argument("--max-queued-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--stop-grace", type=float, default=9.0)
    parser.add_argument("--answer-memory-bytes", type=int, default=0)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    configure_logging(args.log_level)
    stdout_fd = protect_stdout()
    stdin_fd = protect_stdin()
    handlers, initialize = build_handlers(stdin_fd)
    config = EngineConfig(
        max_message_bytes=args.max_message_bytes,
        max_concurrent_requests=args.max_concurrency,
        max_queued_requests=args.max_queued_requests,
        max_queued_bytes=args.max_queued_bytes,
        stop_grace_seconds=args.stop_grace,
        answer_memory_bytes=args.answer_memory_bytes,
    )

    async def run() -> int:
        return await serve(
            handlers,
            initialize=initialize,
            config=config,
            stdin_fd=stdin_fd,
            stdout_fd=stdout_fd,
            inline=inline_lookup,
            encode=marshal_bytes,
        )

    return anyio.run(run)


if __name__ == "__main__":
    raise SystemExit(main())
