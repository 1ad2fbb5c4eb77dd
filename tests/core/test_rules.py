"""Shared field rules."""

from __future__ import annotations

import pytest

from wfcompute_container.core import enums
from wfcompute_container.core.rules import (
    identifier_error,
    prefixed,
    public_text_errors,
    valid_sha256_digest,
    valid_sha256_ref,
    validate_identifier,
    version_errors,
)

HEX_LOWER = "0123456789abcdef" * 4
HEX_UPPER = HEX_LOWER.upper()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("podman-rootless", None),
        ("a.b_c-1", None),
        ("", "backend_id is required"),
        (" \t", "backend_id is required"),
        ("\u00a0", "backend_id is required"),
        (" x", "backend_id must not contain leading or trailing whitespace"),
        ("x\u3000", "backend_id must not contain leading or trailing whitespace"),
        ("a b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a\tb", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a/b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a:b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a?b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a&b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        ("a#b", "backend_id must not contain whitespace, scheme, path, query, or fragment"),
        # Go TrimSpace keeps U+001C..U+001F and NUL; the charset check does not list them.
        ("a\x1cb", None),
        ("\x1c", None),
        ("a\x00b", None),
    ],
)
def test_identifier(value: str, expected: str | None) -> None:
    assert identifier_error("backend_id", value) == expected
    assert validate_identifier("backend_id", value) == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("value", "ref_ok", "digest_ok"),
    [
        ("sha256:" + HEX_LOWER, True, True),
        ("sha256:" + HEX_UPPER, True, False),
        ("sha256:" + HEX_LOWER[:-1] + "A", True, False),
        ("sha256:" + HEX_LOWER[:-1], False, False),
        ("sha256:" + HEX_LOWER + "0", False, False),
        ("sha256:" + HEX_LOWER[:-1] + "g", False, False),
        ("SHA256:" + HEX_LOWER, False, False),
        ("sha512:" + HEX_LOWER, False, False),
        ("sha256:not-hex", False, False),
        ("", False, False),
        (HEX_LOWER, False, False),
    ],
)
def test_sha256_checks(value: str, ref_ok: bool, digest_ok: bool) -> None:
    assert valid_sha256_ref(value) is ref_ok
    assert valid_sha256_digest(value) is digest_ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("distroless-static-conformance", []),
        ("/home/example/.config/runtime", ["f contains non-shippable runtime evidence"]),
        ("/Users/me", ["f contains non-shippable runtime evidence"]),
        ("C:\\Users\\me", ["f contains non-shippable runtime evidence"]),
        ("runtime socket docker.sock", ["f contains non-shippable runtime evidence"]),
        ("credential token was set", ["f contains non-shippable runtime evidence"]),
        ("registry secret value", ["f contains non-shippable runtime evidence"]),
        ("session cookie present", ["f contains non-shippable runtime evidence"]),
        ("PASSWORD", ["f contains non-shippable runtime evidence"]),
        ("Authorization: Bearer x", ["f contains non-shippable runtime evidence"]),
        ("two\nlines", ["f must be single-line text"]),
        ("cr\r", ["f must be single-line text"]),
        ("nul\x00", ["f must be single-line text"]),
        ("tab\tis fine", []),
        (
            "token\nsplit",
            ["f contains non-shippable runtime evidence", "f must be single-line text"],
        ),
    ],
)
def test_public_text(value: str, expected: list[str]) -> None:
    assert public_text_errors("f", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("v1", []),
        ("", ["version is required"]),
        (" ", ["version is required"]),
        ("v 1", ["version must not contain whitespace"]),
        (" v1", ["version must not contain whitespace"]),
        ("v1\x00", ["version must not contain whitespace"]),
        ("v1\r", ["version must not contain whitespace"]),
        # Only space, TAB, CR, LF and NUL are forbidden inside.
        ("v\u00a01", []),
    ],
)
def test_version(value: str, expected: list[str]) -> None:
    assert version_errors("version", value) == expected


def test_prefixed_wraps_joined_text_once() -> None:
    assert prefixed("env[0]", []) == []
    assert prefixed("env[0]", ["a", "b"]) == ["env[0]: a\nb"]


def test_enum_sets() -> None:
    assert len(enums.VALID_WORKLOAD_KINDS) == 12
    assert len(enums.VALID_RUNTIME_PROFILES) == 5
    assert "" not in enums.VALID_EXECUTION_SECURITY_TIERS
    assert {"trusted-native", "wasm-capability"} == enums.NATIVE_EXECUTION_TIERS
    assert enums.MAX_RUNTIME_RESULT_PREVIEW_BYTES == 16384
    assert enums.PROTOCOL_VERSION == "compute.v1alpha1"
    assert {"hyper-v", "wsl", "containerd"} <= enums.VALID_RUNTIME_BACKEND_FAMILIES


def test_markers_are_found_after_go_lower_casing() -> None:
    # Go's ToLower maps U+0130 (İ) to "i"; Python's full mapping would add a combining dot.
    assert public_text_errors("reason", "credent\u0130al") == [
        "reason contains non-shippable runtime evidence"
    ]
    assert public_text_errors("reason", "AUTHOR\u0130ZAT\u0130ON") == [
        "reason contains non-shippable runtime evidence"
    ]
