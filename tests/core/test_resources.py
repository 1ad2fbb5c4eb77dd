"""ResourceLimits, ResourceCapacity, ResourceUsage."""

from __future__ import annotations

from wfcompute_container.core.resources import (
    ResourceCapacity,
    ResourceLimits,
    ResourceUsage,
    resource_limits_capacity_errors,
    validate_resource_limits_against_capacity,
)


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


def test_limits_against_capacity() -> None:
    capacity = ResourceCapacity(cpu_count=2, memory_bytes=1000, disk_bytes=500)
    over = ResourceLimits(cpu_percent=201, memory_bytes=1001, workspace_bytes=501)
    assert resource_limits_capacity_errors(over, capacity) == [
        "resource_limits.cpu_percent 201 exceeds worker CPU capacity 200",
        "resource_limits.memory_bytes 1001 exceeds worker memory_bytes 1000",
        "resource_limits.workspace_bytes 501 exceeds worker disk_bytes 500",
    ]
    at_limit = ResourceLimits(cpu_percent=200, memory_bytes=1000, workspace_bytes=500)
    assert validate_resource_limits_against_capacity(at_limit, capacity) is None
    # Unknown capacity (0) never fails.
    assert validate_resource_limits_against_capacity(over, ResourceCapacity()) is None
    assert ResourceCapacity().to_json() == "{}"


def test_usage_json_and_audit_check() -> None:
    usage = ResourceUsage(cpu_millis=3, limit_hit="timeout")
    assert usage.to_json() == '{"cpu_millis":3,"limit_hit":"timeout"}'
    assert ResourceUsage().to_json() == "{}"
    assert usage.audit_errors() == []
    bad = ResourceUsage(gpu_millis=-1, output_bytes=-2, limit_hit="out/put")
    assert bad.audit_errors() == [
        "gpu_millis cannot be negative",
        "output_bytes cannot be negative",
        "limit_hit is invalid",
    ]
    assert ResourceUsage(limit_hit=" timeout").audit_errors() == ["limit_hit is invalid"]
    assert ResourceUsage(limit_hit="a\x00").audit_errors() == ["limit_hit is invalid"]
