"""ResourceLimits and ResourceUsage."""

from __future__ import annotations

from typing import ClassVar

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
