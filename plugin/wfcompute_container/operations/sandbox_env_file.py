"""The env file that carries a sandbox's environment to the container tool (as in the Go plugin).

Values never appear in an argument vector: the tool reads them from a 0600 file in a private
0700 directory, removed when the run ends. Errors name the variable, never its value.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping

from ..goparity.oserror import errno_text, path_error
from ..goparity.text import quote

ENV_FILE_PREFIX = "wfcompute-sandbox-env-"
ENV_DIR_PREFIX = "wfcompute-sandbox-"
MAX_ENV_LINE_BYTES = 65_000
"""Bytes of one `NAME=value` line. podman and Docker read env files with Go's bufio.Scanner,
whose default token bound is 64 KiB: a longer line fails inside the tool, so it is refused
here, up front, naming the variable (never the value)."""


class EnvFileError(Exception):
    """The env map broke a rule or the file could not be written (reference text)."""


def _valid_env_name(name: str) -> bool:
    for index, char in enumerate(name):
        if char == "_" or "A" <= char <= "Z" or "a" <= char <= "z":
            continue
        if index > 0 and "0" <= char <= "9":
            continue
        return False
    return True


def validate_env(env: Mapping[str, str]) -> list[str]:
    """Names first (all of them), then values in key order; returns the sorted keys."""
    # Go reports whichever invalid name its map order meets first; sorted order makes ours stable.
    for name in sorted(env, key=os.fsencode):
        if name == "":
            raise EnvFileError("sandbox env name is required")
        if not _valid_env_name(name):
            raise EnvFileError(f"sandbox env name {quote(name)} is invalid")
    keys = sorted(env, key=lambda key: key.encode("utf-8", "surrogateescape"))
    for key in keys:
        value = env[key]
        if "\x00" in value or "\r" in value or "\n" in value:
            raise EnvFileError(f"sandbox env {quote(key)} contains unsupported newline or NUL")
        size = (
            len(key.encode("utf-8", "surrogateescape"))
            + 1
            + len(value.encode("utf-8", "surrogateescape"))
        )
        if size > MAX_ENV_LINE_BYTES:
            raise EnvFileError(
                f"sandbox env {quote(key)} is too long: its line is {size} bytes, at most"
                f" {MAX_ENV_LINE_BYTES} fit the container tools' env-file reader"
            )
    return keys


class EnvFile:
    """A written env file; ``remove()`` deletes it and its private directory (idempotent)."""

    def __init__(self, directory: str, path: str) -> None:
        self.directory = directory
        self.path = path

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def write_env_file(env: Mapping[str, str], parent: str) -> EnvFile | None:
    """Validate ``env`` and write it in a new directory under ``parent``; None when empty.

    ``parent`` is the plugin instance directory (runtime_io.instance_state), so a file left
    by a killed plugin is found and removed by the next start.
    """
    if not env:
        return None
    keys = validate_env(env)
    try:
        directory = tempfile.mkdtemp(prefix=ENV_DIR_PREFIX, dir=parent)
    except OSError as exc:
        raise EnvFileError(f"create sandbox env file: {_os_text(exc)}") from exc
    env_file = EnvFile(directory, "")
    try:
        try:
            fd, path = tempfile.mkstemp(prefix=ENV_FILE_PREFIX, dir=directory)
        except OSError as exc:
            raise EnvFileError(f"create sandbox env file: {_os_text(exc)}") from exc
        env_file.path = path
        try:
            os.fchmod(fd, 0o600)
        except OSError as exc:
            os.close(fd)
            raise EnvFileError(f"chmod sandbox env file: {_os_text(exc)}") from exc
        body = "".join(f"{key}={env[key]}\n" for key in keys).encode("utf-8", "surrogateescape")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
        except OSError as exc:
            raise EnvFileError(f"write sandbox env file: {_os_text(exc)}") from exc
    except BaseException:
        env_file.remove()
        raise
    return env_file


def _os_text(exc: OSError) -> str:
    return path_error("open", exc.filename, exc) if exc.filename else errno_text(exc)
