"""Executor and adapter descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from ..goparity.jsonenc import sorted_map
from ..goparity.text import contains_any, quote, trim_space
from .enums import (
    DEFAULT_EXECUTOR_VERSION,
    NATIVE_EXECUTION_TIERS,
    PROTOCOL_VERSION,
    RESIDUE_MODE_SESSION_BOUND,
    RESIDUE_MODE_WORKER_BOUND,
    REUSABLE_RESIDUE_MODES,
    SERVICE_ADAPTER_KINDS,
    SERVICE_WORKLOAD_KINDS,
    VALID_EXECUTION_SECURITY_TIERS,
    VALID_PROOF_TIERS,
    VALID_RESIDUE_MODES,
    VALID_RUNTIME_ADAPTER_KINDS,
    VALID_RUNTIME_PROFILES,
    VALID_RUNTIME_WORKSPACE_POLICIES,
    VALID_WORKLOAD_KINDS,
)
from .rules import (
    identifier_error,
    prefixed,
    scoped_ref_error,
    valid_sha256_ref,
    validate_identifier,
    version_errors,
)
from .wire import Int64, OmitRule, ValidatedModel, WireModel

CONFIG_SCHEME = "config://"


class ExecutorRef(WireModel):
    """The executor a run or backend claims: provider, version, tiers and image digests."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "execution_security_tier": "empty",
        "proof_tier": "empty",
        "image_digest": "empty",
        "rootfs_digest": "empty",
    }

    provider: str = ""
    version: str = ""
    execution_security_tier: str = ""
    proof_tier: str = ""
    image_digest: str = ""
    rootfs_digest: str = ""

    def proof_errors(self) -> list[str]:
        """ValidateForProof, as a list (emptiness checks only)."""
        errors: list[str] = []
        if self.provider == "":
            errors.append("executor.provider is required")
        if self.version == "":
            errors.append("executor.version is required")
        if self.execution_security_tier == "":
            errors.append("executor.execution_security_tier is required")
        if self.proof_tier == "":
            errors.append("executor.proof_tier is required")
        if self.requires_image_digests():
            if self.image_digest == "":
                errors.append("executor.image_digest is required for non-native executor")
            if self.rootfs_digest == "":
                errors.append("executor.rootfs_digest is required for non-native executor")
        return errors

    def requires_image_digests(self) -> bool:
        """A set tier other than the native/wasm ones runs an image, so it needs digests."""
        tier = self.execution_security_tier
        return tier != "" and tier not in NATIVE_EXECUTION_TIERS


class RuntimeDescriptor(ValidatedModel):
    """How a runtime describes itself in an adapter contract."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "execution_security_tier": "empty",
        "proof_tier": "empty",
        "image_digest": "empty",
        "rootfs_digest": "empty",
    }

    name: str = ""
    version: str = ""
    execution_security_tier: str = ""
    proof_tier: str = ""
    image_digest: str = ""
    rootfs_digest: str = ""

    def validation_errors(self) -> list[str]:
        errors = validate_identifier("name", self.name)
        errors.extend(version_errors("version", self.version))
        tier = self.execution_security_tier
        if tier not in VALID_EXECUTION_SECURITY_TIERS:
            errors.append(f"execution_security_tier {quote(tier)} is unsupported")
        if self.proof_tier not in VALID_PROOF_TIERS:
            errors.append(f"proof_tier {quote(self.proof_tier)} is unsupported")
        # Unlike ExecutorRef, an empty or unknown tier counts as non-native here.
        if tier not in NATIVE_EXECUTION_TIERS:
            for field in ("image_digest", "rootfs_digest"):
                value: str = getattr(self, field)
                if value == "":
                    errors.append(f"{field} is required for non-native runtime")
                elif not valid_sha256_ref(value):
                    errors.append(f"{field} must be sha256:<64 hex chars>")
        return errors

    def executor_ref(self, default_provider: str) -> ExecutorRef:
        """The executor this descriptor stands for (name/version defaulted)."""
        return ExecutorRef(
            provider=self.name or default_provider,
            version=self.version or DEFAULT_EXECUTOR_VERSION,
            execution_security_tier=self.execution_security_tier,
            proof_tier=self.proof_tier,
            image_digest=self.image_digest,
            rootfs_digest=self.rootfs_digest,
        )


class ProviderConfig(ValidatedModel):
    """Which provider configuration a run or adapter is bound to (all or nothing)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "plugin_id": "empty",
        "provider_id": "empty",
        "contract_id": "empty",
        "version": "empty",
        "config_ref": "empty",
        "config_digest": "empty",
    }

    plugin_id: str = ""
    provider_id: str = ""
    contract_id: str = ""
    version: str = ""
    config_ref: str = ""
    config_digest: str = ""

    def validation_errors(self) -> list[str]:
        if self.is_zero():
            return []
        errors = validate_identifier("plugin_id", self.plugin_id)
        errors.extend(validate_identifier("provider_id", self.provider_id))
        errors.extend(validate_identifier("contract_id", self.contract_id))
        errors.extend(version_errors("version", self.version))
        if trim_space(self.config_ref) == "":
            errors.append("config_ref is required")
        else:
            ref_error = scoped_ref_error("config_ref", self.config_ref, CONFIG_SCHEME)
            if ref_error is not None:
                errors.append(ref_error)
        if self.config_digest != "" and not valid_sha256_ref(self.config_digest):
            errors.append("config_digest must be sha256:<64 hex chars>")
        return errors


