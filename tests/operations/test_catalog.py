"""Catalog rules (reference 11.1) and contracts (11.2) of the shipped runtime-adapters.json."""

from __future__ import annotations

import pytest

from wfcompute_container.core.descriptors import RuntimeDescriptor
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.catalog import (
    RuntimeAdapterCatalogDocument,
    adapter_contract,
    load_catalog_text,
    shipped_catalog,
)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def sandboxed_descriptor(name: str = "") -> RuntimeDescriptor:
    return RuntimeDescriptor(
        name=name,
        version="v1.2.3",
        execution_security_tier="sandboxed-container",
        proof_tier="artifact-hash",
        image_digest=DIGEST_A,
        rootfs_digest=DIGEST_B,
    )


def test_shipped_catalog_is_valid_and_complete() -> None:
    catalog = shipped_catalog()
    assert catalog.validation_error() is None
    assert [a.adapter_id for a in catalog.adapters or []] == [
        "sandboxed-command",
        "sandboxed-container-build",
    ]
    backends = {b.backend_id: b for b in catalog.runtime_backends or []}
    assert list(backends) == [
        "podman-rootless",
        "docker-desktop",
        "nerdctl-containerd",
        "podman-rootful",
        "docker-engine",
        "podman-gvisor",
        "docker-gvisor",
        "managed-containerd-linux-amd64",
    ]
    for backend in backends.values():
        assert backend.executor_providers == ["sandboxed-command", "sandboxed-container-build"]
    managed = backends["managed-containerd-linux-amd64"]
    assert managed.install_burdens == ["bundled"]
    assert [(t.os, t.arch) for t in managed.supported_targets or []] == [("linux", "amd64")]
    assert catalog.host_owned_responsibilities == [
        "task-admission",
        "leases",
        "authorization",
        "credential-resolution",
        "registry-allowlists",
        "proof-reward-mutation",
        "worker-binding",
    ]


def test_catalog_round_trips_to_the_file_content() -> None:
    raw, document = load_catalog_text()
    assert document.to_wire() == raw


def test_empty_catalog_reports_every_rule_in_order() -> None:
    document = RuntimeAdapterCatalogDocument.model_validate(
        {"protocol_version": "v0", "adapters": [{}], "runtime_backends": [{}]}
    )
    assert document.validation_error() == "\n".join(
        [
            "version is required",
            'protocol_version = "v0", want "compute.v1alpha1"',
            "adapters[0]: adapter_id is required",
            "operation is required",
            "kinds is required",
            "workload_kinds is required",
            "runtime_profiles is required",
            "workspace_policy is required",
            "conformance_profiles is required",
            "runtime_backends[0]: backend_id is required",
            "families is required",
            "tools is required",
            "isolation_modes is required",
            "install_burdens is required",
            "runtime_profiles is required",
            "executor_providers is required",
            "conformance_profiles is required",
            "host_owned_responsibilities is required",
        ]
    )


def test_no_adapters_is_reported() -> None:
    document = RuntimeAdapterCatalogDocument.model_validate(
        {
            "version": "1",
            "protocol_version": "compute.v1alpha1",
            "host_owned_responsibilities": ["x"],
        }
    )
    assert document.validation_error() == "at least one adapter is required"


@pytest.mark.parametrize(
    ("adapter_id", "workload", "profile", "conformance"),
    [
        ("sandboxed-command", "command", "sandboxed-oci-v1", "sandboxed-command-v1"),
        (
            "sandboxed-container-build",
            "container-build",
            "container-build-v1",
            "container-build-v1",
        ),
    ],
)
def test_contracts_name_the_adapter_and_pass_core_validation(
    adapter_id: str, workload: str, profile: str, conformance: str
) -> None:
    contract = adapter_contract(adapter_id, sandboxed_descriptor())
    assert contract.validation_error() is None
    assert contract.descriptor is not None and contract.descriptor.name == adapter_id
    assert contract.kinds == ["execution"]
    assert contract.workload_kinds == [workload]
    assert contract.runtime_profiles == [profile]
    assert contract.workspace_policy == "required"
    assert contract.conformance_profiles == [conformance]


def test_contract_keeps_a_given_descriptor_name() -> None:
    contract = adapter_contract("sandboxed-command", sandboxed_descriptor("custom"))
    assert contract.descriptor is not None and contract.descriptor.name == "custom"


def test_invalid_descriptor_is_an_invalid_input_with_the_core_text() -> None:
    with pytest.raises(InvalidInput) as info:
        adapter_contract("sandboxed-command", RuntimeDescriptor(name="x", version="1"))
    assert str(info.value).startswith('descriptor: execution_security_tier "" is unsupported\n')
