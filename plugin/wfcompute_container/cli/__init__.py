"""Command line: `serve` (default) speaks the protocol; the other sub-commands are for people.

Each sub-command module adds its parsers with `add_parsers(subparsers)` and sets `func` to a
callable taking the parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..rpc.limits import DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_MESSAGE_BYTES
from .arguments import positive_int

PROG = "workflow-plugin-compute-container"
DEFAULT_MAX_CONCURRENCY = DEFAULT_MAX_CONCURRENT_REQUESTS


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"):
        raise argparse.ArgumentTypeError(
            f"unknown log level {text!r} (use debug, info, warning or error)"
        )
    return "WARNING" if level == "WARN" else level


def _add_serve_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """The serving options, accepted before and after `serve`. On the `serve` sub-parser
    their defaults are suppressed, so a value given before `serve` is not overwritten."""

    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    parser.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=default(DEFAULT_MAX_MESSAGE_BYTES),
        help="longest accepted input line in bytes (default 16 MiB)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=default(DEFAULT_MAX_CONCURRENCY),
        help="requests run at once; past it stdin is not read (default 32)",
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=default(None),
        help="stderr log level (default: $WFCOMPUTE_LOG_LEVEL or warning)",
    )


# Sub-commands whose modules import the operations layer: loaded only when asked for, so
# that `serve` (the host's path) starts fast. name -> (module under cli/, help).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("probe", "probe this machine's container runtimes (table, or --json)"),
    "probe-image": ("probe", "build the conformance probe image offline"),
    "managed-runtime": ("managed", "install, check, remove managed containerd bundles"),
    "leftovers": ("leftovers", "show or reap what dead plugin instances left"),
}
REAPING_COMMANDS = ("probe", "probe-image")
"""Sub-commands that run container tools: like `serve`, they first reap dead instances."""
_GLOBAL_OPTIONS_WITH_VALUE = ("--log-level", "--max-message-bytes", "--max-concurrency")


def command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named on a command line, if any (global options skipped)."""
    tokens = iter(argv)
    for token in tokens:
        if token in _GLOBAL_OPTIONS_WITH_VALUE:
            next(tokens, None)
        elif not token.startswith("-"):
            return token
    return None


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """The parser; `load` names a lazy sub-command whose real parser is added."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Workflow Compute runtime adapter plugin: runs command and container-build "
            "workloads in hardened podman/docker/nerdctl sandboxes. With no sub-command it "
            "serves newline-delimited JSON-RPC 2.0 on stdin/stdout."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_serve_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_p = sub.add_parser("serve", help="serve the JSON-RPC protocol on stdin/stdout (default)")
    _add_serve_options(serve_p, top_level=False)
    serve_p.set_defaults(func=cmd_serve)

    catalog_p = sub.add_parser("catalog", help="print the runtime adapter catalog")
    catalog_p.set_defaults(func=cmd_catalog)

    validate_p = sub.add_parser(
        "validate", help="check plugin.json, runtime-adapters.json and every schema"
    )
    validate_p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding plugin.json, runtime-adapters.json and schemas/ (default: shipped)",
    )
    validate_p.set_defaults(func=cmd_validate)

    if load in LAZY_COMMANDS:
        module = importlib.import_module(f"{__package__}.{LAZY_COMMANDS[load][0]}")
        module.add_parsers(sub)
    else:
        for name, (_, text) in LAZY_COMMANDS.items():
            sub.add_parser(name, help=text, add_help=False)
    parser.set_defaults(func=cmd_serve)
    return parser


def log_level_from(args: argparse.Namespace) -> str:
    if args.log_level:
        return str(args.log_level)
    env = os.environ.get("WFCOMPUTE_LOG_LEVEL", "")
    if env:
        try:
            return _log_level(env)
        except argparse.ArgumentTypeError as exc:
            print(f"{PROG}: WFCOMPUTE_LOG_LEVEL: {exc}", file=sys.stderr)
    return "WARNING"


def cmd_serve(args: argparse.Namespace) -> int:
    import anyio

    from ..rpc.logs import configure_logging
    from ..rpc.stdio import protect_stdin, protect_stdout, return_large_allocations
    from ..server.app import run
    from ..server.registry import ServerSettings

    configure_logging(log_level_from(args))
    settings = ServerSettings(
        conformance_image=os.environ.get("WFCOMPUTE_CONFORMANCE_IMAGE") or None,
        max_message_bytes=args.max_message_bytes,
        max_concurrent_requests=args.max_concurrency,
    )
    return_large_allocations()
    # Children and stray writes see /dev/null and stderr; the protocol uses private copies.
    stdout_fd = protect_stdout()
    stdin_fd = protect_stdin()
    return anyio.run(lambda: run(settings, stdin_fd=stdin_fd, stdout_fd=stdout_fd))


def cmd_catalog(args: argparse.Namespace) -> int:
    from ..errors import PluginError
    from ..goparity.jsonenc import marshal_indent
    from ..operations.catalog import adapters_catalog

    try:
        content = adapters_catalog()
    except PluginError as exc:
        print(f"{PROG} catalog: runtime-adapters.json is invalid:\n{exc}", file=sys.stderr)
        return 1
    print(marshal_indent(content))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_all

    problems, notes = validate_all(args.data_dir)
    for note in notes:
        print(f"ok: {note}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{PROG} validate: {len(problems)} problem(s) found", file=sys.stderr)
        return 1
    return 0


def _reap_dead_instances(args: argparse.Namespace) -> None:
    import anyio

    from ..operations.reaper import reap_at_start
    from ..rpc.logs import configure_logging

    configure_logging(log_level_from(args))
    anyio.run(reap_at_start)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_of(arguments))
    args = parser.parse_args(arguments)
    try:
        if args.command in REAPING_COMMANDS:
            _reap_dead_instances(args)
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`); nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


__all__ = ["build_parser", "main"]
