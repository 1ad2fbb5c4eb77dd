"""Argument types shared by the sub-command parsers (cheap to import: no operations layer)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse `type` for counts, sizes and time limits: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value
