"""RuntimeBackendReport (newer core, with bundles), evidence and provider capabilities."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from wfcompute_container.core.backends import (
    ProviderCapabilityReport,
    RuntimeBackendEvidence,
    RuntimeBackendReport,
    provider_capabilities_from,
    supported_executors,
)
from wfcompute_container.core.descriptors import ExecutorRef
from wfcompute_container.core.managed_bundle import ManagedRuntimeBundleDescriptor

NOW = datetime(2026, 6, 10, tzinfo=UTC)

SUPPORTED_README = (
    '{"protocol_version":"compute.v1alpha1","backend_id":"podman-rootless","family":"podman",'
    '"tool":"podman","version":"v5.0.0","os":"linux","arch":"amd64","status":"supported",'
    '"isolation_mode":"user-namespace","install_burden":"system-installed",'
    '"runtime_profiles":["sandboxed-oci-v1","container-build-v1"],'
    '"executor_providers":["sandboxed-command","sandboxed-container-build"],'
    '"executors":[{"provider":"sandboxed-command","version":"v1.2.3",'
    '"execution_security_tier":"sandboxed-container","proof_tier":"artifact-hash",'
    '"image_digest":"sha256:' + "a" * 64 + '","rootfs_digest":"sha256:' + "b" * 64 + '"}],'
    '"conformance_profiles":["workspace-network-env-proof-cleanup"],'
    '"evidence":{"digest":"sha256:' + "e" * 64 + '","workspace":true,"network":true,"env":true,'
    '"proof":true,"cleanup":true,"details":["distroless-static-conformance"]},'
    '"generated_at":"2026-06-09T00:00:00Z"}'
)

DEGRADED_README = (
    '{"protocol_version":"compute.v1alpha1","backend_id":"windows-hyper-v-candidate",'
    '"family":"hyper-v","os":"windows","arch":"amd64","status":"degraded",'
    '"reason":"runtime candidate detected but conformance has not completed",'
    '"isolation_mode":"vm-backed-container","install_burden":"wsl-hyper-v",'
    '"generated_at":"2026-06-09T00:00:00Z"}'
)

BUNDLE: dict[str, Any] = {
    "protocol_version": "compute.v1alpha1",
    "bundle_id": "podman-linux-amd64-5.4.2",
    "family": "podman",
    "tool": "podman",
    "version": "5.4.2",
    "os": "linux",
    "arch": "amd64",
    "artifact_name": "podman-5.4.2-linux-amd64.tar.zst",
    "artifact_digest": "sha256:" + "a" * 64,
    "checksum_name": "podman-5.4.2-linux-amd64.tar.zst.sha256",
    "checksum_digest": "sha256:" + "b" * 64,
    "signature_name": "podman-5.4.2-linux-amd64.tar.zst.sig",
    "signature_digest": "sha256:" + "c" * 64,
    "signature_issuer": "compute release signing",
    "signature_key_id": "release-key-2026",
    "trust_root_digest": "sha256:" + "d" * 64,
    "signature_subject": {
        "artifact_digest": "sha256:" + "a" * 64,
        "runtime_family": "podman",
        "os": "linux",
        "arch": "amd64",
        "version": "5.4.2",
        "channel": "stable",
        "conformance_profile": "sandboxed-oci-v1",
        "scoped_store_policy_digest": "sha256:" + "e" * 64,
    },
    "valid_until": "2099-01-01T00:00:00Z",
    "update_policy": {"channel": "stable", "min_supported_version": "5.0.0"},
    "cve_policy": {"policy_digest": "sha256:" + "f" * 64, "updated_by_version": "5.4.2"},
    "scoped_store": {
        "required": True,
        "namespace_strategy": "per-lease",
        "store_strategy": "isolated-graphroot",
        "policy_digest": "sha256:" + "e" * 64,
        "cleanup_required": True,
        "host_global_visibility_forbidden": True,
    },
    "supported_targets": [{"os": "linux", "arch": "amd64"}],
    "conformance_profile": "sandboxed-oci-v1",
    "install_burden": "bundled",
}


def supported() -> RuntimeBackendReport:
    return RuntimeBackendReport.model_validate(json.loads(SUPPORTED_README))


def degraded() -> RuntimeBackendReport:
    return RuntimeBackendReport.model_validate(json.loads(DEGRADED_README))


def bundled(**bundle_changes: Any) -> RuntimeBackendReport:
    bundle = copy.deepcopy(BUNDLE)
    bundle.update(bundle_changes)
    data = json.loads(SUPPORTED_README)
    data.update({"version": "5.4.2", "install_burden": "bundled", "bundle": bundle})
    return RuntimeBackendReport.model_validate(data)


# ---- JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [SUPPORTED_README, DEGRADED_README])
def test_readme_examples_round_trip_byte_for_byte(text: str) -> None:
    report = RuntimeBackendReport.model_validate(json.loads(text))
    assert report.to_json() == text
    assert report.validate_at(NOW) is None


def test_zero_report_json() -> None:
    assert RuntimeBackendReport().to_json() == (
        '{"backend_id":"","family":"","status":"","isolation_mode":""}'
    )


def test_bundle_sits_between_evidence_and_generated_at() -> None:
    report = bundled()
    report = report.model_copy(update={"constraints": ["rootless"]})
    keys = list(report.to_wire())
    assert keys[-4:] == ["evidence", "bundle", "generated_at", "constraints"]
    text = report.to_json()
    again = RuntimeBackendReport.model_validate(json.loads(text))
    assert again.to_json() == text
    assert '"bundle":{"protocol_version":"compute.v1alpha1","bundle_id":' in text


def test_evidence_json() -> None:
    assert RuntimeBackendEvidence().to_json() == "{}"
    assert RuntimeBackendEvidence(details=[]).to_json() == "{}"
    assert RuntimeBackendEvidence(network=True).to_json() == '{"network":true}'
    # omitzero on the report field: a non-nil empty details list is not zero in Go.
    report = degraded().model_copy(update={"evidence": RuntimeBackendEvidence(details=[])})
    assert '"evidence":{}' in report.to_json()
    assert '"evidence"' not in degraded().to_json()
    # ... and, as in Go, that text decodes to the zero struct, which is then omitted.
    decoded = RuntimeBackendReport.model_validate(json.loads(report.to_json()))
    assert decoded.evidence.is_zero()
    assert decoded.to_json() == DEGRADED_README


def test_provider_capability_report_json() -> None:
    assert ProviderCapabilityReport().to_json() == '{"provider":"","status":""}'
    report = ProviderCapabilityReport(provider="p", status="degraded", reason="why")
    assert report.to_json() == '{"provider":"p","status":"degraded","reason":"why"}'


# ---- validation -------------------------------------------------------------------------


def test_zero_report_errors() -> None:
    assert RuntimeBackendReport().validation_errors_at(NOW) == [
        "backend_id is required",
        "family is required",
        "status is required",
        "isolation_mode is required",
        "generated_at is required",
    ]


def test_enum_and_header_rules() -> None:
    report = degraded().model_copy(
        update={
            "backend_id": "a b",
            "family": "Docker",
            "status": "ok",
            "isolation_mode": "vm",
            "protocol_version": "v1",
            "tool": "crun",
            "install_burden": "manual",
        }
    )
    # Unknown status: no status-specific checks.
    assert report.validation_errors_at(NOW) == [
        "backend_id must not contain whitespace, scheme, path, query, or fragment",
        'family "Docker" is unsupported',
        'status "ok" is unsupported',
        'isolation_mode "vm" is unsupported',
        'protocol_version must be "compute.v1alpha1"',
        'tool "crun" is unsupported',
        'install_burden "manual" is unsupported',
    ]


def test_invalid_evidence_digest() -> None:
    report = supported()
    report.evidence.digest = "sha256:not-hex"
    assert report.validate_at(NOW) == "evidence.digest must be sha256:<64 lowercase hex chars>"
    report.evidence.digest = "sha256:" + "E" * 64
    assert report.validate_at(NOW) == "evidence.digest must be sha256:<64 lowercase hex chars>"


@pytest.mark.parametrize(
    "detail",
    [
        "/home/example/.config/runtime",
        "runtime socket docker.sock",
        "credential token was set",
        "registry secret value",
        "session cookie present",
    ],
)
def test_unsafe_details_are_rejected(detail: str) -> None:
    report = supported()
    report.evidence.details = ["fine", detail]
    assert report.validation_errors_at(NOW) == [
        "evidence.details[1] contains non-shippable runtime evidence"
    ]


def test_degraded_with_executors_and_no_reason() -> None:
    data = json.loads(SUPPORTED_README)
    data.update({"status": "degraded"})
    report = RuntimeBackendReport.model_validate(data)
    error = report.validate_at(NOW)
    assert error is not None
    assert error == (
        "reason is required for degraded or unsupported runtime backend\n"
        "executor_providers must be empty unless runtime backend is supported\n"
        "executors must be empty unless runtime backend is supported"
    )
    fixed = report.model_copy(
        update={"executor_providers": None, "executors": [], "reason": "runtime unavailable"}
    )
    assert fixed.validate_at(NOW) is None
    unsupported = fixed.model_copy(update={"status": "unsupported", "reason": " \n"})
    assert unsupported.validation_errors_at(NOW) == [
        "reason must be single-line text",
        "reason is required for degraded or unsupported runtime backend",
    ]


def test_supported_requirements_in_order() -> None:
    report = RuntimeBackendReport(
        backend_id="b",
        family="podman",
        status="supported",
        isolation_mode="user-namespace",
        generated_at=NOW,
    )
    assert report.validation_errors_at(NOW) == [
        "executor_providers are required for supported runtime backend",
        "runtime_profiles are required for supported runtime backend",
        "conformance_profiles are required for supported runtime backend",
        "evidence.digest must be sha256:<64 lowercase hex chars>",
        "evidence.workspace is required for supported runtime backend",
        "evidence.network is required for supported runtime backend",
        "evidence.env is required for supported runtime backend",
        "evidence.proof is required for supported runtime backend",
        "evidence.cleanup is required for supported runtime backend",
    ]
    # Executors are not required for supported.
    assert supported().model_copy(update={"executors": None}).validate_at(NOW) is None


def test_list_and_public_text_rules_in_order() -> None:
    report = supported().model_copy(
        update={
            "version": "v5 /home/x",
            "os": "linux\n",
            "arch": "Bearer",
            "runtime_profiles": ["sandboxed-oci-v1", "oci"],
            "executor_providers": ["ok", "a:b"],
            "executors": [
                ExecutorRef(
                    provider="sandboxed command",
                    version="token-1",
                    execution_security_tier="vm",
                    proof_tier="proofy",
                    image_digest="sha256:x",
                    rootfs_digest="",
                )
            ],
            "conformance_profiles": ["p", ""],
            "reason": "see /Users/me",
            "constraints": ["fine", "multi\rline"],
        }
    )
    assert report.validation_errors_at(NOW) == [
        "version contains non-shippable runtime evidence",
        "os must be single-line text",
        "arch contains non-shippable runtime evidence",
        'runtime_profiles[1] "oci" is unsupported',
        "executor_providers[1] must not contain whitespace, scheme, path, query, or fragment",
        "executors[0]: executor.rootfs_digest is required for non-native executor",
        "executors[0]: executor.provider must not contain whitespace, scheme, path, query, "
        'or fragment\nexecutor.execution_security_tier "vm" is unsupported\n'
        'executor.proof_tier "proofy" is unsupported\n'
        "executor.image_digest must be sha256:<64 hex chars>",
        "executors[0].version contains non-shippable runtime evidence",
        "conformance_profiles[1] is required",
        "reason contains non-shippable runtime evidence",
        "constraints[1] must be single-line text",
    ]


def test_executor_shape_rules() -> None:
    def errors_for(executor: ExecutorRef) -> list[str]:
        return supported().model_copy(update={"executors": [executor]}).validation_errors_at(NOW)

    native = ExecutorRef(
        provider="p",
        version="v",
        execution_security_tier="trusted-native",
        proof_tier="receipt-only",
        image_digest="whatever",
    )
    # Native tiers: digests are neither required nor format-checked.
    assert errors_for(native) == []
    container = ExecutorRef(
        provider="p",
        version="v",
        execution_security_tier="sandboxed-container",
        proof_tier="artifact-hash",
        image_digest="sha256:" + "A" * 64,
        rootfs_digest="sha256:" + "a" * 63,
    )
    assert errors_for(container) == [
        "executors[0]: executor.rootfs_digest must be sha256:<64 hex chars>"
    ]
    assert errors_for(ExecutorRef()) == [
        "executors[0]: executor.provider is required\nexecutor.version is required\n"
        "executor.execution_security_tier is required\nexecutor.proof_tier is required",
        "executors[0]: executor.provider is required",
    ]


# ---- bundles ----------------------------------------------------------------------------


def test_valid_bundled_report() -> None:
    report = bundled()
    assert isinstance(report.bundle, ManagedRuntimeBundleDescriptor)
    assert report.validate_at(NOW) is None


def test_supported_bundled_without_bundle() -> None:
    report = bundled().model_copy(update={"bundle": None})
    assert report.validation_errors_at(NOW) == [
        "bundle is required for supported bundled runtime backend"
    ]
    # Not required for degraded/unsupported reports.
    not_supported = degraded().model_copy(update={"install_burden": "bundled"})
    assert not_supported.validate_at(NOW) is None


def test_bundle_mismatches_and_burden() -> None:
    report = bundled().model_copy(
        update={
            "install_burden": "system-installed",
            "family": "docker",
            "tool": "docker",
            "os": "darwin",
            "arch": "arm64",
            "version": "5.4.3",
        }
    )
    assert report.validation_errors_at(NOW) == [
        "install_burden must be bundled when bundle is present",
        "bundle.family must match family",
        "bundle.tool must match tool",
        "bundle.os must match os",
        "bundle.arch must match arch",
        "bundle.version must match version",
    ]
    # Empty report fields are not compared.
    blank = bundled().model_copy(update={"tool": "", "os": "", "arch": "", "version": ""})
    assert blank.validate_at(NOW) is None


def test_bundle_errors_are_prefixed_once_and_use_now() -> None:
    expired = bundled(valid_until="2026-06-10T00:00:00Z")
    assert expired.validation_errors_at(NOW) == ["bundle: valid_until must be in the future"]
    assert expired.validate_at(datetime(2026, 6, 9, tzinfo=UTC)) is None
    broken = bundled(bundle_id="", artifact_digest="")
    errors = broken.validation_errors_at(NOW)
    assert len(errors) == 1
    assert errors[0].startswith("bundle: bundle_id is required\nartifact_digest is required")
    # Placed after evidence details and before reason/constraints checks.
    ordered = bundled(bundle_id="").model_copy(update={"reason": "token", "os": "\n"})
    assert ordered.validation_errors_at(NOW)[0] == "os must be single-line text"
    assert ordered.validation_errors_at(NOW)[-1] == "reason contains non-shippable runtime evidence"


# ---- free functions ---------------------------------------------------------------------


def test_supported_executors_and_capabilities() -> None:
    first = supported()
    second = supported().model_copy(
        update={
            "backend_id": "docker",
            "executor_providers": ["sandboxed-command", "extra"],
            "executors": [
                ExecutorRef(
                    provider="from-executor",
                    version="v",
                    execution_security_tier="trusted-native",
                    proof_tier="receipt-only",
                )
            ],
        }
    )
    assert supported_executors([degraded(), first, second], NOW) == [
        *(first.executors or []),
        *(second.executors or []),
    ]
    assert provider_capabilities_from([first, degraded(), second], NOW) == [
        ProviderCapabilityReport(provider="sandboxed-command", status="supported"),
        ProviderCapabilityReport(provider="sandboxed-container-build", status="supported"),
        ProviderCapabilityReport(provider="extra", status="supported"),
        ProviderCapabilityReport(provider="from-executor", status="supported"),
    ]


def test_free_functions_keep_duplicates_and_skip_invalid_reports() -> None:
    report = supported()
    assert len(supported_executors([report, report], NOW)) == 2
    invalid = supported().model_copy(update={"evidence": RuntimeBackendEvidence()})
    assert supported_executors([invalid], NOW) == []
    assert provider_capabilities_from([invalid], NOW) == []
    expired = bundled(valid_until="2026-06-01T00:00:00Z")
    assert supported_executors([expired], NOW) == []
    assert supported_executors([bundled()], NOW) == bundled().executors
    # Without an explicit instant, the current time is used.
    assert supported_executors([report]) == report.executors
