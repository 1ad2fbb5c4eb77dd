"""ResourceLimits, ResourceCapacity and ResourceUsage."""

from __future__ import annotations

from typing import ClassVar

from ..goparity.text import contains_any, trim_space
from .wire import Int64, OmitRule, ValidatedModel, WireModel

_LIMIT_FIELDS = (
    "cpu_percent",
    "memory_bytes",
    "workspace_bytes",
    "runtime_seconds",
    "network_egress_bytes",
    "output_bytes",
)
_USAGE_COUNTERS = (
    "cpu_millis",
    "gpu_millis",
    "max_memory_bytes",
    "network_rx_bytes",
    "network_tx_bytes",
    "workspace_bytes",
    "output_bytes",
)


class ResourceLimits(ValidatedModel):
    """Limits requested for one run; 0 means "not limited"."""

    __omit__: ClassVar[dict[str, OmitRule]] = {name: "empty" for name in _LIMIT_FIELDS}

    cpu_percent: Int64 = 0
    memory_bytes: Int64 = 0
    workspace_bytes: Int64 = 0
    runtime_seconds: Int64 = 0
    network_egress_bytes: Int64 = 0
    output_bytes: Int64 = 0

    def validation_errors(self) -> list[str]:
        return [f"{name} cannot be negative" for name in _LIMIT_FIELDS if getattr(self, name) < 0]

    def require_resource_constrained_executor(self) -> bool:
        """ResourceLimitsRequireResourceConstrainedExecutor."""
        return self.cpu_percent > 0 or self.memory_bytes > 0


class ResourceCapacity(WireModel):
    """What a worker offers (ResourceCapacity)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "cpu_count": "empty",
        "memory_bytes": "empty",
        "disk_bytes": "empty",
    }

    cpu_count: Int64 = 0
    memory_bytes: Int64 = 0
    disk_bytes: Int64 = 0


def resource_limits_capacity_errors(
    limits: ResourceLimits, capacity: ResourceCapacity
) -> list[str]:
    """ValidateResourceLimitsAgainstCapacity, as a list in check order."""
    errors: list[str] = []
    cpu_capacity = capacity.cpu_count * 100
    if limits.cpu_percent > 0 and capacity.cpu_count > 0 and limits.cpu_percent > cpu_capacity:
        errors.append(
            f"resource_limits.cpu_percent {limits.cpu_percent} exceeds worker CPU capacity "
            f"{cpu_capacity}"
        )
    if (
        limits.memory_bytes > 0
        and capacity.memory_bytes > 0
        and limits.memory_bytes > capacity.memory_bytes
    ):
        errors.append(
            f"resource_limits.memory_bytes {limits.memory_bytes} exceeds worker memory_bytes "
            f"{capacity.memory_bytes}"
        )
    if (
        limits.workspace_bytes > 0
        and capacity.disk_bytes > 0
        and limits.workspace_bytes > capacity.disk_bytes
    ):
        errors.append(
            f"resource_limits.workspace_bytes {limits.workspace_bytes} exceeds worker disk_bytes "
            f"{capacity.disk_bytes}"
        )
    return errors


def validate_resource_limits_against_capacity(
    limits: ResourceLimits, capacity: ResourceCapacity
) -> str | None:
    """ValidateResourceLimitsAgainstCapacity: joined text, None when within capacity."""
    errors = resource_limits_capacity_errors(limits, capacity)
    return "\n".join(errors) if errors else None


class ResourceUsage(WireModel):
    """What a run used; ``limit_hit`` names the limit that stopped it (e.g. ``timeout``)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        **{name: "empty" for name in _USAGE_COUNTERS},
        "limit_hit": "empty",
    }

    cpu_millis: Int64 = 0
    gpu_millis: Int64 = 0
    max_memory_bytes: Int64 = 0
    network_rx_bytes: Int64 = 0
    network_tx_bytes: Int64 = 0
    workspace_bytes: Int64 = 0
    output_bytes: Int64 = 0
    limit_hit: str = ""

    def audit_errors(self) -> list[str]:
        """The core's unexported usage check (used by network audit records); no Validate."""
        errors = [
            f"{name} cannot be negative" for name in _USAGE_COUNTERS if getattr(self, name) < 0
        ]
        hit = self.limit_hit
        if hit != "" and (trim_space(hit) != hit or contains_any(hit, " \t\r\n/:?&#\x00")):
            errors.append("limit_hit is invalid")
        return errors
