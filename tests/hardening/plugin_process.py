"""A long-lived spawned plugin for hardening tests: send lines, collect every output line.

stdout lines are kept raw (each is checked against the envelope schema by the tests) and
parsed; stderr lines are kept for canary checks. Answers are looked up by id, counting
responses inside batch arrays too.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import output_line_validator, plugin_argv

INIT_LINE = (
    b'{"jsonrpc":"2.0","id":"init","method":"initialize",'
    b'"params":{"protocol_version":"compute.v1alpha1"}}\n'
)


OUTPUT_LINE = output_line_validator()


def request_line(msg_id: int | str | None, method: str, params: Any = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0"}
    if msg_id is not None:
        body["id"] = msg_id
    body["method"] = method
    if params is not None:
        body["params"] = params
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def id_key(msg_id: Any) -> str:
    """Ids compare as JSON text: 1 and "1" are different ids."""
    return json.dumps(msg_id)


def responses_of(message: Any) -> list[dict[str, Any]]:
    if isinstance(message, list):
        return [item for item in message if isinstance(item, dict)]
    return [message] if isinstance(message, dict) else []


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` from /proc (KiB); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """Samples the RSS of ``pid`` in a thread until ``stop()``, which returns the peak (KiB)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


class PluginProcess:
    """The real plugin, spawned once and talked to over pipes."""

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        full_env = dict(os.environ)
        full_env.pop("WFCOMPUTE_LOG_LEVEL", None)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(
            plugin_argv(*args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
        )
        self.raw_lines: list[bytes] = []
        self.messages: list[Any] = []
        self.answers: Counter[str] = Counter()
        self.by_id: dict[str, dict[str, Any]] = {}
        self.bad_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.cond = threading.Condition()
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            problem = None
            message: Any = None
            try:
                message = json.loads(raw)
            except ValueError as exc:
                problem = f"not JSON ({exc}): {raw[:300]!r}"
            if problem is None:
                errors = [e.message for e in OUTPUT_LINE.iter_errors(message)]
                if errors:
                    problem = f"breaks output-line schema {errors[:3]}: {raw[:300]!r}"
            with self.cond:
                self.raw_lines.append(raw)
                if problem is not None:
                    self.bad_lines.append(problem)
                else:
                    self.messages.append(message)
                    for response in responses_of(message):
                        key = id_key(response.get("id"))
                        self.answers[key] += 1
                        self.by_id[key] = response
                self.cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self.cond:
                self.stderr_lines.append(raw.decode("utf-8", "replace"))

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, msg_id: int | str, method: str, params: Any = None) -> None:
        self.send(request_line(msg_id, method, params))

    def initialize(self, timeout: float = 30.0) -> dict[str, Any]:
        self.send(INIT_LINE)
        return self.wait_answer("init", timeout)

    def wait_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout:g} s for {what}{self.tail()}")
                self.cond.wait(min(left, 0.5))

    def wait_answer(self, msg_id: int | str, timeout: float = 30.0) -> dict[str, Any]:
        key = id_key(msg_id)
        self.wait_until(lambda: key in self.by_id, timeout, f"the answer to id {key}")
        with self.cond:
            return self.by_id[key]

    def wait_answers(self, ids: list[int | str], timeout: float) -> None:
        keys = [id_key(i) for i in ids]
        self.wait_until(
            lambda: all(k in self.by_id for k in keys), timeout, f"answers to {len(keys)} ids"
        )

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    def finish(self, timeout: float = 60.0) -> int:
        """Close stdin, wait for the exit status and for both streams to end."""
        with contextlib.suppress(BrokenPipeError):
            self.close_stdin()
        status = self.proc.wait(timeout=timeout)
        self._out.join(10)
        self._err.join(10)
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def stderr_text(self) -> str:
        with self.cond:
            return "".join(self.stderr_lines)

    def tail(self) -> str:
        with self.cond:
            out = b"".join(self.raw_lines[-10:]).decode("utf-8", "replace")
            err = "".join(self.stderr_lines[-20:])
        return f"\n--- last stdout\n{out[-3000:]}\n--- last stderr\n{err[-3000:]}"