@dataclass(frozen=True)
class ResiduePolicyOptions:
    """What the caller of ResiduePolicy validation demands."""

    no_workspace_allowed: bool = False
    require_session_key: bool = False
    require_explicit_worker_bound: bool = False
    require_policy_hash: bool = False


class ResiduePolicy(ValidatedModel):
    """What a run may leave behind for later runs (workspace reuse)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "mode": "empty",
        "allowed_modes": "empty",
        "session_key": "empty",
        "policy_hash": "empty",
        "max_age_seconds": "empty",
        "max_reuse_count": "empty",
        "wipe_on_failure": "empty",
        "explicit_worker_bound": "empty",
    }

    mode: str = ""
    allowed_modes: list[str] | None = None
    session_key: str = ""
    policy_hash: str = ""
    max_age_seconds: Int64 = 0
    max_reuse_count: Int64 = 0
    wipe_on_failure: bool = False
    explicit_worker_bound: bool = False

    def is_zero(self) -> bool:
        """ResiduePolicy.IsZero: an empty (non-nil) allowed_modes list still counts as zero."""
        return (
            self.mode == ""
            and not self.allowed_modes
            and self.session_key == ""
            and self.policy_hash == ""
            and self.max_age_seconds == 0
            and self.max_reuse_count == 0
            and not self.wipe_on_failure
            and not self.explicit_worker_bound
        )

    def reusable(self) -> bool:
        """Whether the mode keeps a workspace for reuse."""
        return self.mode in REUSABLE_RESIDUE_MODES

    def validation_errors(self) -> list[str]:
        return self.validation_errors_with(ResiduePolicyOptions())

    def validation_errors_with(self, options: ResiduePolicyOptions) -> list[str]:
        errors: list[str] = []
        mode = self.mode
        if mode != "" and mode not in VALID_RESIDUE_MODES:
            errors.append(f"mode {quote(mode)} is unsupported")
        valid_allowed: list[str] = []
        for index, allowed in enumerate(self.allowed_modes or []):
            if allowed not in VALID_RESIDUE_MODES:
                errors.append(f"allowed_modes[{index}] {quote(allowed)} is unsupported")
                continue
            if allowed in valid_allowed:
                errors.append(f"allowed_modes[{index}] {quote(allowed)} is duplicated")
                continue
            valid_allowed.append(allowed)
        if mode != "" and self.allowed_modes and mode not in valid_allowed:
            errors.append(f"mode {quote(mode)} is not in allowed_modes")
        if options.no_workspace_allowed and self.reusable():
            errors.append("reusable residue requires host workspace support")
        if mode == RESIDUE_MODE_SESSION_BOUND:
            key = self.session_key
            if trim_space(key) == "":
                errors.append("session_key is required for session-bound residue")
            elif trim_space(key) != key or contains_any(key, "\x00\r\n\t"):
                errors.append(
                    "session_key must not contain control whitespace or surrounding whitespace"
                )
        elif self.session_key != "":
            errors.append("session_key requires session-bound residue mode")
        if (
            mode == RESIDUE_MODE_WORKER_BOUND
            and options.require_explicit_worker_bound
            and not self.explicit_worker_bound
        ):
            errors.append("explicit_worker_bound is required for worker-bound residue")
        if self.policy_hash != "" and not valid_sha256_ref(self.policy_hash):
            errors.append("policy_hash must be sha256:<64 hex chars>")
        if options.require_policy_hash and self.reusable() and self.policy_hash == "":
            errors.append("policy_hash is required for reusable residue")
        if self.max_age_seconds < 0:
            errors.append("max_age_seconds must not be negative")
        if self.max_reuse_count < 0:
            errors.append("max_reuse_count must not be negative")
        return errors


class RuntimeAdapterContract(ValidatedModel):
    """What a runtime adapter promises: kinds, workloads, profiles, workspace and residue."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "descriptor": "zero",
        "runtime_profiles": "empty",
        "residue_policy": "zero",
        "provider_config": "zero",
        "metadata": "empty",
    }

    protocol_version: str = ""
    adapter_id: str = ""
    descriptor: RuntimeDescriptor = Field(default_factory=RuntimeDescriptor)
    kinds: list[str] | None = None
    workload_kinds: list[str] | None = None
    runtime_profiles: list[str] | None = None
    workspace_policy: str = ""
    conformance_profiles: list[str] | None = None
    residue_policy: ResiduePolicy = Field(default_factory=ResiduePolicy)
    provider_config: ProviderConfig = Field(default_factory=ProviderConfig)
    metadata: dict[str, str] | None = None

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if self.protocol_version != PROTOCOL_VERSION:
            errors.append(f"protocol_version must be {quote(PROTOCOL_VERSION)}")
        errors.extend(validate_identifier("adapter_id", self.adapter_id))
        errors.extend(prefixed("descriptor", self.descriptor.validation_errors()))
        errors.extend(_enum_list_errors("kinds", self.kinds, VALID_RUNTIME_ADAPTER_KINDS))
        errors.extend(
            _enum_list_errors("workload_kinds", self.workload_kinds, VALID_WORKLOAD_KINDS)
        )
        kinds = self.kinds or []
        workload_kinds = self.workload_kinds or []
        if any(k in SERVICE_ADAPTER_KINDS for k in kinds) and not any(
            w in SERVICE_WORKLOAD_KINDS for w in workload_kinds
        ):
            errors.append("service adapter kinds require service workload kind")
        for index, profile in enumerate(self.runtime_profiles or []):
            if profile not in VALID_RUNTIME_PROFILES:
                errors.append(f"runtime_profiles[{index}] {quote(profile)} is unsupported")
        if self.workspace_policy not in VALID_RUNTIME_WORKSPACE_POLICIES:
            errors.append(f"workspace_policy {quote(self.workspace_policy)} is unsupported")
        if not self.conformance_profiles:
            errors.append("conformance_profiles is required")
        seen: set[str] = set()
        for index, profile in enumerate(self.conformance_profiles or []):
            name = f"conformance_profiles[{index}]"
            profile_error = identifier_error(name, profile)
            if profile_error is not None:
                errors.append(profile_error)
                continue
            if profile in seen:
                errors.append(f"{name} {quote(profile)} is duplicated")
            seen.add(profile)
        errors.extend(
            prefixed(
                "residue_policy",
                self.residue_policy.validation_errors_with(
                    ResiduePolicyOptions(require_policy_hash=True)
                ),
            )
        )
        errors.extend(prefixed("provider_config", self.provider_config.validation_errors()))
        # Go reports these in map iteration order (random); sorted keys make ours stable.
        for key in sorted_map(self.metadata) or {}:
            errors.extend(validate_identifier("metadata key", key))
        return errors

    def supports(self, workload_kind: str) -> bool:
        return workload_kind in (self.workload_kinds or [])


def _enum_list_errors(name: str, values: list[str] | None, valid: frozenset[str]) -> list[str]:
    """Required, each valid (else skipped), each once."""
    if not values:
        return [f"{name} is required"]
    errors: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value not in valid:
            errors.append(f"{name}[{index}] {quote(value)} is unsupported")
            continue
        if value in seen:
            errors.append(f"{name}[{index}] {quote(value)} is duplicated")
        seen.add(value)
    return errors
