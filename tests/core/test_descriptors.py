"""ExecutorRef, RuntimeDescriptor, ProviderConfig, ResiduePolicy, RuntimeAdapterContract."""

from __future__ import annotations

import pytest

from wfcompute_container.core.descriptors import (
    ExecutorRef,
    ProviderConfig,
    ResiduePolicy,
    ResiduePolicyOptions,
    RuntimeAdapterContract,
    RuntimeDescriptor,
)

HEX = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX


def sandboxed_descriptor(**changes: str) -> RuntimeDescriptor:
    base = RuntimeDescriptor(
        name="sandboxed-command",
        version="v0.3.0",
        execution_security_tier="sandboxed-container",
        proof_tier="artifact-hash",
        image_digest=DIGEST,
        rootfs_digest=DIGEST,
    )
    return base.model_copy(update=changes)


# ---- ExecutorRef ------------------------------------------------------------------------


def test_executor_json() -> None:
    assert ExecutorRef().to_json() == '{"provider":"","version":""}'
    assert ExecutorRef(provider="p", version="v", proof_tier="receipt-only").to_json() == (
        '{"provider":"p","version":"v","proof_tier":"receipt-only"}'
    )


# ---- RuntimeDescriptor ------------------------------------------------------------------


def test_descriptor_valid_and_json() -> None:
    descriptor = sandboxed_descriptor()
    assert descriptor.validation_error() is None
    assert RuntimeDescriptor().to_json() == '{"name":"","version":""}'
    assert descriptor.to_json() == (
        '{"name":"sandboxed-command","version":"v0.3.0",'
        '"execution_security_tier":"sandboxed-container","proof_tier":"artifact-hash",'
        f'"image_digest":"{DIGEST}","rootfs_digest":"{DIGEST}"}}'
    )
    assert sandboxed_descriptor(image_digest="sha256:" + HEX.upper()).validation_error() is None


def test_descriptor_zero_value_errors() -> None:
    assert RuntimeDescriptor().validation_errors() == [
        "name is required",
        "version is required",
        'execution_security_tier "" is unsupported',
        'proof_tier "" is unsupported',
        "image_digest is required for non-native runtime",
        "rootfs_digest is required for non-native runtime",
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "a/b"}, ["name must not contain whitespace, scheme, path, query, or fragment"]),
        ({"name": " a"}, ["name must not contain leading or trailing whitespace"]),
        ({"version": "v 1"}, ["version must not contain whitespace"]),
        ({"version": "\t"}, ["version is required"]),
        ({"version": "v1\x00"}, ["version must not contain whitespace"]),
        ({"proof_tier": "Artifact-Hash"}, ['proof_tier "Artifact-Hash" is unsupported']),
        ({"image_digest": "sha256:abc"}, ["image_digest must be sha256:<64 hex chars>"]),
        ({"rootfs_digest": ""}, ["rootfs_digest is required for non-native runtime"]),
        (
            {"execution_security_tier": "gpu\n"},
            ['execution_security_tier "gpu\\n" is unsupported'],
        ),
        (
            {"execution_security_tier": "trusted-native", "image_digest": "", "rootfs_digest": "x"},
            [],
        ),
        ({"execution_security_tier": "wasm-capability", "image_digest": ""}, []),
    ],
)
def test_descriptor_rules(changes: dict[str, str], expected: list[str]) -> None:
    assert sandboxed_descriptor(**changes).validation_errors() == expected


def test_descriptor_executor_ref() -> None:
    executor = sandboxed_descriptor().executor_ref("fallback")
    assert executor == ExecutorRef(
        provider="sandboxed-command",
        version="v0.3.0",
        execution_security_tier="sandboxed-container",
        proof_tier="artifact-hash",
        image_digest=DIGEST,
        rootfs_digest=DIGEST,
    )
    defaulted = RuntimeDescriptor(proof_tier="receipt-only").executor_ref("sandboxed-command")
    assert defaulted == ExecutorRef(
        provider="sandboxed-command", version="dev", proof_tier="receipt-only"
    )


# ---- ProviderConfig ---------------------------------------------------------------------


