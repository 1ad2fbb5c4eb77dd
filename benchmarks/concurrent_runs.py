"""32 concurrent `command.run` of `true` through one spawned plugin against 32 concurrent direct
runs of the same hardened argv, alternating rounds; the plugin's peak RSS beside.

Direct: the argv sandbox.prepare builds (the one command.run executes: labels, env file,
read-only root, no network), started 32 at once with subprocess. Plugin: one plugin process,
32 requests written at once, timed until the 32nd answer. Each round's wall time is taken;
medians are printed as a markdown row.

Run from the repository root: `python benchmarks/concurrent_runs.py --tool podman
[--runs 32] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin"))

from wfcompute_container.operations.images import build_rootfs_image  # noqa: E402
from wfcompute_container.operations.sandbox import (  # noqa: E402
    Runtime,
    SandboxRunRequest,
    prepare,
)

IMAGE = "localhost/wfcompute-bench-true:1"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def direct_round(tool: str, workspaces: list[Path]) -> float:
    prepared = [
        prepare(
            Runtime(tool=tool),  # type: ignore[arg-type]
            SandboxRunRequest(image=IMAGE, command=["true"], workspace=str(ws), env={"BENCH": "1"}),
            dry_run=False,
            deadline_seconds=120,
        )
        for ws in workspaces
    ]
    try:
        started = time.perf_counter()
        procs = [
            subprocess.Popen(p.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in prepared
        ]
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit("a direct run failed")
        return time.perf_counter() - started
    finally:
        for p in prepared:
            p.cleanup()


def request(msg_id: int, tool: str, workspace: Path) -> bytes:
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
                    "input": {"args": ["true"]},
                    "env": {"BENCH": "1"},
                },
                "image": IMAGE,
                "workspace": str(workspace),
                "network": "none",
                "timeout_ms": 120_000,
            },
            "runtime": {"tool": tool},
        },
    }
    return json.dumps(body).encode() + b"\n"


class Plugin:
    def __init__(self, runs: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "cmd" / "workflow-plugin-compute-container")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.answers = threading.Semaphore(0)
        self.failures = 0
        self.peak = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.send(
            b'{"jsonrpc":"2.0","id":"init","method":"initialize",'
            b'"params":{"protocol_version":"compute.v1alpha1"}}\n'
        )
        self.answers.acquire()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "error" in json.loads(line):
                self.failures += 1
            self.answers.release()

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def round(self, tool: str, workspaces: list[Path]) -> float:
        started = time.perf_counter()
        self.send(b"".join(request(n, tool, ws) for n, ws in enumerate(workspaces)))
        got = 0
        while got < len(workspaces):
            if self.answers.acquire(timeout=0.02):
                got += 1
            self.peak = max(self.peak, rss_kib(self.proc.pid))
        return time.perf_counter() - started

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tool", choices=("podman", "docker"), default="podman")
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    anyio.run(build_rootfs_image, args.tool, IMAGE, {})
    with tempfile.TemporaryDirectory(prefix="wfcompute-bench-concurrent-") as temp:
        workspaces = [Path(temp, f"ws-{n}") for n in range(args.runs)]
        for ws in workspaces:
            ws.mkdir()
        plugin = Plugin(args.runs)
        direct_round(args.tool, workspaces)  # warm-up
        plugin.round(args.tool, workspaces)
        direct: list[float] = []
        through: list[float] = []
        for _ in range(args.rounds):
            direct.append(direct_round(args.tool, workspaces))
            through.append(plugin.round(args.tool, workspaces))
        plugin.close()
    if plugin.failures:
        raise SystemExit(f"{plugin.failures} plugin runs failed")
    d, p = statistics.median(direct), statistics.median(through)
    print(
        "| tool | concurrent runs | direct (s) | through the plugin (s) | ratio | plugin peak RSS |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.tool} | {args.runs} (median of {args.rounds} rounds) | {d:.2f} | {p:.2f}"
        f" | {p / d:.2f}x | {plugin.peak / 1024:.1f} MiB |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
