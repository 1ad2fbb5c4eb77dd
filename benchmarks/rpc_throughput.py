#!/usr/bin/env python3
"""JSON-RPC engine cost, measured against bare Python in the same run.

(a) Pipelined small requests per second through a spawned server (the real plugin with full
    params/result validation by default), against a bare Python NDJSON echo loop.
(b) Spawn to `initialize` answered, against spawning `python3 -c pass`.

Prints markdown table rows (the lead collects them). Examples:

    python3 benchmarks/rpc_throughput.py
    python3 benchmarks/rpc_throughput.py --target toy --requests 50000
    python3 benchmarks/rpc_throughput.py --command "python3 other_plugin.py" \\
        --method ping --params '{}' --init-params '{}'
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PLUGIN_ARGV = [sys.executable, str(REPO / "cmd" / "workflow-plugin-compute-container")]
TOY_ARGV = [sys.executable, str(REPO / "tests" / "rpc" / "toy_server.py")]

PLUGIN_INIT = {"protocol_version": "compute.v1alpha1"}
PLUGIN_METHOD = "digest.validate"
PLUGIN_PARAMS = {"digest": "sha256:" + "0" * 64}

# The baseline: what any Python NDJSON JSON-RPC loop costs at the least.
BARE_ECHO = r"""
import json, sys
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not line.strip():
        continue
    msg = json.loads(line)
    reply = {"jsonrpc": "2.0", "id": msg["id"], "result": msg.get("params")}
    out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
    out.flush()
"""


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    init_params: Any
    method: str
    params: Any


def _line(request_id: int, method: str, params: Any) -> bytes:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def answers_initialize(target: Target) -> str | None:
    """None when the target serves `initialize`, else why not."""
    try:
        done = subprocess.run(
            target.argv,
            input=_line(0, "initialize", target.init_params),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    first = done.stdout.split(b"\n", 1)[0]
    try:
        if "result" in json.loads(first):
            return None
    except ValueError:
        pass
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return f"exit status {done.returncode}: {tail[0]}"


def pipelined_rate(
    argv: list[str], init_params: Any, method: str, params: Any, count: int
) -> float:
    """Requests per second: `count` requests written back to back, all answers read."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(_line(0, "initialize", init_params))
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        if "result" not in first:
            raise SystemExit(f"{shlex.join(argv)}: initialize failed: {first}")
        payload = b"".join(_line(i, method, params) for i in range(1, count + 1))

        def feed() -> None:
            assert proc.stdin is not None
            proc.stdin.write(payload)
            proc.stdin.flush()

        started = time.perf_counter()
        writer = threading.Thread(target=feed)
        writer.start()
        errors = 0
        for _ in range(count):
            answer = json.loads(proc.stdout.readline())
            errors += "error" in answer
        elapsed = time.perf_counter() - started
        writer.join()
        if errors:
            raise SystemExit(f"{shlex.join(argv)}: {errors} of {count} requests failed")
        return count / elapsed
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def spawn_to_initialized(argv: list[str], init_params: Any) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(_line(0, "initialize", init_params))
    proc.stdin.flush()
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(timeout=60)
    return elapsed


# The least any server on the design card's stack (anyio over asyncio) can start in: import
# anyio and run one event loop. Shown beside the ratio so it can be read against a floor.
ANYIO_FLOOR = "import anyio; anyio.run(anyio.sleep, 0)"


def spawn_python(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def choose_target(args: argparse.Namespace) -> Target:
    if args.command:
        return Target(
            "custom",
            shlex.split(args.command),
            json.loads(args.init_params),
            args.method,
            json.loads(args.params),
        )
    plugin = Target("plugin", PLUGIN_ARGV, PLUGIN_INIT, PLUGIN_METHOD, PLUGIN_PARAMS)
    toy = Target("toy", TOY_ARGV, {}, "echo", {"n": 1})
    if args.target == "toy":
        return toy
    problem = answers_initialize(plugin)
    if problem is None:
        return plugin
    if args.target == "plugin":
        raise SystemExit(f"the plugin does not serve initialize: {problem}")
    print(f"note: the plugin does not serve yet ({problem}); measuring the toy server")
    return toy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("auto", "plugin", "toy"), default="auto")
    parser.add_argument("--command", help="argv of another server to measure (shell-quoted)")
    parser.add_argument("--method", default="echo", help="method for --command")
    parser.add_argument("--params", default='{"n":1}', help="params JSON for --command")
    parser.add_argument("--init-params", default="{}", help="initialize params for --command")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--spawns", type=int, default=10)
    args = parser.parse_args()

    target = choose_target(args)
    label = f"{target.name} `{target.method}`"

    served = pipelined_rate(
        target.argv, target.init_params, target.method, target.params, args.requests
    )
    bare = pipelined_rate(
        [sys.executable, "-c", BARE_ECHO], {}, target.method, target.params, args.requests
    )
    plugin_start = statistics.median(
        spawn_to_initialized(target.argv, target.init_params) for _ in range(args.spawns)
    )
    python_start = statistics.median(spawn_python("pass") for _ in range(args.spawns))
    anyio_floor = statistics.median(spawn_python(ANYIO_FLOOR) for _ in range(args.spawns))

    print("| benchmark | measured | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| pipelined requests/s, {label}, {args.requests} requests "
        f"| {served:,.0f}/s | bare Python NDJSON echo {bare:,.0f}/s | {served / bare:.2f}x |"
    )
    print(
        f"| spawn to initialize answered, {target.name} (median of {args.spawns}) "
        f"| {plugin_start * 1000:.0f} ms | `python3 -c pass` {python_start * 1000:.0f} ms "
        f"| {plugin_start / python_start:.1f}x |"
    )
    print(
        f"| the same, against the anyio floor (`{ANYIO_FLOOR}`) "
        f"| {plugin_start * 1000:.0f} ms | {anyio_floor * 1000:.0f} ms "
        f"| {plugin_start / anyio_floor:.1f}x |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
