"""Replays every `tests/golden/**/*.golden` transcript against the real spawned plugin.

The format is described in tests/golden/README.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, output_line_validator, plugin_argv, require_runtime

GOLDEN_DIR = Path(__file__).resolve().parent
CASES = sorted(GOLDEN_DIR.rglob("*.golden"))
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
SHA_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class Obj(list[tuple[str, Any]]):
    """A JSON object that remembers its key order."""


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=Obj)


OUTPUT_LINE = output_line_validator()


@dataclass
class Step:
    kind: str  # send | sleep | await | close
    value: str = ""


@dataclass
class Case:
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    setup: list[tuple[str, list[str]]] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)  # (lineno, json text)
    exact: list[tuple[int, str]] = field(default_factory=list)
    exit_status: int = 0
    stderr_absent: list[str] = field(default_factory=list)
    timeout: float = 120.0


def parse_case(path: Path, subst: dict[str, str]) -> Case:
    case = Case()

    def sub(text: str) -> str:
        for key, value in subst.items():
            text = text.replace("{{" + key + "}}", value)
        return text

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("> "):
            case.steps.append(Step("send", sub(line[2:])))
        elif line.startswith("<= "):
            case.exact.append((lineno, sub(line[3:])))
        elif line.startswith("< "):
            case.expected.append((lineno, sub(line[2:])))
        elif line.startswith("@"):
            name, _, rest = line[1:].partition(" ")
            rest = sub(rest)
            if name == "args":
                case.args.extend(rest.split())
            elif name == "env":
                key, _, value = rest.partition("=")
                case.env[key] = value
            elif name in ("mkdir", "write", "symlink", "chmod", "mkfifo", "mksock"):
                case.setup.append((name, rest.split(" ", 1) if name == "write" else rest.split()))
            elif name == "requires":
                case.requires.append(rest.strip())
            elif name == "raw":
                case.steps.append(Step("raw", rest))
            elif name == "sleep":
                case.steps.append(Step("sleep", rest.strip()))
            elif name == "await":
                case.steps.append(Step("await", rest.strip()))
            elif name == "close":
                case.steps.append(Step("close"))
            elif name == "exit":
                case.exit_status = int(rest)
            elif name == "stderr-not-contains":
                case.stderr_absent.append(rest)
            elif name == "timeout":
                case.timeout = float(rest)
            else:
                raise ValueError(f"{path.name}:{lineno}: unknown directive @{name}")
        else:
            raise ValueError(f"{path.name}:{lineno}: cannot parse line {line!r}")
    return case


def run_setup(case: Case) -> None:
    import socket

    for name, args in case.setup:
        if name == "mkdir":
            Path(args[0]).mkdir(parents=True, exist_ok=True)
        elif name == "write":
            target = Path(args[0])
            target.parent.mkdir(parents=True, exist_ok=True)
            content = args[1] if len(args) > 1 else ""
            target.write_bytes(content.encode("utf-8").decode("unicode_escape").encode("latin-1"))
        elif name == "symlink":
            os.symlink(args[0], args[1])
        elif name == "chmod":
            os.chmod(args[1], int(args[0], 8))
        elif name == "mkfifo":
            os.mkfifo(args[0])
        elif name == "mksock":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(args[0])
            sock.close()


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and expected.startswith("{{") and expected.endswith("}}"):
        tag = expected[2:-2]
        if tag == "ANY":
            return True
        if tag == "STRING":
            return isinstance(actual, str)
        if tag == "INT":
            return isinstance(actual, int) and not isinstance(actual, bool)
        if tag == "TIME":
            return isinstance(actual, str) and bool(TIME_RE.match(actual))
        if tag == "SHA256":
            return isinstance(actual, str) and bool(SHA_RE.match(actual))
        if tag == "BASE64":
            if not isinstance(actual, str):
                return False
            try:
                base64.b64decode(actual, validate=True)
            except (binascii.Error, ValueError):
                return False
            return True
    if isinstance(expected, Obj):
        if not isinstance(actual, Obj) or [k for k, _ in expected] != [k for k, _ in actual]:
            return False
        return all(matches(e, a) for (_, e), (_, a) in zip(expected, actual, strict=True))
    if isinstance(expected, list):
        if not isinstance(actual, list) or isinstance(actual, Obj) or len(expected) != len(actual):
            return False
        return all(matches(e, a) for e, a in zip(expected, actual, strict=True))
    if type(expected) is not type(actual):
        return False
    return bool(expected == actual)


class Transcript:
    """Talks to the spawned plugin: writes steps, collects stdout lines and stderr."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: list[bytes] = []
        self.stderr = b""
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_stdout, daemon=True)
        self.err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.err_reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def await_count(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout}s for {count} output lines")
                self.cond.wait(left)


