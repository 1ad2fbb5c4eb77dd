"""Logging to stderr, one line per record (stdout belongs to the protocol)."""

from __future__ import annotations

import logging
import sys
import time

from ..redaction import redact_secrets

LEVELS = ("debug", "info", "warning", "error", "critical")


class OneLineFormatter(logging.Formatter):
    """`<UTC time> <LEVEL> <logger>: <message>`; newlines (tracebacks too) escaped as \\n.

    Every line goes through credential redaction first (a record or a traceback may quote a
    tool's text or an exception carrying a URL's user-info); paths are kept, since a
    traceback's source paths are what a log is read for.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        text = redact_secrets(super().format(record))
        return text.replace("\r", "\\r").replace("\n", "\\n")


def configure_logging(level: str) -> None:
    """Send every record at `level` or above to stderr, replacing earlier handlers."""
    name = level.strip().lower()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name.upper())
