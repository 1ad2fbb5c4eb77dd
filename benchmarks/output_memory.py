"""Plugin memory while many runs print a lot: peak RSS of the spawned plugin, side by side.

Starts the plugin (this checkout, or `--plugin` of another, e.g. an older commit in a
`git worktree`), sends `--runs` concurrent `command.run` requests whose workload prints
`--mib` MiB each (`head -c` of /dev/zero, no output limit set: the plugin's default bound
applies), and samples the plugin's resident set size every 20 ms until every answer is in.
Prints markdown rows: the plugin's RSS after `initialize` (its baseline in the same run),
the peak during the runs, and what the answers were.

Run from the repository root, as root or a user with podman or Docker:
`python benchmarks/output_memory.py --tool podman [--runs 32] [--mib 100]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin"))

from wfcompute_container.operations.images import build_rootfs_image  # noqa: E402

IMAGE = "localhost/wfcompute-bench-output:1"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def request(msg_id: int, tool: str, workspace: Path, mib: int) -> bytes:
    body: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "command.run",
        "params": {
            "invocation": {
                "request": {
                    "protocol_version": "compute.v1alpha1",
                    "task_id": f"bench-{msg_id}",
                    "lease_id": "bench",
                    "workload_kind": "command",
                    "operation": "run-sandboxed-command",
                    "input": {"args": ["head", "-c", str(mib << 20), "/dev/zero"]},
                },
                "image": IMAGE,
                "workspace": str(workspace),
                "network": "none",
                "timeout_ms": 600_000,
            },
            "runtime": {"tool": tool},
        },
    }
    return json.dumps(body).encode() + b"\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tool", choices=("podman", "docker"), default="podman")
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument(
        "--plugin",
        default=str(REPO / "cmd" / "workflow-plugin-compute-container"),
        help="the plugin command to measure (default: this checkout's)",
    )
    args = parser.parse_args()

    anyio.run(lambda: build_rootfs_image(args.tool, IMAGE, {}))
    with tempfile.TemporaryDirectory(prefix="wfcompute-bench-output-") as temp:
        root = Path(temp)
        proc = subprocess.Popen(
            [sys.executable, args.plugin, "--max-concurrency", str(args.runs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        answers: Counter[str] = Counter()
        longest = 0
        lines_seen = threading.Semaphore(0)

        def read() -> None:
            nonlocal longest
            assert proc.stdout is not None
            for line in proc.stdout:
                longest = max(longest, len(line))
                message = json.loads(line)
                if message.get("id") != "init":
                    error = message.get("error")
                    answers["result" if error is None else f"error {error['code']}"] += 1
                lines_seen.release()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        proc.stdin.write(
            b'{"jsonrpc":"2.0","id":"init","method":"initialize",'
            b'"params":{"protocol_version":"compute.v1alpha1"}}\n'
        )
        proc.stdin.flush()
        lines_seen.acquire()
        time.sleep(0.5)
        baseline = rss_kib(proc.pid)
        for n in range(args.runs):
            workspace = root / f"ws-{n}"
            workspace.mkdir()
            proc.stdin.write(request(n, args.tool, workspace, args.mib))
        proc.stdin.flush()
        peak = baseline
        started = time.monotonic()
        got = 0
        while got < args.runs:
            if lines_seen.acquire(timeout=0.02):
                got += 1
            peak = max(peak, rss_kib(proc.pid))
        took = time.monotonic() - started
        proc.stdin.close()
        proc.wait(timeout=60)

    columns = ("plugin", "runs × output", "RSS after initialize", "peak RSS", "answers")
    print("| " + " | ".join((*columns, "longest line", "wall")) + " |")
    print("|---" * (len(columns) + 2) + "|")
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(answers.items()))
    print(
        f"| {os.path.relpath(args.plugin, REPO)} | {args.runs} × {args.mib} MiB ({args.tool}) |"
        f" {baseline / 1024:.1f} MiB | {peak / 1024:.1f} MiB | {summary} |"
        f" {longest / (1 << 20):.1f} MiB | {took:.1f} s |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
