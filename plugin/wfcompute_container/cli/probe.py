"""`probe` (which container backends work here) and `probe-image build` (the conformance image).

`probe` prints a table for people (backend, status, version, reason) or, with `--json`, the
same result `runtime.probe` answers. Exit status: 0 when the probes ran, whatever they found;
2 for bad arguments. `probe-image build` imports the probe image into podman or docker offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .arguments import positive_int

CONFORMANCE_IMAGE_ENV = "WFCOMPUTE_CONFORMANCE_IMAGE"


def add_parsers(subparsers: Any) -> None:
    from ..operations.probe_image import DEFAULT_PROBE_IMAGE_TAG, PROBE_IMAGE_TOOLS
    from ..operations.probes import DEFAULT_BACKEND_IDS, DEFAULT_TIMEOUT_MS

    probe_p = subparsers.add_parser(
        "probe",
        help="probe this machine's container backends (table; --json for machines)",
        description=(
            "Probe podman, Docker and nerdctl concurrently: each is unsupported (missing), "
            "degraded (present but failed a check, with the reason) or supported (the "
            "conformance image proved the sandbox). Build a conformance image that can pass "
            "with `probe-image build`."
        ),
    )
    probe_p.add_argument("--json", action="store_true", help="print the runtime.probe result JSON")
    probe_p.add_argument(
        "--conformance-image",
        default=None,
        help=f"image to run the conformance probe in (default: ${CONFORMANCE_IMAGE_ENV}, "
        "else the reference distroless image)",
    )
    probe_p.add_argument(
        "--backend",
        action="append",
        choices=DEFAULT_BACKEND_IDS,
        default=None,
        help="probe only this backend (repeatable; default all)",
    )
    probe_p.add_argument(
        "--conformance-workspace",
        default=None,
        help="host directory mounted as /workspace (default: a fresh temporary directory)",
    )
    probe_p.add_argument(
        "--timeout-ms",
        type=positive_int,
        default=DEFAULT_TIMEOUT_MS,
        help=f"per-backend time limit in milliseconds (default {DEFAULT_TIMEOUT_MS})",
    )
    probe_p.set_defaults(func=cmd_probe)

    image_p = subparsers.add_parser(
        "probe-image", help="the conformance probe image (build it offline)"
    )
    image_sub = image_p.add_subparsers(dest="probe_image_command", metavar="SUBCOMMAND")
    image_p.set_defaults(func=lambda args: _usage(image_p))
    build_p = image_sub.add_parser(
        "build",
        help="build the probe image with podman or docker, without a registry",
        description=(
            "Packs a static busybox and /usr/local/bin/wfcompute-sandbox-probe into a root "
            "filesystem and imports it with `<tool> import`. Needs busybox-static."
        ),
    )
    build_p.add_argument("--tool", required=True, choices=PROBE_IMAGE_TOOLS)
    build_p.add_argument(
        "--tag", default=DEFAULT_PROBE_IMAGE_TAG, help=f"(default {DEFAULT_PROBE_IMAGE_TAG})"
    )
    build_p.set_defaults(func=cmd_probe_image_build)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return 2


def cmd_probe(args: argparse.Namespace) -> int:
    import anyio

    from ..errors import PluginError
    from ..goparity.jsonenc import marshal_indent
    from ..operations.probe_selection import RuntimeProbeParams, RuntimeProbeResult, run_probe

    image = args.conformance_image or os.environ.get(CONFORMANCE_IMAGE_ENV) or None
    params = RuntimeProbeParams(
        backends=args.backend,
        conformance_image=image,
        conformance_workspace=args.conformance_workspace,
        timeout_ms=args.timeout_ms,
    )
    try:
        result: RuntimeProbeResult = anyio.run(run_probe, params, "")
    except PluginError as err:
        print(f"probe: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(marshal_indent(result.to_wire()))
    else:
        print(format_table(result))
    return 0


def format_table(result: Any) -> str:
    """Backend, status, version, reason: one aligned row per report."""
    rows = [("BACKEND", "STATUS", "VERSION", "REASON")]
    for report in result.reports:
        rows.append((report.backend_id, report.status, report.version or "-", report.reason))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    providers = [capability.provider for capability in result.provider_capabilities]
    lines.append("")
    lines.append("supported providers: " + (", ".join(providers) if providers else "none"))
    return "\n".join(line.rstrip() for line in lines)


def cmd_probe_image_build(args: argparse.Namespace) -> int:
    import anyio

    from ..errors import PluginError
    from ..operations.probe_image import build_probe_image

    try:
        built = anyio.run(build_probe_image, args.tool, args.tag)
    except PluginError as err:
        print(f"probe-image build: {err}", file=sys.stderr)
        return 1
    identity = f" ({built.image_id})" if built.image_id else ""
    print(f"built {built.tag} with {built.tool}{identity}")
    print(f"use it: probe --conformance-image {built.tag}  ({CONFORMANCE_IMAGE_ENV}={built.tag})")
    return 0
