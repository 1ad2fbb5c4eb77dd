"""`managed-runtime install|doctor|uninstall|reinstall`: the reference CLI, flag for flag.

Flags follow Go's `flag` package (what scripts written for the reference expect): `-x v`,
`-x=v`, `--x v` and `--x=v`; parsing stops at the first non-flag argument or `--`. Exit
status 2 for usage errors, 1 for failed operations, 0 with the JSON result on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import anyio

from ..errors import PluginError
from ..goparity.text import quote
from ..operations.managed import BundleRequest, ManagedRuntimeBundleInstaller, load_catalog

COMMAND = "managed-runtime"
USAGE = "usage: managed-runtime <install|doctor|uninstall|reinstall> [flags]"
SUBCOMMANDS = ("install", "doctor", "uninstall", "reinstall")
# (flag name, description), in Go's PrintDefaults order (sorted by name).
FLAGS: tuple[tuple[str, str], ...] = (
    ("bundle-id", "managed runtime bundle id"),
    ("catalog", "managed runtime bundle catalog path"),
    ("install-root", "agent-managed install root"),
    ("target-arch", "target architecture"),
    ("target-os", "target operating system"),
)
_FLAG_NAMES = frozenset(name for name, _ in FLAGS)


def add_parsers(subparsers: Any) -> None:
    """Register `managed-runtime`; its own arguments are parsed Go-style by `run`."""
    parser = subparsers.add_parser(
        COMMAND,
        help="install, check or remove an agent-managed containerd runtime bundle",
        add_help=False,
        # Nothing after `managed-runtime` is an argparse option; `run` parses it.
        prefix_chars="\x00",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda args: run([COMMAND, *args.args]))


class _FlagError(Exception):
    def __init__(self, message: str | None) -> None:
        super().__init__(message or "")
        self.message = message


def usage_text(sub: str) -> str:
    lines = [f"Usage of {COMMAND} {sub}:"]
    for name, description in FLAGS:
        lines.append(f"  -{name} string")
        lines.append(f"    \t{description}")
    return "\n".join(lines) + "\n"


def parse_flags(args: Sequence[str]) -> dict[str, str]:
    """Go flag.FlagSet.Parse for string flags; raises _FlagError (message None for -h)."""
    values: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if len(arg) < 2 or not arg.startswith("-"):
            break
        dashes = 2 if arg.startswith("--") else 1
        if arg == "--":
            break
        name = arg[dashes:]
        if name == "" or name.startswith("-") or name.startswith("="):
            raise _FlagError(f"bad flag syntax: {arg}")
        index += 1
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name not in _FLAG_NAMES:
            if name in ("h", "help"):
                raise _FlagError(None)
            raise _FlagError(f"flag provided but not defined: -{name}")
        if value is None:
            if index >= len(args):
                raise _FlagError(f"flag needs an argument: -{name}")
            value = args[index]
            index += 1
        values[name] = value
    return values


def run(
    argv: Sequence[str],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    installer_factory: Any = None,
) -> int:
    """Run `managed-runtime <sub> [flags]` (argv starts at `managed-runtime`)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if not argv or argv[0] != COMMAND:
        err.write(USAGE + "\n")
        return 2
    if len(argv) < 2:
        err.write("managed-runtime subcommand is required\n")
        return 2
    sub = argv[1]
    try:
        flags = parse_flags(argv[2:])
    except _FlagError as problem:
        if problem.message is not None:
            err.write(problem.message + "\n")
        err.write(usage_text(sub))
        return 2
    catalog_path = flags.get("catalog", "")
    install_root = flags.get("install-root", "")
    bundle_id = flags.get("bundle-id", "")
    target_os = flags.get("target-os", "")
    target_arch = flags.get("target-arch", "")
    if catalog_path == "" or install_root == "" or bundle_id == "":
        err.write("--catalog, --install-root, and --bundle-id are required\n")
        return 2
    if sub != "uninstall" and (target_os == "" or target_arch == ""):
        err.write("--target-os and --target-arch are required\n")
        return 2
    try:
        catalog = load_catalog(catalog_path)
    except PluginError as problem:
        err.write(f"{problem}\n")
        return 1
    if sub not in SUBCOMMANDS:
        err.write(f"unknown managed-runtime subcommand {quote(sub)}\n")
        return 2
    factory = installer_factory or ManagedRuntimeBundleInstaller
    installer = factory(catalog, install_root)
    request = BundleRequest(bundle_id=bundle_id, target_os=target_os, target_arch=target_arch)

    async def operate() -> Any:
        if sub == "install":
            return await installer.install(request)
        if sub == "doctor":
            return await installer.doctor(request)
        if sub == "uninstall":
            return await installer.uninstall(BundleRequest(bundle_id=bundle_id))
        return await installer.reinstall(request)

    try:
        result = anyio.run(operate)
    except PluginError as problem:
        err.write(f"{problem}\n")
        return 1
    out.write(result.to_json() + "\n")
    out.flush()
    return 0
