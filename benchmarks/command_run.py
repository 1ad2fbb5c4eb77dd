"""command.run of `true` against a direct `<tool> run --rm` of the same image, in the same run.

Builds a busybox image offline (operations/images.py), then times, alternating to share any
drift between the two, --repeat runs each of:

* direct: `<tool> run --rm <image> true` (no hardening flags, no checks),
* direct hardened: the exact argv command.run would execute (sandbox.prepare), run by
  subprocess, which isolates the plugin's own overhead from the flags' cost, and
* command.run: the operations layer's run_command for a `true` workload (availability check,
  hardened argv with env file, named container, output capture, workspace size).

Prints a markdown table header and one row with medians and the ratio. Run from the
repository root: `python benchmarks/command_run.py [--tool podman] [--repeat 20]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
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
from wfcompute_container.operations.sandbox import (  # noqa: E402
    Runtime,
    SandboxRunRequest,
    prepare,
)

IMAGE = "localhost/wfcompute-bench-true:1"


def direct_run(tool: str) -> float:
    started = time.perf_counter()
    subprocess.run([tool, "run", "--rm", IMAGE, "true"], check=True, capture_output=True)
    return time.perf_counter() - started


def direct_hardened_run(tool: str, workspace: str) -> float:
    request = SandboxRunRequest(
        image=IMAGE, command=["true"], workspace=workspace, env={"BENCH": "1"}
    )
    prepared = prepare(Runtime(tool=tool), request, dry_run=False)  # type: ignore[arg-type]
    try:
        started = time.perf_counter()
        subprocess.run(prepared.argv, check=True, capture_output=True)
        return time.perf_counter() - started
    finally:
        prepared.cleanup()


def plugin_run(tool: str, workspace: str) -> float:
    invocation = build_command_invocation(
        CommandInvocationOptions(
            task_id="bench",
            lease_id="bench",
            image=IMAGE,
            workspace=workspace,
            workload=CommandWorkload(
                args=["true"],
                env=[{"name": "BENCH", "value_ref": "v"}],  # type: ignore[list-item]
            ),
            resolved_env={"v": "1"},
        )
    )

    async def once() -> float:
        started = time.perf_counter()
        result = await run_command(invocation, Runtime(tool=tool))  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        if result.exit_code != 0:
            raise SystemExit(f"command.run failed: {result.stderr!r}")
        return elapsed

    return anyio.run(once)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", default="podman", choices=["podman", "docker"])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    anyio.run(build_rootfs_image, args.tool, IMAGE, {})
    with tempfile.TemporaryDirectory(prefix="wfcompute-bench-") as workspace:
        direct_run(args.tool)  # warm the image and the runtime's caches
        plugin_run(args.tool, workspace)
        direct: list[float] = []
        hardened: list[float] = []
        plugin: list[float] = []
        for _ in range(args.repeat):
            direct.append(direct_run(args.tool))
            hardened.append(direct_hardened_run(args.tool, workspace))
            plugin.append(plugin_run(args.tool, workspace))
    direct_median = statistics.median(direct)
    hardened_median = statistics.median(hardened)
    plugin_median = statistics.median(plugin)
    print(
        "| tool | runs | direct `run --rm` (s) | direct hardened argv (s) "
        "| command.run (s) | ratio vs direct | ratio vs hardened |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.tool} | {args.repeat} | {direct_median:.3f} | {hardened_median:.3f} "
        f"| {plugin_median:.3f} | {plugin_median / direct_median:.2f}x "
        f"| {plugin_median / hardened_median:.2f}x |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
