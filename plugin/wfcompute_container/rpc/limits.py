"""The serving limits' defaults, defined once: the engine, the server settings and the command
line all take them from here."""

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Longest input line and longest answer line (16 MiB)."""
DEFAULT_MAX_CONCURRENT_REQUESTS = 32
"""Requests running at once; more wait in the bounded queue."""
