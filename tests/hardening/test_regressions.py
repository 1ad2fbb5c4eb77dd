"""Regression tests for bugs the hardening runs found (each names the fix it guards)."""

from __future__ import annotations

from wfcompute_container.operations.sandbox import redact_tool_detail


def test_availability_detail_hides_credentials_the_tool_prints() -> None:
    """Found by the canary test: `<tool> version` stderr carrying a token reached -32011.

    Fix: operations/sandbox.py `redact_tool_detail` also drops everything from the first
    word naming a credential (the probe redaction's markers) onwards.
    """
    text = "Error: auth token=canary-77 rejected; password: hunter2 Bearer abc.def"
    redacted = redact_tool_detail(text)
    for secret in ("canary-77", "hunter2", "abc.def"):
        assert secret not in redacted
    assert redacted == "Error: <redacted>"
    # clean lines and socket-only lines are kept as before
    assert redact_tool_detail("Cannot connect: is the daemon running?") == (
        "Cannot connect: is the daemon running?"
    )
    assert redact_tool_detail("dial unix:///run/docker.sock failed") == (
        "dial <redacted> failed"
    )
