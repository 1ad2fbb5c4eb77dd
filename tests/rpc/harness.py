"""Drive tests/rpc/toy_server.py as a real subprocess, the way the host drives the plugin."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TOY_SERVER = Path(__file__).resolve().parent / "toy_server.py"

# Generous bounds that only keep a broken engine from hanging the suite; never asserted on.
HANG_GUARD = 30.0


def toy_argv(*args: str) -> list[str]:
    return [sys.executable, str(TOY_SERVER), *args]


def request(request_id: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def error_of(code: int, kind: str) -> Callable[[Any], bool]:
    def matches(message: Any) -> bool:
        return (
            isinstance(message, dict)
            and message.get("error", {}).get("code") == code
            and message["error"].get("data", {}).get("kind") == kind
        )

    return matches


def wait_for_file(path: Path, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {path} never appeared")
        time.sleep(0.01)


def wait_for_log(server: ToyServer, text: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while text not in server.stderr():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never logged; stderr:\n{server.stderr()}")
        time.sleep(0.01)


class ToyServer:
    """One spawned toy server; stdout is read line by line on a thread (raw bytes kept)."""

    def __init__(
        self, tmp_path: Path, *args: str, stdin: int | IO[bytes] | None = subprocess.PIPE
    ) -> None:
        self.tmp_path = tmp_path
        self.stderr_path = tmp_path / f"server-{id(self):x}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            toy_argv(*args),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.raw_lines: list[bytes] = []
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    # ----- input

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, *messages: Any) -> None:
        self.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    # ----- output

    def recv_line(self) -> bytes:
        try:
            line = self._lines.get(timeout=HANG_GUARD)
        except queue.Empty:
            raise AssertionError(f"no output; stderr:\n{self.stderr()}") from None
        if line is None:
            raise AssertionError(f"stdout ended; stderr:\n{self.stderr()}")
        assert line.endswith(b"\n"), line
        return line

    def recv(self) -> Any:
        return json.loads(self.recv_line())

    def recv_many(self, count: int) -> list[Any]:
        return [self.recv() for _ in range(count)]

    def recv_by_id(self, count: int) -> dict[Any, Any]:
        """`count` single responses keyed by id (responses may come in any order)."""
        answers: dict[Any, Any] = {}
        for message in self.recv_many(count):
            assert message["id"] not in answers, message
            answers[message["id"]] = message
        return answers

    def rest(self) -> list[bytes]:
        """Every line still to come, up to the end of stdout."""
        lines: list[bytes] = []
        while True:
            line = self._lines.get(timeout=HANG_GUARD)
            if line is None:
                return lines
            lines.append(line)

    def initialize(self, request_id: Any = 0) -> None:
        self.send(request(request_id, "initialize", {}))
        answer = self.recv()
        assert answer["id"] == request_id and "result" in answer, answer

    # ----- process

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server did not exit; stderr:\n{self.stderr()}") from None

    def finish(self) -> tuple[int, list[bytes]]:
        """Close stdin, collect the remaining output and the exit status."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.close_stdin()
        rest = self.rest()
        return self.wait(), rest

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


def block_params(directory: Path, name: str, *, until: Path | None = None, **extra: Any) -> Any:
    params: dict[str, Any] = {"dir": str(directory), "name": name, **extra}
    if until is not None:
        params["until"] = str(until)
    return params
