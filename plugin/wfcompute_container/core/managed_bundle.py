"""Managed runtime bundle descriptor (compute-core ManagedRuntimeBundleDescriptor and its parts).

A bundle descriptor pins one installable runtime: the artifact, its checksum file and detached
signature by digest, the signing key and trust root, the policies a worker must enforce, and
the targets it supports. ``validation_errors_at(now)`` returns the core's messages in the core's
check order; nothing here does cryptography or I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field

from ..goparity.text import quote
from ..goparity.timefmt import is_zero_time, unix_nanos
from .enums import PROTOCOL_VERSION
from .rules import (
    identifier_error,
    public_text_errors,
    trimmed_required_error,
    valid_sha256_digest,
)
from .wire import ZERO_TIME, GoTime, OmitRule, WireModel

RUNTIME_BACKEND_FAMILIES = frozenset(
    {"podman", "docker", "nerdctl", "containerd", "apple-container", "hyper-v", "wsl"}
)
CONTAINER_RUNTIME_TOOLS = frozenset({"podman", "docker", "nerdctl", "apple-container"})
INSTALL_BURDEN_BUNDLED = "bundled"


# --- shared field checks (managed-bundle-types.md section 1) ---------------------------------


def _runtime_identifier_errors(field: str, value: str) -> list[str]:
    error = identifier_error(field, value)
    if error is not None:
        return [error]
    return public_text_errors(field, value)


def _runtime_public_text_errors(field: str, value: str) -> list[str]:
    error = trimmed_required_error(field, value)
    if error is not None:
        return [error]
    return public_text_errors(field, value)


def _digest_errors(field: str, value: str) -> list[str]:
    if value == "":
        return [f"{field} is required"]
    if not valid_sha256_digest(value):
        return [f"{field} must be sha256:<64 lowercase hex chars>"]
    return []


def _must_match(left: str, right: str, message: str) -> list[str]:
    if left != "" and right != "" and left != right:
        return [message]
    return []


# --- types --------------------------------------------------------------------------------------


class ManagedRuntimeTarget(WireModel):
    os: str = ""
    arch: str = ""


class ManagedRuntimeSignatureSubject(WireModel):
    artifact_digest: str = ""
    runtime_family: str = ""
    os: str = ""
    arch: str = ""
    version: str = ""
    channel: str = ""
    conformance_profile: str = ""
    scoped_store_policy_digest: str = ""

    def errors_against(self, bundle: ManagedRuntimeBundleDescriptor) -> list[str]:
        """The subject's checks against its descriptor, flat and unprefixed."""
        errors = _digest_errors("signature_subject.artifact_digest", self.artifact_digest)
        errors += _must_match(
            self.artifact_digest,
            bundle.artifact_digest,
            "signature_subject.artifact_digest must match artifact_digest",
        )
        if self.runtime_family == "":
            errors.append("signature_subject.runtime_family is required")
        elif self.runtime_family not in RUNTIME_BACKEND_FAMILIES:
            errors.append(
                f"signature_subject.runtime_family {quote(self.runtime_family)} is unsupported"
            )
        elif bundle.family != "" and bundle.family != self.runtime_family:
            errors.append("signature_subject.runtime_family must match family")
        pairs = (
            ("os", self.os, bundle.os, "os"),
            ("arch", self.arch, bundle.arch, "arch"),
            ("version", self.version, bundle.version, "version"),
            ("channel", self.channel, bundle.update_policy.channel, "update_policy.channel"),
            (
                "conformance_profile",
                self.conformance_profile,
                bundle.conformance_profile,
                "conformance_profile",
            ),
        )
        for name, mine, theirs, their_name in pairs:
            field = f"signature_subject.{name}"
            errors += _runtime_identifier_errors(field, mine)
            errors += _must_match(mine, theirs, f"{field} must match {their_name}")
        field = "signature_subject.scoped_store_policy_digest"
        errors += _digest_errors(field, self.scoped_store_policy_digest)
        errors += _must_match(
            self.scoped_store_policy_digest,
            bundle.scoped_store.policy_digest,
            f"{field} must match scoped_store.policy_digest",
        )
        return errors


