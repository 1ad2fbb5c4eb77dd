"""Three runtime probes at once against the slowest single probe, measured in the same run.

Probes run concurrently, so `runtime.probe` over podman, Docker and nerdctl should take about
as long as the slowest of them alone (aim: ratio <= 1.25). Each round times every default
probe on its own, then all three together; the row reports the medians and the median ratio
(three-at-once / slowest single of the same round).

The conformance image defaults to the probe image (built first with `probe-image build` for
each tool present, unless --no-build), so the probes do real conformance runs; pass
`--conformance-image ''` for the reference default. Missing tools are simply unsupported.
Run from the repository root: `python benchmarks/probe_concurrency.py [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import anyio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin"))

from wfcompute_container.operations.probe_image import (  # noqa: E402
    DEFAULT_PROBE_IMAGE_TAG,
    build_probe_image,
)
from wfcompute_container.operations.probes import (  # noqa: E402
    ProbeOptions,
    default_probes,
    probe_all,
)


async def timed(probes: list[ProbeOptions]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    results = await probe_all(probes)
    return time.perf_counter() - started, [r.status for r in results.reports]


async def one_round(image: str) -> tuple[float, float, list[str]]:
    probes = default_probes(conformance_image=image)
    singles = [(await timed([probe]))[0] for probe in probes]
    together, statuses = await timed(probes)
    return max(singles), together, statuses


async def main_async(args: argparse.Namespace) -> None:
    image: str = args.conformance_image
    if image == DEFAULT_PROBE_IMAGE_TAG and not args.no_build:
        for tool in ("podman", "docker"):
            if shutil.which(tool):
                try:
                    await build_probe_image(tool, image)
                except Exception as err:  # a tool that cannot import still gets probed
                    print(f"note: {tool}: {err}", file=sys.stderr)
    await one_round(image)  # warm caches (image layers, binaries)
    rounds = [await one_round(image) for _ in range(args.rounds)]
    slowest = statistics.median(r[0] for r in rounds)
    together = statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[1] / r[0] for r in rounds)
    statuses = ", ".join(rounds[-1][2])
    print(
        "| benchmark | probes (status) | slowest single (median) | three at once (median) | ratio |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| probe concurrency | podman, docker, nerdctl ({statuses}) | "
        f"{slowest * 1000:.0f} ms | {together * 1000:.0f} ms | {ratio:.2f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conformance-image", default=DEFAULT_PROBE_IMAGE_TAG)
    parser.add_argument("--no-build", action="store_true", help="do not build the probe image")
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
