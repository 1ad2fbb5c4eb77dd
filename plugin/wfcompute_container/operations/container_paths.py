"""Paths as the container sees them (as in the Go plugin): the workspace is `/workspace`."""

from __future__ import annotations

from ..errors import InvalidInput
from ..goparity.paths import clean, escapes, is_abs
from ..goparity.text import contains_any, trim_space

CONTAINER_WORKSPACE = "/workspace"


def clean_container_path(value: str) -> str:
    """Reference CleanContainerPath: cleaned, '/'-separated, one leading `/` removed.

    `""` and `.` give `.`; `/` gives `""`; a leading `..` is kept.
    """
    if value in ("", "."):
        return "."
    cleaned = clean(value)
    return cleaned[1:] if cleaned.startswith("/") else cleaned


def sandbox_working_dir(value: str) -> str:
    """The in-container working directory for a workload-relative working_dir."""
    value = trim_space(value)
    if value in ("", "."):
        return CONTAINER_WORKSPACE
    if is_abs(value) or contains_any(value, "\x00\r\n"):
        raise InvalidInput("working_dir is invalid")
    cleaned = clean(value)
    if cleaned == ".":
        return CONTAINER_WORKSPACE
    if escapes(cleaned):
        raise InvalidInput("working_dir escapes workspace")
    return f"{CONTAINER_WORKSPACE}/{cleaned}"