def test_provider_config() -> None:
    assert ProviderConfig().validation_error() is None
    assert ProviderConfig().to_json() == "{}"
    good = ProviderConfig(
        plugin_id="plugin",
        provider_id="provider",
        contract_id="contract",
        version="v1",
        config_ref="config://service/port",
        config_digest="sha256:" + HEX.upper(),
    )
    assert good.validation_error() is None
    assert good.model_copy(update={"config_digest": ""}).validation_error() is None
    assert ProviderConfig(config_digest="bad").validation_errors() == [
        "plugin_id is required",
        "provider_id is required",
        "contract_id is required",
        "version is required",
        "config_ref is required",
        "config_digest must be sha256:<64 hex chars>",
    ]
    assert good.model_copy(
        update={"version": "v 1", "config_ref": "config://a/../b", "plugin_id": "a:b"}
    ).validation_errors() == [
        "plugin_id must not contain whitespace, scheme, path, query, or fragment",
        "version must not contain whitespace",
        "config_ref must not contain parent traversal",
    ]
    assert good.model_copy(update={"config_ref": "secret://x"}).validation_errors() == [
        "config_ref must use config:// scoped ref"
    ]
    assert good.model_copy(update={"config_ref": "config://"}).validation_errors() == [
        "config_ref must include scoped path"
    ]


# ---- ResiduePolicy ----------------------------------------------------------------------


def test_residue_policy_is_zero_and_json() -> None:
    assert ResiduePolicy().is_zero()
    assert ResiduePolicy(allowed_modes=[]).is_zero()
    assert not ResiduePolicy(wipe_on_failure=True).is_zero()
    assert ResiduePolicy(mode="isolated", max_age_seconds=5).to_json() == (
        '{"mode":"isolated","max_age_seconds":5}'
    )


def test_residue_policy_rules() -> None:
    policy = ResiduePolicy(
        mode="bogus",
        allowed_modes=["isolated", "", "isolated", "weird"],
        session_key="k",
        policy_hash="sha256:short",
        max_age_seconds=-1,
        max_reuse_count=-1,
    )
    assert policy.validation_errors() == [
        'mode "bogus" is unsupported',
        'allowed_modes[1] "" is unsupported',
        'allowed_modes[2] "isolated" is duplicated',
        'allowed_modes[3] "weird" is unsupported',
        'mode "bogus" is not in allowed_modes',
        "session_key requires session-bound residue mode",
        "policy_hash must be sha256:<64 hex chars>",
        "max_age_seconds must not be negative",
        "max_reuse_count must not be negative",
    ]


def test_residue_policy_options() -> None:
    options = ResiduePolicyOptions(
        no_workspace_allowed=True, require_explicit_worker_bound=True, require_policy_hash=True
    )
    assert ResiduePolicy(mode="worker-bound").validation_errors_with(options) == [
        "reusable residue requires host workspace support",
        "explicit_worker_bound is required for worker-bound residue",
        "policy_hash is required for reusable residue",
    ]
    explicit = ResiduePolicy(mode="worker-bound", explicit_worker_bound=True, policy_hash=DIGEST)
    assert explicit.validation_errors_with(ResiduePolicyOptions(require_policy_hash=True)) == []
    assert ResiduePolicy(mode="isolated").validation_errors_with(options) == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("session-1", []),
        ("", ["session_key is required for session-bound residue"]),
        ("\u00a0", ["session_key is required for session-bound residue"]),
        (
            " s",
            ["session_key must not contain control whitespace or surrounding whitespace"],
        ),
        (
            "a\tb",
            ["session_key must not contain control whitespace or surrounding whitespace"],
        ),
        ("a b", []),
    ],
)
def test_residue_session_key(key: str, expected: list[str]) -> None:
    policy = ResiduePolicy(mode="session-bound", session_key=key)
    assert policy.validation_errors() == expected


def test_residue_mode_in_allowed_modes() -> None:
    policy = ResiduePolicy(mode="none", allowed_modes=["isolated"])
    assert policy.validation_errors() == ['mode "none" is not in allowed_modes']
    ok = ResiduePolicy(mode="none", allowed_modes=["isolated", "none"])
    assert ok.validation_errors() == []


# ---- RuntimeAdapterContract -------------------------------------------------------------


def command_contract(**changes: object) -> RuntimeAdapterContract:
    base = RuntimeAdapterContract(
        protocol_version="compute.v1alpha1",
        adapter_id="sandboxed-command",
        descriptor=sandboxed_descriptor(),
        kinds=["execution"],
        workload_kinds=["command"],
        runtime_profiles=["sandboxed-oci-v1"],
        workspace_policy="required",
        conformance_profiles=["sandboxed-command-v1"],
    )
    return base.model_copy(update=changes)


