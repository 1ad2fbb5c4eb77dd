"""Decoding a conformance image's evidence JSON the way Go's json.Unmarshal would.

Keys match field names case-insensitively (exact match preferred), unknown keys are ignored,
the last duplicate wins, a JSON ``null`` leaves a field at its zero value, and errors carry
Go's texts (``unexpected end of JSON input``, ``invalid character 'x' looking for beginning
of value``, ``json: cannot unmarshal ...``), because probe reasons quote them.
"""

from __future__ import annotations

from typing import Any

from ..core.backends import RuntimeBackendEvidence
from ..goparity.jsondecode import (
    GoJSONError,
    ObjectPairs,
    cannot_unmarshal_field,
    cannot_unmarshal_value,
    loads,
    match_field,
)
from ..goparity.text import replace_surrogates, trim_space
from ..redaction import redact_secrets

_GO_TYPE = "protocol.RuntimeBackendEvidence"
_STRUCT = "RuntimeBackendEvidence"
_BOOL_FIELDS = ("workspace", "network", "env", "proof", "cleanup")
_FIELDS = tuple(RuntimeBackendEvidence.model_fields)


class EvidenceDecodeError(Exception):
    """Go's json error text for the evidence document."""


def decode_evidence(stdout: bytes) -> RuntimeBackendEvidence:
    """Decode TrimSpace(stdout); raises EvidenceDecodeError with Go's message."""
    # Invalid bytes stay known (as surrogate escapes) until the strings are taken: a syntax
    # error names the offending byte, and each invalid byte in a string becomes one U+FFFD
    # (Python's "replace" would give one per invalid sequence).
    text = trim_space(stdout.decode("utf-8", errors="surrogateescape"))
    try:
        document = loads(text, keep_pairs=True)
    except GoJSONError as err:
        raise EvidenceDecodeError(str(err)) from None
    evidence = RuntimeBackendEvidence()
    if document is None:
        return evidence
    if not isinstance(document, ObjectPairs):
        raise EvidenceDecodeError(cannot_unmarshal_value(document, _GO_TYPE))
    first_error: str | None = None
    for key, value in document:
        name = match_field(key, _FIELDS)
        if name is None:
            continue
        problem = _assign(evidence, name, value)
        if problem is not None and first_error is None:
            first_error = problem
    if first_error is not None:
        raise EvidenceDecodeError(first_error)
    return evidence


def _assign(evidence: RuntimeBackendEvidence, name: str, value: Any) -> str | None:
    if value is None:
        if name == "details":
            evidence.details = None
        return None
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            return _field_type_error(value, name, "bool")
        setattr(evidence, name, value)
        return None
    if name == "digest":
        if not isinstance(value, str):
            return _field_type_error(value, name, "string")
        evidence.digest = replace_surrogates(value)
        return None
    if not isinstance(value, list):
        return _field_type_error(value, name, "[]string")
    details: list[str] = []
    problem: str | None = None
    for item in value:
        if isinstance(item, str):
            # Details are published; a credential a probe image printed is not.
            details.append(redact_secrets(replace_surrogates(item)))
        elif item is None:
            details.append("")
        else:
            details.append("")
            problem = problem or _field_type_error(item, name, "string")
    evidence.details = details
    return problem


def _field_type_error(value: Any, name: str, go_type: str) -> str:
    return cannot_unmarshal_field(value, f"{_STRUCT}.{name}", go_type)
