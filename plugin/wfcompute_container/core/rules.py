"""Shared field rules of compute-core, with their exact texts."""

from __future__ import annotations

import re

from ..goparity.text import contains_any, go_lower, trim_space

SHA256_PREFIX = "sha256:"
SHA256_HEX_LEN = 64
_IDENTIFIER_FORBIDDEN = " \t\r\n/:?&#"
# Used by version/operation checks: Go "must not contain whitespace" set (with NUL).
VERSION_FORBIDDEN = " \t\r\n\x00"
# validateRuntimeBackendPublicText's lower-case markers; the probe redaction extends them.
NON_SHIPPABLE_MARKERS = (
    "/users/",
    "/home/",
    "\\users\\",
    ".sock",
    "token",
    "cookie",
    "secret",
    "password",
    "credential",
    "authorization",
    "bearer",
)
# One compiled match instead of a per-character loop: these run on every digest.validate.
# fullmatch, not `$`: `$` would also accept a trailing newline.
_SHA256_REF = re.compile(r"sha256:[0-9a-fA-F]{64}")
_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def trimmed_required_error(name: str, value: str) -> str | None:
    """Present and without surrounding white space: validateIdentifier's first two rules,
    which the managed-bundle public-text fields share."""
    trimmed = trim_space(value)
    if trimmed == "":
        return f"{name} is required"
    if trimmed != value:
        return f"{name} must not contain leading or trailing whitespace"
    return None


def identifier_error(name: str, value: str) -> str | None:
    """validateIdentifier: the first failing rule's text, None when valid."""
    error = trimmed_required_error(name, value)
    if error is not None:
        return error
    if contains_any(value, _IDENTIFIER_FORBIDDEN):
        return f"{name} must not contain whitespace, scheme, path, query, or fragment"
    return None


def validate_identifier(name: str, value: str) -> list[str]:
    """validateIdentifier as a list of 0 or 1 errors."""
    error = identifier_error(name, value)
    return [] if error is None else [error]


def scoped_ref_error(name: str, value: str, scheme: str) -> str | None:
    """validateScopedRef: the first failing rule's text, None when valid."""
    if not value.startswith(scheme):
        return f"{name} must use {scheme} scoped ref"
    if ".." in value:
        return f"{name} must not contain parent traversal"
    if value[len(scheme) :] == "":
        return f"{name} must include scoped path"
    return None


def valid_sha256_ref(value: str) -> bool:
    """`sha256:` + 64 hex chars, either case (validSHA256Ref)."""
    return _SHA256_REF.fullmatch(value) is not None


def valid_sha256_digest(value: str) -> bool:
    """`sha256:` + 64 lowercase hex chars (validSHA256Digest)."""
    return _SHA256_DIGEST.fullmatch(value) is not None


def public_text_errors(field: str, value: str) -> list[str]:
    """validateRuntimeBackendPublicText: 0–2 errors for text that may leave the machine."""
    if value == "":
        return []
    errors: list[str] = []
    lowered = go_lower(value)
    if any(marker in lowered for marker in NON_SHIPPABLE_MARKERS):
        errors.append(f"{field} contains non-shippable runtime evidence")
    if contains_any(value, "\x00\r\n"):
        errors.append(f"{field} must be single-line text")
    return errors


def version_errors(name: str, value: str) -> list[str]:
    """Descriptor/provider-config version rule: required, no whitespace or NUL."""
    if trim_space(value) == "":
        return [f"{name} is required"]
    if contains_any(value, VERSION_FORBIDDEN):
        return [f"{name} must not contain whitespace"]
    return []


def prefixed(prefix: str, errors: list[str]) -> list[str]:
    """Go `fmt.Errorf("<prefix>: %w", errors.Join(...))`: one entry, only line 1 prefixed."""
    if not errors:
        return []
    return [f"{prefix}: " + "\n".join(errors)]
