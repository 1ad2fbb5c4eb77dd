"""Runtime backend reports and provider capabilities.

Implements the newer core (≈ v0.6): reports may embed a managed runtime ``bundle``, and
``validate_at(now)`` adds public-text, executor-shape and bundle checks to the v0.5 rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field

from ..goparity.text import join_errors, quote, trim_space
from ..goparity.timefmt import is_zero_time
from .descriptors import ExecutorRef
from .enums import (
    NATIVE_EXECUTION_TIERS,
    PROTOCOL_VERSION,
    PROVIDER_CAPABILITY_SUPPORTED,
    RUNTIME_BACKEND_DEGRADED,
    RUNTIME_BACKEND_SUPPORTED,
    RUNTIME_BACKEND_UNSUPPORTED,
    RUNTIME_INSTALL_BUNDLED,
    VALID_CONTAINER_RUNTIME_TOOLS,
    VALID_EXECUTION_SECURITY_TIERS,
    VALID_PROOF_TIERS,
    VALID_RUNTIME_BACKEND_FAMILIES,
    VALID_RUNTIME_BACKEND_STATUSES,
    VALID_RUNTIME_INSTALL_BURDENS,
    VALID_RUNTIME_ISOLATION_MODES,
    VALID_RUNTIME_PROFILES,
)
from .managed_bundle import ManagedRuntimeBundleDescriptor
from .rules import (
    identifier_error,
    prefixed,
    public_text_errors,
    valid_sha256_digest,
    valid_sha256_ref,
    validate_identifier,
)
from .wire import ZERO_TIME, GoTime, OmitRule, ValidatedModel, WireModel

_EVIDENCE_CHECKS = ("workspace", "network", "env", "proof", "cleanup")


class RuntimeBackendEvidence(WireModel):
    """What the conformance probe proved about a backend (decoded from the probe's stdout)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "digest": "empty",
        "workspace": "empty",
        "network": "empty",
        "env": "empty",
        "proof": "empty",
        "cleanup": "empty",
        "details": "empty",
    }

    digest: str = ""
    workspace: bool = False
    network: bool = False
    env: bool = False
    proof: bool = False
    cleanup: bool = False
    details: list[str] | None = None


class ProviderCapabilityReport(WireModel):
    """Whether a provider can run here."""

    __omit__: ClassVar[dict[str, OmitRule]] = {"reason": "empty"}

    provider: str = ""
    status: str = ""
    reason: str = ""


