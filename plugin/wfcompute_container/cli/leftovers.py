"""`leftovers`: show (and with `--reap`, remove) what dead plugin instances left on this host.

Dead instances are found in the state root (operations.reaper): their env files, scratch
directories, unrestored workspace modes and labelled containers. `--orphans` also lists
labelled containers whose instance directory is gone and whose owner process no longer
exists (podman, Docker, nerdctl; `--namespace` adds a nerdctl namespace). Exit status: 0
when nothing is left afterwards, 1 when something is (or, without `--reap`, was found).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any


def add_parsers(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "leftovers",
        help="show or reap what dead plugin instances left (containers, env files, modes)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--reap", action="store_true", help="remove what is found")
    parser.add_argument(
        "--orphans",
        action="store_true",
        help="also look for labelled containers with no instance directory and a dead owner",
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="nerdctl namespace to search for orphans (repeatable; default: nerdctl's own)",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(func=cmd_leftovers)


def cmd_leftovers(args: argparse.Namespace) -> int:
    import anyio

    from ..operations.reaper import dead_instances, orphan_containers

    async def find() -> Any:
        report = await dead_instances(reap=args.reap)
        if args.orphans:
            scopes = tuple(("--namespace", name) for name in args.namespace)
            report.orphans = await orphan_containers(scopes=scopes, reap=args.reap)
        return report

    report = anyio.run(find)
    if args.json:
        print(json.dumps(asdict(report), indent=2, sort_keys=True))
    else:
        _print_table(report, args.reap)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if report.errors:
        return 1
    if args.reap:
        left = any(not found.removed for found in report.instances) or any(
            not orphan.removed for orphan in report.orphans
        )
        return 1 if left else 0
    return 0 if report.empty else 1


def _print_table(report: Any, reaped: bool) -> None:
    if report.empty:
        print("no leftovers")
        return
    verb = "reaped" if reaped else "found"
    for found in report.instances:
        tools = ", ".join(" ".join((rt.tool, *rt.scope_args)) for rt in found.runtimes) or "none"
        state = "" if not reaped else (" (removed)" if found.removed else " (partly; kept)")
        print(
            f"{verb} dead instance {found.id}{state}: {found.env_dirs} env file(s),"
            f" {found.scratch_dirs} scratch dir(s), {found.mode_journals} mode journal(s),"
            f" tools: {tools}, containers: {', '.join(found.containers) or 'none'}"
        )
        for name in found.containers_left:
            print(f"  could not remove container {name}")
    for orphan in report.orphans:
        state = "" if not reaped else (" (removed)" if orphan.removed else " (NOT removed)")
        print(
            f"{verb} orphan container {orphan.name} ({orphan.tool}) of instance"
            f" {orphan.instance}, owner pid {orphan.owner_pid}{state}"
        )
