"""RuntimeExecutionRequest and RuntimeExecutionResult."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from wfcompute_container.core.descriptors import ProviderConfig
from wfcompute_container.core.execution import (
    RuntimeExecutionRequest,
    RuntimeExecutionResult,
    result_preview_error,
)
from wfcompute_container.core.resources import ResourceLimits, ResourceUsage
from wfcompute_container.core.wire import RawJSON
from wfcompute_container.core.workloads import CommandWorkload

HEX = "0123456789abcdef" * 4


def valid_request(**changes: object) -> RuntimeExecutionRequest:
    base = RuntimeExecutionRequest(
        protocol_version="compute.v1alpha1",
        task_id="task-1",
        lease_id="lease-1",
        workload_kind="command",
        operation="run-sandboxed-command",
        input=RawJSON(value={"args": ["true"]}),
    )
    return base.model_copy(update=changes)


def test_request_json_shape() -> None:
    workload = CommandWorkload(args=["sh", "-c", "printf ok > out.txt"])
    request = RuntimeExecutionRequest(
        protocol_version="compute.v1alpha1",
        task_id="t",
        lease_id="l",
        workload_kind="command",
        operation="run-sandboxed-command",
        input=RawJSON(value=workload.to_wire()),
        env={"B": "2", "A": "<1>"},
        limits=ResourceLimits(output_bytes=10),
    )
    assert request.to_json() == (
        '{"protocol_version":"compute.v1alpha1","task_id":"t","lease_id":"l",'
        '"workload_kind":"command","operation":"run-sandboxed-command",'
        '"input":{"args":["sh","-c","printf ok \\u003e out.txt"]},'
        '"env":{"A":"\\u003c1\\u003e","B":"2"},"limits":{"output_bytes":10}}'
    )
    assert RuntimeExecutionRequest().to_json() == (
        '{"protocol_version":"","task_id":"","lease_id":"","workload_kind":""}'
    )
    with_config = RuntimeExecutionRequest(provider_config=ProviderConfig(plugin_id="p"))
    assert '"workload_kind":"","provider_config":{"plugin_id":"p"}}' in with_config.to_json()


def test_request_round_trip_from_json_text() -> None:
    text = (
        '{"protocol_version":"compute.v1alpha1","task_id":"t","lease_id":"l",'
        '"workload_kind":"container-build","input":{"context_directory":".","tags":["a"]},'
        '"env":{"X":"1"},"limits":{"cpu_percent":100}}'
    )
    request = RuntimeExecutionRequest.model_validate(json.loads(text))
    assert request.to_json() == text
    assert request.validation_error() is None


def test_request_validation_order_and_texts() -> None:
    request = RuntimeExecutionRequest(
        protocol_version="compute.v1",
        task_id=" ",
        lease_id="\u00a0",
        workload_kind="Command",
        provider_config=ProviderConfig(plugin_id="p"),
        operation="run it",
        input=RawJSON(value=float("inf")),
        limits=ResourceLimits(cpu_percent=-1, output_bytes=-1),
    )
    assert request.validation_errors() == [
        'protocol_version must be "compute.v1alpha1"',
        "task_id is required",
        "lease_id is required",
        'workload_kind "Command" is unsupported',
        "provider_config: provider_id is required\ncontract_id is required\n"
        "version is required\nconfig_ref is required",
        "operation must not contain whitespace",
        "input must be valid JSON",
        "resource_limits: cpu_percent cannot be negative\noutput_bytes cannot be negative",
    ]


def test_request_small_rules() -> None:
    assert valid_request().validation_error() is None
    assert valid_request(workload_kind="").validation_errors() == [
        'workload_kind "" is unsupported'
    ]
    assert valid_request(workload_kind="wasm-component").validation_error() is None
    assert valid_request(operation="").validation_error() is None
    assert valid_request(operation="a\x00").validation_errors() == [
        "operation must not contain whitespace"
    ]
    # task_id has no charset rule; input may be any JSON value, even null.
    assert valid_request(task_id="a b/c").validation_error() is None
    assert valid_request(input=RawJSON(value=None)).validation_error() is None
    assert valid_request(input=None).validation_error() is None
    assert valid_request(workload_kind="x\ty").validation_errors() == [
        'workload_kind "x\\ty" is unsupported'
    ]


def test_result_json_shape() -> None:
    start = datetime(2026, 6, 9, 12, 0, 0, 500000, tzinfo=UTC)
    result = RuntimeExecutionResult(
        started_at=start,
        finished_at=start + timedelta(seconds=1),
        exit_code=3,
        stdout=b"ok\n",
        stderr=b"",
        artifact_hash="sha256:" + HEX,
        artifacts=["out.txt"],
        result_preview={"z": 1, "a": {"y": "<", "b": None}},
        resource_usage=ResourceUsage(limit_hit="timeout"),
    )
    assert result.to_json() == (
        '{"started_at":"2026-06-09T12:00:00.5Z","finished_at":"2026-06-09T12:00:01.5Z",'
        '"exit_code":3,"stdout":"b2sK","artifact_hash":"sha256:' + HEX + '",'
        '"artifacts":["out.txt"],"result_preview":{"a":{"b":null,"y":"\\u003c"},"z":1},'
        '"resource_usage":{"limit_hit":"timeout"}}'
    )
    # omitempty has no effect on time.Time: zero times are still written.
    assert RuntimeExecutionResult().to_json() == (
        '{"started_at":"0001-01-01T00:00:00Z","finished_at":"0001-01-01T00:00:00Z"}'
    )


def test_result_decodes_base64_output() -> None:
    result = RuntimeExecutionResult.model_validate(
        {"started_at": "2026-06-09T00:00:00Z", "stdout": "b2sK", "exit_code": 1}
    )
    assert result.stdout == b"ok\n"
    assert result.to_json() == (
        '{"started_at":"2026-06-09T00:00:00Z","finished_at":"0001-01-01T00:00:00Z",'
        '"exit_code":1,"stdout":"b2sK"}'
    )


def test_result_validation() -> None:
    start = datetime(2026, 6, 9, tzinfo=UTC)
    ok = RuntimeExecutionResult(started_at=start, finished_at=start)
    assert ok.validation_error() is None
    backwards = RuntimeExecutionResult(
        started_at=start, finished_at=start - timedelta(microseconds=1), artifact_hash="md5:x"
    )
    assert backwards.validation_errors() == [
        "finished_at must be after started_at",
        "artifact_hash must be sha256:<64 hex chars>",
    ]
    # Zero times are not compared; uppercase hex is accepted here.
    only_finish = RuntimeExecutionResult(finished_at=start, artifact_hash="sha256:" + HEX.upper())
    assert only_finish.validation_error() is None


def test_result_compares_nanoseconds() -> None:
    result = RuntimeExecutionResult.model_validate(
        {
            "started_at": "2026-06-09T00:00:00.000000002Z",
            "finished_at": "2026-06-09T00:00:00.000000001Z",
        }
    )
    assert result.validation_errors() == ["finished_at must be after started_at"]


def test_result_preview_limits() -> None:
    assert result_preview_error(None) is None
    assert result_preview_error({}) is None
    # 16384 bytes exactly passes: {"k":"<v>"} is 8 bytes of framing.
    assert result_preview_error({"k": "v" * (16384 - 8)}) is None
    assert result_preview_error({"k": "v" * (16384 - 7)}) == (
        "result_preview must be at most 16384 bytes"
    )
    # Measured on Go's encoding: each "<" becomes the 6-byte \u003c.
    assert result_preview_error({"k": "<" * 2800}) == ("result_preview must be at most 16384 bytes")
    assert result_preview_error({"k": "x" * 2800}) is None
    assert result_preview_error({"k": float("nan")}) == (
        "result_preview must be JSON-serializable: json: unsupported value: NaN"
    )
    assert result_preview_error({"b": [float("-inf")], "a": {"x": float("inf")}}) == (
        "result_preview must be JSON-serializable: json: unsupported value: +Inf"
    )
    result = RuntimeExecutionResult(result_preview={"k": "v" * 20000})
    assert result.validation_errors() == ["result_preview must be at most 16384 bytes"]