def replay(path: Path, tmp_path: Path) -> None:
    subst = {
        "TMP": str(tmp_path),
        "CWD": str(tmp_path),
        "UID": str(os.getuid()),
        # podman's non-root profile maps the caller to itself, and only a non-root plugin
        # asks for that (rootful podman refuses keep-id): operations/sandbox.py.
        "PODMAN_USERNS": '"--userns","keep-id",' if os.geteuid() != 0 else "",
        "GID": str(os.getgid()),
        "REPO": str(REPO),
    }
    case = parse_case(path, subst)
    for tool in case.requires:
        require_runtime(tool)
    run_setup(case)
    env = dict(os.environ)
    env.pop("WFCOMPUTE_LOG_LEVEL", None)
    env.update(case.env)
    proc = subprocess.Popen(
        plugin_argv(*case.args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    talk = Transcript(proc)
    assert proc.stdin is not None
    try:
        for step in case.steps:
            if step.kind == "send":
                proc.stdin.write(step.value.encode("utf-8") + b"\n")
                proc.stdin.flush()
            elif step.kind == "raw":
                raw = step.value.encode("utf-8").decode("unicode_escape").encode("latin-1")
                proc.stdin.write(raw)
                proc.stdin.flush()
            elif step.kind == "sleep":
                time.sleep(float(step.value))
            elif step.kind == "await":
                talk.await_count(int(step.value), case.timeout)
            elif step.kind == "close":
                proc.stdin.close()
        if not proc.stdin.closed:
            proc.stdin.close()
        status = proc.wait(timeout=case.timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    talk.reader.join(10)
    talk.err_reader.join(10)
    stderr = talk.stderr.decode("utf-8", "replace")
    lines = [line.rstrip(b"\n") for line in talk.lines]
    report = (
        f"\n--- stdout ({len(lines)} lines)\n"
        + "\n".join(line.decode("utf-8", "replace")[:2000] for line in lines)
        + f"\n--- stderr\n{stderr[-4000:]}"
    )
    for line in lines:
        decoded = json.loads(line)
        errors = [e.message for e in OUTPUT_LINE.iter_errors(decoded)]
        assert not errors, f"{path.name}: output line breaks the envelope schema: {errors}{report}"
    actual = [_loads(line.decode("utf-8")) for line in lines]
    used = [False] * len(actual)
    for lineno, text in case.exact:
        hit = next(
            (i for i, line in enumerate(lines) if not used[i] and line.decode("utf-8") == text),
            None,
        )
        assert hit is not None, f"{path.name}:{lineno}: no output line is exactly {text}{report}"
        used[hit] = True
    for lineno, text in case.expected:
        expected = _loads(text)
        hit = next(
            (i for i, got in enumerate(actual) if not used[i] and matches(expected, got)), None
        )
        assert hit is not None, f"{path.name}:{lineno}: no output matches {text}{report}"
        used[hit] = True
    extra = [lines[i].decode("utf-8", "replace") for i, u in enumerate(used) if not u]
    assert not extra, f"{path.name}: unexpected output lines: {extra}{report}"
    assert status == case.exit_status, f"{path.name}: exit status {status}{report}"
    for text in case.stderr_absent:
        assert text not in stderr, f"{path.name}: stderr contains {text!r}{report}"


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(GOLDEN_DIR)) for p in CASES])
def test_golden(path: Path, tmp_path: Path) -> None:
    replay(path, tmp_path)
