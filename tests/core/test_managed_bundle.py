# ruff: noqa: E501  (the rule table reads best one case per line)
"""ManagedRuntimeBundleDescriptor: Go JSON shape and ValidateAt texts in check order."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wfcompute_container.core.managed_bundle import ManagedRuntimeBundleDescriptor
from wfcompute_container.core.wire import ZERO_TIME
from wfcompute_container.goparity.timefmt import parse_rfc3339

REPO = Path(__file__).resolve().parents[2]
CATALOG = json.loads((REPO / "managed-runtime-bundles.json").read_text())
SHIPPED: dict[str, Any] = CATALOG["bundles"][0]
AT = datetime(2026, 6, 11, tzinfo=UTC)


def bundle(**changes: Any) -> ManagedRuntimeBundleDescriptor:
    document = copy.deepcopy(SHIPPED)
    for dotted, value in changes.items():
        target = document
        *parents, last = dotted.split("__")
        for parent in parents:
            target = target[parent]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return ManagedRuntimeBundleDescriptor.model_validate(document)


_DELETE = object()


def test_shipped_bundle_is_valid_at_catalog_time() -> None:
    assert bundle().validation_errors_at(AT) == []
    assert bundle().validate_at(AT) is None


def test_wire_round_trip_keeps_go_field_order() -> None:
    assert bundle().to_wire() == SHIPPED
    assert list(bundle().to_wire()) == list(SHIPPED)
    assert list(bundle().to_wire()["signature_subject"]) == [
        "artifact_digest", "runtime_family", "os", "arch", "version", "channel",
        "conformance_profile", "scoped_store_policy_digest",
    ]  # fmt: skip


def test_zero_descriptor_json_omits_only_omitempty_fields() -> None:
    assert json.loads(ManagedRuntimeBundleDescriptor().to_json()) == {
        "bundle_id": "",
        "family": "",
        "version": "",
        "os": "",
        "arch": "",
        "artifact_name": "",
        "artifact_digest": "",
        "checksum_name": "",
        "checksum_digest": "",
        "signature_name": "",
        "signature_digest": "",
        "signature_issuer": "",
        "signature_key_id": "",
        "trust_root_digest": "",
        "signature_subject": {
            "artifact_digest": "",
            "runtime_family": "",
            "os": "",
            "arch": "",
            "version": "",
            "channel": "",
            "conformance_profile": "",
            "scoped_store_policy_digest": "",
        },
        "update_policy": {"channel": "", "min_supported_version": ""},
        "cve_policy": {"policy_digest": "", "updated_by_version": ""},
        "scoped_store": {
            "required": False,
            "namespace_strategy": "",
            "store_strategy": "",
            "policy_digest": "",
            "cleanup_required": False,
            "host_global_visibility_forbidden": False,
        },
        "supported_targets": None,
        "conformance_profile": "",
        "install_burden": "",
    }


def test_zero_descriptor_reports_every_rule_in_order() -> None:
    assert ManagedRuntimeBundleDescriptor().validation_errors_at(ZERO_TIME) == [
        "validation time is required",
        "bundle_id is required",
        "family is required",
        "version is required",
        "os is required",
        "arch is required",
        "artifact_name is required",
        "artifact_digest is required",
        "checksum_name is required",
        "checksum_digest is required",
        "signature_name is required",
        "signature_digest is required",
        "signature_issuer is required",
        "signature_key_id is required",
        "trust_root_digest is required",
        "signature_subject.artifact_digest is required",
        "signature_subject.runtime_family is required",
        "signature_subject.os is required",
        "signature_subject.arch is required",
        "signature_subject.version is required",
        "signature_subject.channel is required",
        "signature_subject.conformance_profile is required",
        "signature_subject.scoped_store_policy_digest is required",
        "valid_until is required",
        "update_policy.channel is required",
        "update_policy.min_supported_version is required",
        "cve_policy.policy_digest is required",
        "cve_policy.updated_by_version is required",
        "scoped_store.required must be true",
        "scoped_store.namespace_strategy is required",
        "scoped_store.store_strategy is required",
        "scoped_store.policy_digest is required",
        "scoped_store.cleanup_required must be true",
        "scoped_store.host_global_visibility_forbidden must be true",
        "supported_targets are required",
        "conformance_profile is required",
        "install_burden is required",
    ]


def test_validate_at_joins_with_newlines() -> None:
    problem = bundle(bundle_id="", tool="crio").validate_at(AT)
    assert problem == 'bundle_id is required\ntool "crio" is unsupported'


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"protocol_version": "v2"}, ['protocol_version must be "compute.v1alpha1"']),
        ({"protocol_version": _DELETE}, []),
        ({"tool": _DELETE}, []),
        ({"family": "Docker"}, ['family "Docker" is unsupported', "signature_subject.runtime_family must match family"]),
        ({"bundle_id": " x"}, ["bundle_id must not contain leading or trailing whitespace"]),
        ({"bundle_id": "a/b"}, ["bundle_id must not contain whitespace, scheme, path, query, or fragment"]),
        ({"signature_key_id": "release-Token-1"}, ["signature_key_id contains non-shippable runtime evidence"]),
        ({"signature_issuer": "https://example.com/release signing"}, []),
        ({"signature_issuer": "see /home/me"}, ["signature_issuer contains non-shippable runtime evidence"]),
        ({"signature_issuer": " x"}, ["signature_issuer must not contain leading or trailing whitespace"]),
        ({"artifact_digest": "sha256:" + "A" * 64}, [
            "artifact_digest must be sha256:<64 lowercase hex chars>",
            "signature_subject.artifact_digest must match artifact_digest",
        ]),
        ({"checksum_digest": " "}, ["checksum_digest must be sha256:<64 lowercase hex chars>"]),
        ({"signature_subject__runtime_family": "crio"}, ['signature_subject.runtime_family "crio" is unsupported']),
        ({"signature_subject__os": "darwin"}, ["signature_subject.os must match os"]),
        ({"signature_subject__channel": "edge"}, ["signature_subject.channel must match update_policy.channel"]),
        ({"signature_subject__scoped_store_policy_digest": "sha256:" + "0" * 64}, [
            "signature_subject.scoped_store_policy_digest must match scoped_store.policy_digest",
        ]),
        ({"update_policy__blocked_versions": ["v1", ""]}, ["update_policy.blocked_versions[1] is required"]),
        ({"cve_policy__revoked_key_ids": ["a b"], "cve_policy__updated_by_version": ""}, [
            "cve_policy.revoked_key_ids[0] must not contain whitespace, scheme, path, query, or fragment",
            "cve_policy.updated_by_version is required",
        ]),
        ({"supported_targets": []}, ["supported_targets are required"]),
        ({"supported_targets": [{"os": "linux", "arch": "arm64"}]}, ["supported_targets must include os/arch"]),
        ({"supported_targets": [{"os": "", "arch": "amd64"}]}, [
            "supported_targets[0].os is required",
            "supported_targets must include os/arch",
        ]),
        ({"install_burden": "system-installed"}, ["install_burden must be bundled for managed runtime bundles"]),
        ({"valid_until": "2026-06-11T00:00:00Z"}, ["valid_until must be in the future"]),
        ({"valid_until": "2026-06-11T02:00:00+02:00"}, ["valid_until must be in the future"]),
        ({"valid_until": _DELETE}, ["valid_until is required"]),
    ],
)  # fmt: skip
def test_rules(changes: dict[str, Any], expected: list[str]) -> None:
    assert bundle(**changes).validation_errors_at(AT) == expected


def test_valid_until_strictly_after_now() -> None:
    until = datetime(2026, 12, 31, tzinfo=UTC)
    assert bundle().validate_at(until - timedelta(microseconds=1)) is None
    assert bundle().validate_at(until) == "valid_until must be in the future"


def test_zero_now_only_reports_missing_time() -> None:
    assert bundle().validation_errors_at(ZERO_TIME) == ["validation time is required"]
    assert bundle().validation_errors_at(None) == ["validation time is required"]


def test_expired_bundle_mentions_valid_until() -> None:
    problem = bundle().validate_at(datetime(2027, 1, 1, tzinfo=UTC))
    assert problem is not None and "valid_until" in problem


def test_unsigned_bundle_mentions_signature() -> None:
    problem = bundle(signature_digest="").validate_at(AT)
    assert problem is not None and "signature" in problem


def test_valid_until_compares_to_the_nanosecond() -> None:
    # Half a microsecond later is later (Go compares instants; datetimes stop at microseconds).
    now = parse_rfc3339("2026-06-01T00:00:00Z")
    assert bundle(valid_until="2026-06-01T00:00:00.0000005Z").validate_at(now) is None
    later = bundle(valid_until="2026-06-01T00:00:00Z").validate_at(now)
    assert later == "valid_until must be in the future"
