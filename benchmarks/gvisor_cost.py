"""The price of gVisor: `command.run` under runc (the tool's default) and under runsc.

Two workloads, each run through operations.runs.run_command (the path command.run takes:
hardened argv, env file, labels, clean-up, artifact hashing):

- `true`: the fixed cost of starting and removing a sandbox;
- `dd` of 1 GiB into the workspace, then hashed as the run's artifact: file I/O through
  gVisor's gofer against the host's page cache.

Rounds alternate runc and runsc; medians are printed as markdown rows. Needs root's podman
(or a Docker daemon with runsc registered, docs/SECURITY.md section 6) and Debian's runsc.
Run from the repository root:
`python benchmarks/gvisor_cost.py [--tool podman|docker] [--rounds 5] [--gib 1]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin"))

from wfcompute_container.core.workloads import CommandWorkload  # noqa: E402
from wfcompute_container.operations.images import build_rootfs_image  # noqa: E402
from wfcompute_container.operations.invocations import (  # noqa: E402
    CommandInvocationOptions,
    build_command_invocation,
)
from wfcompute_container.operations.runs import run_command  # noqa: E402
from wfcompute_container.operations.sandbox import Runtime  # noqa: E402

IMAGE = "localhost/wfcompute-bench-true:1"


def one_run(runtime: Runtime, workspace: Path, script: list[str], allow: list[str]) -> float:
    invocation = build_command_invocation(
        CommandInvocationOptions(
            task_id="bench",
            lease_id="bench",
            image=IMAGE,
            workspace=str(workspace),
            workload=CommandWorkload.model_validate({"args": script, "artifact_allowlist": allow}),
            timeout_ms=600_000,
        )
    )
    started = time.perf_counter()
    result = anyio.run(run_command, invocation, runtime)
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"run failed: {result.stderr!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gib", type=int, default=1)
    parser.add_argument("--tool", choices=("podman", "docker"), default="podman")
    args = parser.parse_args()
    runtimes = {
        "runc": Runtime(tool=args.tool),
        "runsc": Runtime(tool=args.tool, runtime_name="runsc"),
    }
    anyio.run(build_rootfs_image, args.tool, IMAGE, {})
    cases = {
        "true": (["true"], []),
        f"write {args.gib} GiB + hash": (
            ["dd", "if=/dev/zero", "of=/workspace/big", "bs=1M", f"count={1024 * args.gib}"],
            ["big"],
        ),
    }
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="wfcompute-bench-gvisor-", dir="/var/tmp") as temp:
        for case_index, (case, (script, allow)) in enumerate(cases.items()):
            for round_index in range(args.rounds + 1):  # the first round warms up
                for name, runtime in runtimes.items():
                    workspace = Path(temp, f"{name}-{case_index}-{round_index}")
                    workspace.mkdir()
                    elapsed = one_run(runtime, workspace, script, allow)
                    (workspace / "big").unlink(missing_ok=True)
                    if round_index:
                        times.setdefault((case, name), []).append(elapsed)
    print(f"{args.tool}:")
    print("| workload | runc (median s) | runsc (median s) | runsc / runc |")
    print("|---|---|---|---|")
    for case in cases:
        runc = statistics.median(times[(case, "runc")])
        runsc = statistics.median(times[(case, "runsc")])
        print(f"| {case} | {runc:.3f} | {runsc:.3f} | {runsc / runc:.2f}× |")


if __name__ == "__main__":
    main()
