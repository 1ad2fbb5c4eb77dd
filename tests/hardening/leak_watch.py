"""Watching for secret canaries: in every process's argv while a test runs, and in messages.

``ArgvWatch`` polls ``/proc/*/cmdline`` in a thread; it records every argument vector that
holds a canary, and (so a test can prove it looked at the right moment) every argv that
matches a caller's predicate.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

# Methods whose result is the resolved environment itself, handed back to the host.
RESULT_CARRIES_ENV = frozenset({"env.resolve", "invocation.command", "invocation.container_build"})


def read_cmdlines() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if raw:
            found[int(name)] = raw.decode("utf-8", "replace").rstrip("\0").split("\0")
    return found


class ArgvWatch:
    """Poll every process's argv until stopped; a context manager."""

    def __init__(
        self, canaries: Iterable[str], interesting: Callable[[list[str]], bool] | None = None
    ) -> None:
        self.canaries = list(canaries)
        self.interesting = interesting
        self.leaks: list[list[str]] = []
        self.seen: list[list[str]] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        own = os.getpid()
        while not self._stop.is_set():
            for pid, argv in read_cmdlines().items():
                if pid == own:
                    continue
                text = "\0".join(argv)
                if any(canary in text for canary in self.canaries):
                    self.leaks.append(argv)
                if self.interesting is not None and self.interesting(argv):
                    self.seen.append(argv)
            self.polls += 1
            self._stop.wait(0.005)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(value, validate=True).decode("utf-8", "replace")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def leaks_in_response(
    response: dict[str, Any], canaries: Iterable[str], method: str | None
) -> list[str]:
    """Where a canary shows in a response it must not: any error, any non-env result.

    Strings are also base64-decoded (captured output and the like travel encoded).
    """
    places: list[str] = []
    allowed_in_result = method in RESULT_CARRIES_ENV
    for canary in canaries:
        if "error" in response and any(canary in s for s in _strings(response["error"])):
            places.append(f"error of {method}: {json.dumps(response['error'])[:500]}")
        if not allowed_in_result and any(canary in s for s in _strings(response.get("result"))):
            places.append(f"result of {method}: {json.dumps(response.get('result'))[:500]}")
    return places