class ManagedRuntimeUpdatePolicy(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {"blocked_versions": "empty"}

    channel: str = ""
    min_supported_version: str = ""
    blocked_versions: list[str] | None = None

    def validation_errors(self) -> list[str]:
        errors = _runtime_identifier_errors("update_policy.channel", self.channel)
        errors += _runtime_identifier_errors(
            "update_policy.min_supported_version", self.min_supported_version
        )
        for index, version in enumerate(self.blocked_versions or []):
            errors += _runtime_identifier_errors(
                f"update_policy.blocked_versions[{index}]", version
            )
        return errors


class ManagedRuntimeCVEPolicy(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {
        "blocked_versions": "empty",
        "revoked_key_ids": "empty",
    }

    policy_digest: str = ""
    blocked_versions: list[str] | None = None
    revoked_key_ids: list[str] | None = None
    updated_by_version: str = ""

    def validation_errors(self) -> list[str]:
        errors = _digest_errors("cve_policy.policy_digest", self.policy_digest)
        for index, version in enumerate(self.blocked_versions or []):
            errors += _runtime_identifier_errors(f"cve_policy.blocked_versions[{index}]", version)
        for index, key_id in enumerate(self.revoked_key_ids or []):
            errors += _runtime_identifier_errors(f"cve_policy.revoked_key_ids[{index}]", key_id)
        errors += _runtime_identifier_errors(
            "cve_policy.updated_by_version", self.updated_by_version
        )
        return errors


class ManagedRuntimeScopedStorePolicy(WireModel):
    required: bool = False
    namespace_strategy: str = ""
    store_strategy: str = ""
    policy_digest: str = ""
    cleanup_required: bool = False
    host_global_visibility_forbidden: bool = False

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if not self.required:
            errors.append("scoped_store.required must be true")
        errors += _runtime_identifier_errors(
            "scoped_store.namespace_strategy", self.namespace_strategy
        )
        errors += _runtime_identifier_errors("scoped_store.store_strategy", self.store_strategy)
        errors += _digest_errors("scoped_store.policy_digest", self.policy_digest)
        if not self.cleanup_required:
            errors.append("scoped_store.cleanup_required must be true")
        if not self.host_global_visibility_forbidden:
            errors.append("scoped_store.host_global_visibility_forbidden must be true")
        return errors


class ManagedRuntimeBundleDescriptor(WireModel):
    """A pinned, signed runtime bundle a worker may install into a root it owns."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "protocol_version": "empty",
        "tool": "empty",
        "valid_until": "zero",
    }

    protocol_version: str = ""
    bundle_id: str = ""
    family: str = ""
    tool: str = ""
    version: str = ""
    os: str = ""
    arch: str = ""
    artifact_name: str = ""
    artifact_digest: str = ""
    checksum_name: str = ""
    checksum_digest: str = ""
    signature_name: str = ""
    signature_digest: str = ""
    signature_issuer: str = ""
    signature_key_id: str = ""
    trust_root_digest: str = ""
    signature_subject: ManagedRuntimeSignatureSubject = Field(
        default_factory=ManagedRuntimeSignatureSubject
    )
    valid_until: GoTime = ZERO_TIME
    update_policy: ManagedRuntimeUpdatePolicy = Field(default_factory=ManagedRuntimeUpdatePolicy)
    cve_policy: ManagedRuntimeCVEPolicy = Field(default_factory=ManagedRuntimeCVEPolicy)
    scoped_store: ManagedRuntimeScopedStorePolicy = Field(
        default_factory=ManagedRuntimeScopedStorePolicy
    )
    supported_targets: list[ManagedRuntimeTarget] | None = None
    conformance_profile: str = ""
    install_burden: str = ""

    def validation_errors_at(self, now: datetime | None) -> list[str]:
        """The core's ValidateAt(now) messages, in check order (empty when valid)."""
        errors: list[str] = []
        if is_zero_time(now):
            errors.append("validation time is required")
        if self.protocol_version != "" and self.protocol_version != PROTOCOL_VERSION:
            errors.append(f"protocol_version must be {quote(PROTOCOL_VERSION)}")
        errors += _runtime_identifier_errors("bundle_id", self.bundle_id)
        if self.family == "":
            errors.append("family is required")
        elif self.family not in RUNTIME_BACKEND_FAMILIES:
            errors.append(f"family {quote(self.family)} is unsupported")
        if self.tool != "" and self.tool not in CONTAINER_RUNTIME_TOOLS:
            errors.append(f"tool {quote(self.tool)} is unsupported")
        errors += _runtime_identifier_errors("version", self.version)
        errors += _runtime_identifier_errors("os", self.os)
        errors += _runtime_identifier_errors("arch", self.arch)
        errors += _runtime_identifier_errors("artifact_name", self.artifact_name)
        errors += _digest_errors("artifact_digest", self.artifact_digest)
        errors += _runtime_identifier_errors("checksum_name", self.checksum_name)
        errors += _digest_errors("checksum_digest", self.checksum_digest)
        errors += _runtime_identifier_errors("signature_name", self.signature_name)
        errors += _digest_errors("signature_digest", self.signature_digest)
        errors += _runtime_public_text_errors("signature_issuer", self.signature_issuer)
        errors += _runtime_identifier_errors("signature_key_id", self.signature_key_id)
        errors += _digest_errors("trust_root_digest", self.trust_root_digest)
        errors += self.signature_subject.errors_against(self)
        if is_zero_time(self.valid_until):
            errors.append("valid_until is required")
        elif not is_zero_time(now) and not _strictly_after(self.valid_until, now):
            errors.append("valid_until must be in the future")
        errors += self.update_policy.validation_errors()
        errors += self.cve_policy.validation_errors()
        errors += self.scoped_store.validation_errors()
        errors += self._target_errors()
        errors += _runtime_identifier_errors("conformance_profile", self.conformance_profile)
        if self.install_burden == "":
            errors.append("install_burden is required")
        elif self.install_burden != INSTALL_BURDEN_BUNDLED:
            errors.append("install_burden must be bundled for managed runtime bundles")
        return errors

    def validate_at(self, now: datetime | None) -> str | None:
        """The joined ValidateAt(now) text, or None when the bundle is valid at ``now``."""
        errors = self.validation_errors_at(now)
        return "\n".join(errors) if errors else None

    def validation_errors(self) -> list[str]:
        return self.validation_errors_at(datetime.now(UTC))

    def validation_error(self) -> str | None:
        return self.validate_at(datetime.now(UTC))

    def supports(self, os_name: str, arch: str) -> bool:
        """True when a supported target has exactly this os and arch."""
        return any(t.os == os_name and t.arch == arch for t in self.supported_targets or [])

    def _target_errors(self) -> list[str]:
        if not self.supported_targets:
            return ["supported_targets are required"]
        errors: list[str] = []
        for index, target in enumerate(self.supported_targets):
            errors += _runtime_identifier_errors(f"supported_targets[{index}].os", target.os)
            errors += _runtime_identifier_errors(f"supported_targets[{index}].arch", target.arch)
        if not self.supports(self.os, self.arch):
            errors.append("supported_targets must include os/arch")
        return errors


def _strictly_after(later: datetime | None, earlier: datetime | None) -> bool:
    # Instants to the nanosecond, as Go's Time.After (datetimes stop at microseconds).
    assert later is not None and earlier is not None
    return unix_nanos(later) > unix_nanos(earlier)
