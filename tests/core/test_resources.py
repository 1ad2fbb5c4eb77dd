"""ResourceLimits and ResourceUsage."""

from __future__ import annotations

from wfcompute_container.core.resources import ResourceLimits, ResourceUsage


def test_limits_json_omits_zero_fields() -> None:
    assert ResourceLimits().to_json() == "{}"
    limits = ResourceLimits(output_bytes=5, cpu_percent=50, runtime_seconds=-1)
    assert limits.to_json() == '{"cpu_percent":50,"runtime_seconds":-1,"output_bytes":5}'


def test_limits_negative_errors_in_order() -> None:
    limits = ResourceLimits(
        cpu_percent=-1,
        memory_bytes=-1,
        workspace_bytes=-1,
        runtime_seconds=-1,
        network_egress_bytes=-1,
        output_bytes=-1,
    )
    assert limits.validation_error() == (
        "cpu_percent cannot be negative\n"
        "memory_bytes cannot be negative\n"
        "workspace_bytes cannot be negative\n"
        "runtime_seconds cannot be negative\n"
        "network_egress_bytes cannot be negative\n"
        "output_bytes cannot be negative"
    )
    assert ResourceLimits(memory_bytes=-5).validation_errors() == [
        "memory_bytes cannot be negative"
    ]
    assert ResourceLimits(cpu_percent=0, memory_bytes=1).validation_error() is None


def test_limits_require_constrained_executor() -> None:
    assert not ResourceLimits(workspace_bytes=10).require_resource_constrained_executor()
    assert ResourceLimits(cpu_percent=1).require_resource_constrained_executor()
    assert ResourceLimits(memory_bytes=1).require_resource_constrained_executor()


def test_usage_json() -> None:
    usage = ResourceUsage(cpu_millis=3, limit_hit="timeout")
    assert usage.to_json() == '{"cpu_millis":3,"limit_hit":"timeout"}'
    assert ResourceUsage().to_json() == "{}"