class RuntimeBackendReport(ValidatedModel):
    """One container backend on this machine: what it is, whether it works, what it proved."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "protocol_version": "empty",
        "tool": "empty",
        "version": "empty",
        "os": "empty",
        "arch": "empty",
        "reason": "empty",
        "install_burden": "empty",
        "runtime_profiles": "empty",
        "executor_providers": "empty",
        "executors": "empty",
        "conformance_profiles": "empty",
        "evidence": "zero",
        "bundle": "empty",
        "generated_at": "zero",
        "constraints": "empty",
    }

    protocol_version: str = ""
    backend_id: str = ""
    family: str = ""
    tool: str = ""
    version: str = ""
    os: str = ""
    arch: str = ""
    status: str = ""
    reason: str = ""
    isolation_mode: str = ""
    install_burden: str = ""
    runtime_profiles: list[str] | None = None
    executor_providers: list[str] | None = None
    executors: list[ExecutorRef] | None = None
    conformance_profiles: list[str] | None = None
    evidence: RuntimeBackendEvidence = Field(default_factory=RuntimeBackendEvidence)
    bundle: ManagedRuntimeBundleDescriptor | None = None
    generated_at: GoTime = ZERO_TIME
    constraints: list[str] | None = None

    def validation_errors(self) -> list[str]:
        """Validate(): the checks at the current time."""
        return self.validation_errors_at(datetime.now(UTC))

    def validate_at(self, now: datetime) -> str | None:
        """ValidateAt(now): joined text, None when valid at ``now``."""
        return join_errors(self.validation_errors_at(now))

    def validation_errors_at(self, now: datetime) -> list[str]:
        errors = validate_identifier("backend_id", self.backend_id)
        errors.extend(
            _enum_errors("family", self.family, VALID_RUNTIME_BACKEND_FAMILIES)
            + _enum_errors("status", self.status, VALID_RUNTIME_BACKEND_STATUSES)
            + _enum_errors("isolation_mode", self.isolation_mode, VALID_RUNTIME_ISOLATION_MODES)
        )
        if is_zero_time(self.generated_at):
            errors.append("generated_at is required")
        if self.protocol_version != "" and self.protocol_version != PROTOCOL_VERSION:
            errors.append(f"protocol_version must be {quote(PROTOCOL_VERSION)}")
        if self.tool != "" and self.tool not in VALID_CONTAINER_RUNTIME_TOOLS:
            errors.append(f"tool {quote(self.tool)} is unsupported")
        if self.install_burden != "" and self.install_burden not in VALID_RUNTIME_INSTALL_BURDENS:
            errors.append(f"install_burden {quote(self.install_burden)} is unsupported")
        for field in ("version", "os", "arch"):
            errors.extend(public_text_errors(field, getattr(self, field)))
        for index, profile in enumerate(self.runtime_profiles or []):
            if profile not in VALID_RUNTIME_PROFILES:
                errors.append(f"runtime_profiles[{index}] {quote(profile)} is unsupported")
        for index, provider in enumerate(self.executor_providers or []):
            errors.extend(validate_identifier(f"executor_providers[{index}]", provider))
        for index, executor in enumerate(self.executors or []):
            errors.extend(prefixed(f"executors[{index}]", executor.proof_errors()))
            errors.extend(prefixed(f"executors[{index}]", _executor_shape_errors(executor)))
            errors.extend(public_text_errors(f"executors[{index}].version", executor.version))
        for index, profile in enumerate(self.conformance_profiles or []):
            errors.extend(validate_identifier(f"conformance_profiles[{index}]", profile))
        for index, detail in enumerate(self.evidence.details or []):
            errors.extend(public_text_errors(f"evidence.details[{index}]", detail))
        if self.bundle is not None:
            errors.extend(self._bundle_errors(self.bundle, now))
        errors.extend(public_text_errors("reason", self.reason))
        for index, constraint in enumerate(self.constraints or []):
            errors.extend(public_text_errors(f"constraints[{index}]", constraint))
        if self.status == RUNTIME_BACKEND_SUPPORTED:
            errors.extend(self._supported_errors())
        elif self.status in (RUNTIME_BACKEND_DEGRADED, RUNTIME_BACKEND_UNSUPPORTED):
            errors.extend(self._not_supported_errors())
        return errors

    def _bundle_errors(self, bundle: ManagedRuntimeBundleDescriptor, now: datetime) -> list[str]:
        errors: list[str] = []
        if self.install_burden != RUNTIME_INSTALL_BUNDLED:
            errors.append("install_burden must be bundled when bundle is present")
        errors.extend(prefixed("bundle", bundle.validation_errors_at(now)))
        for field in ("family", "tool", "os", "arch", "version"):
            ours: str = getattr(self, field)
            theirs: str = getattr(bundle, field)
            if ours != "" and theirs != "" and ours != theirs:
                errors.append(f"bundle.{field} must match {field}")
        return errors

    def _supported_errors(self) -> list[str]:
        errors: list[str] = []
        if self.install_burden == RUNTIME_INSTALL_BUNDLED and self.bundle is None:
            errors.append("bundle is required for supported bundled runtime backend")
        if not self.executor_providers:
            errors.append("executor_providers are required for supported runtime backend")
        if not self.runtime_profiles:
            errors.append("runtime_profiles are required for supported runtime backend")
        if not self.conformance_profiles:
            errors.append("conformance_profiles are required for supported runtime backend")
        if not valid_sha256_digest(self.evidence.digest):
            errors.append("evidence.digest must be sha256:<64 lowercase hex chars>")
        for check in _EVIDENCE_CHECKS:
            if not getattr(self.evidence, check):
                errors.append(f"evidence.{check} is required for supported runtime backend")
        return errors

    def _not_supported_errors(self) -> list[str]:
        errors: list[str] = []
        if trim_space(self.reason) == "":
            errors.append("reason is required for degraded or unsupported runtime backend")
        if self.executor_providers:
            errors.append("executor_providers must be empty unless runtime backend is supported")
        if self.executors:
            errors.append("executors must be empty unless runtime backend is supported")
        return errors


def _enum_errors(name: str, value: str, valid: frozenset[str]) -> list[str]:
    if value == "":
        return [f"{name} is required"]
    if value not in valid:
        return [f"{name} {quote(value)} is unsupported"]
    return []


def _executor_shape_errors(executor: ExecutorRef) -> list[str]:
    """validateRuntimeBackendExecutor: what a claimed executor may contain."""
    errors: list[str] = []
    provider_error = identifier_error("executor.provider", executor.provider)
    if provider_error is not None:
        errors.append(provider_error)
    tier = executor.execution_security_tier
    if tier != "" and tier not in VALID_EXECUTION_SECURITY_TIERS:
        errors.append(f"executor.execution_security_tier {quote(tier)} is unsupported")
    if executor.proof_tier != "" and executor.proof_tier not in VALID_PROOF_TIERS:
        errors.append(f"executor.proof_tier {quote(executor.proof_tier)} is unsupported")
    if tier != "" and tier not in NATIVE_EXECUTION_TIERS:
        for field in ("image_digest", "rootfs_digest"):
            value: str = getattr(executor, field)
            if value != "" and not valid_sha256_ref(value):
                errors.append(f"executor.{field} must be sha256:<64 hex chars>")
    return errors


def _valid_supported(
    reports: Iterable[RuntimeBackendReport], now: datetime | None
) -> list[RuntimeBackendReport]:
    """Supported reports that pass ValidateAt at one instant (newer core skips the rest)."""
    at = now if now is not None else datetime.now(UTC)
    return [
        report
        for report in reports
        if report.status == RUNTIME_BACKEND_SUPPORTED and not report.validation_errors_at(at)
    ]


def supported_executors(
    reports: Iterable[RuntimeBackendReport], now: datetime | None = None
) -> list[ExecutorRef]:
    """RuntimeBackendReportsSupportedExecutors: executors of valid supported reports, in order."""
    return [
        executor
        for report in _valid_supported(reports, now)
        for executor in (report.executors or [])
    ]


def provider_capabilities_from(
    reports: Iterable[RuntimeBackendReport], now: datetime | None = None
) -> list[ProviderCapabilityReport]:
    """ProviderCapabilityReportsFromRuntimeBackends: each provider once, first-seen order."""
    seen: dict[str, None] = {}
    for report in _valid_supported(reports, now):
        for provider in report.executor_providers or []:
            seen.setdefault(provider, None)
        for executor in report.executors or []:
            seen.setdefault(executor.provider, None)
    return [
        ProviderCapabilityReport(provider=provider, status=PROVIDER_CAPABILITY_SUPPORTED)
        for provider in seen
    ]