def test_contract_valid_and_json() -> None:
    contract = command_contract()
    assert contract.validation_error() is None
    assert contract.to_json() == (
        '{"protocol_version":"compute.v1alpha1","adapter_id":"sandboxed-command",'
        '"descriptor":' + sandboxed_descriptor().to_json() + ","
        '"kinds":["execution"],"workload_kinds":["command"],'
        '"runtime_profiles":["sandboxed-oci-v1"],"workspace_policy":"required",'
        '"conformance_profiles":["sandboxed-command-v1"]}'
    )
    assert RuntimeAdapterContract().to_json() == (
        '{"protocol_version":"","adapter_id":"","kinds":null,"workload_kinds":null,'
        '"workspace_policy":"","conformance_profiles":null}'
    )
    with_metadata = command_contract(
        metadata={"b": "2", "a": "1"}, residue_policy=ResiduePolicy(mode="isolated")
    )
    assert with_metadata.to_json().endswith(
        '"conformance_profiles":["sandboxed-command-v1"],"residue_policy":{"mode":"isolated"},'
        '"metadata":{"a":"1","b":"2"}}'
    )


def test_contract_zero_value_errors() -> None:
    assert RuntimeAdapterContract().validation_errors() == [
        'protocol_version must be "compute.v1alpha1"',
        "adapter_id is required",
        "descriptor: name is required\nversion is required\n"
        'execution_security_tier "" is unsupported\nproof_tier "" is unsupported\n'
        "image_digest is required for non-native runtime\n"
        "rootfs_digest is required for non-native runtime",
        "kinds is required",
        "workload_kinds is required",
        'workspace_policy "" is unsupported',
        "conformance_profiles is required",
    ]


def test_contract_list_rules() -> None:
    contract = command_contract(
        kinds=["execution", "bogus", "execution", "service-run"],
        workload_kinds=["command", "command", "nope"],
        runtime_profiles=["sandboxed-oci-v1", "sandboxed-oci-v1", "oci"],
        workspace_policy="Required",
        conformance_profiles=["a", "a b", "a", " "],
        residue_policy=ResiduePolicy(mode="provider-bound"),
        provider_config=ProviderConfig(plugin_id="p"),
        metadata={"ok": "x", "b/ad": "y", "a d": "z"},
    )
    assert contract.validation_errors() == [
        'kinds[1] "bogus" is unsupported',
        'kinds[2] "execution" is duplicated',
        'workload_kinds[1] "command" is duplicated',
        'workload_kinds[2] "nope" is unsupported',
        "service adapter kinds require service workload kind",
        'runtime_profiles[2] "oci" is unsupported',
        'workspace_policy "Required" is unsupported',
        "conformance_profiles[1] must not contain whitespace, scheme, path, query, or fragment",
        'conformance_profiles[2] "a" is duplicated',
        "conformance_profiles[3] is required",
        "residue_policy: policy_hash is required for reusable residue",
        "provider_config: provider_id is required\ncontract_id is required\n"
        "version is required\nconfig_ref is required",
        "metadata key must not contain whitespace, scheme, path, query, or fragment",
        "metadata key must not contain whitespace, scheme, path, query, or fragment",
    ]


def test_contract_decodes_catalog_shape() -> None:
    contract = RuntimeAdapterContract.model_validate(
        {
            "protocol_version": "compute.v1alpha1",
            "adapter_id": "sandboxed-container-build",
            "descriptor": sandboxed_descriptor(name="sandboxed-container-build").to_wire(),
            "kinds": ["execution"],
            "workload_kinds": ["container-build"],
            "runtime_profiles": ["container-build-v1"],
            "workspace_policy": "required",
            "conformance_profiles": ["container-build-v1"],
        }
    )
    assert contract.validation_error() is None
    assert contract.descriptor.name == "sandboxed-container-build"


def test_executor_proof_errors() -> None:
    assert ExecutorRef().proof_errors() == [
        "executor.provider is required",
        "executor.version is required",
        "executor.execution_security_tier is required",
        "executor.proof_tier is required",
    ]
    container = ExecutorRef(
        provider="p", version="v", execution_security_tier="microvm", proof_tier="x"
    )
    assert container.proof_errors() == [
        "executor.image_digest is required for non-native executor",
        "executor.rootfs_digest is required for non-native executor",
    ]
    # Emptiness only: unknown tiers and malformed digests pass.
    malformed = container.model_copy(update={"image_digest": "x", "rootfs_digest": " "})
    assert malformed.proof_errors() == []
    for tier in ("trusted-native", "wasm-capability"):
        assert container.model_copy(update={"execution_security_tier": tier}).proof_errors() == []


def test_contract_service_kinds() -> None:
    service = command_contract(kinds=["service-session"], workload_kinds=["node-service"])
    assert service.validation_error() is None
    assert service.supports("node-service")
    assert not service.supports("command")
