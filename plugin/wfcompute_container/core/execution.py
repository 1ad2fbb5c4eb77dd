"""RuntimeExecutionRequest and RuntimeExecutionResult."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from ..goparity.jsonenc import marshal_bytes, sorted_map
from ..goparity.text import contains_any, quote, trim_space
from ..goparity.timefmt import is_zero_time, unix_nanos
from .descriptors import ProviderConfig
from .enums import MAX_RUNTIME_RESULT_PREVIEW_BYTES, PROTOCOL_VERSION, VALID_WORKLOAD_KINDS
from .resources import ResourceLimits, ResourceUsage
from .rules import VERSION_FORBIDDEN, prefixed, valid_sha256_ref
from .wire import (
    ZERO_TIME,
    GoBytes,
    GoTime,
    Int64,
    OmitRule,
    RawJSONField,
    ValidatedModel,
    to_wire_value,
)


class RuntimeExecutionRequest(ValidatedModel):
    """One run handed to a runtime adapter; ``input`` is the workload JSON, embedded raw."""

    __omit__: ClassVar[dict[str, OmitRule]] = {
        "provider_config": "zero",
        "operation": "empty",
        "input": "empty",
        "env": "empty",
        "limits": "zero",
    }

    protocol_version: str = ""
    task_id: str = ""
    lease_id: str = ""
    workload_kind: str = ""
    provider_config: ProviderConfig = Field(default_factory=ProviderConfig)
    operation: str = ""
    input: RawJSONField = None
    env: dict[str, str] | None = None
    limits: ResourceLimits = Field(default_factory=ResourceLimits)

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if self.protocol_version != PROTOCOL_VERSION:
            errors.append(f"protocol_version must be {quote(PROTOCOL_VERSION)}")
        if trim_space(self.task_id) == "":
            errors.append("task_id is required")
        if trim_space(self.lease_id) == "":
            errors.append("lease_id is required")
        if self.workload_kind not in VALID_WORKLOAD_KINDS:
            errors.append(f"workload_kind {quote(self.workload_kind)} is unsupported")
        if not self.provider_config.is_zero():
            errors.extend(prefixed("provider_config", self.provider_config.validation_errors()))
        if contains_any(self.operation, VERSION_FORBIDDEN):
            errors.append("operation must not contain whitespace")
        if self.input is not None and not self.input.is_valid_json():
            errors.append("input must be valid JSON")
        errors.extend(prefixed("resource_limits", self.limits.validation_errors()))
        return errors


class RuntimeExecutionResult(ValidatedModel):
    """What a run produced. ``stdout``/``stderr`` are bytes (base64 on the wire)."""

    # started_at/finished_at carry `omitempty` in Go, which has no effect on time.Time.
    __omit__: ClassVar[dict[str, OmitRule]] = {
        "started_at": "empty",
        "finished_at": "empty",
        "exit_code": "empty",
        "stdout": "empty",
        "stderr": "empty",
        "artifact_hash": "empty",
        "artifacts": "empty",
        "result_preview": "empty",
        "resource_usage": "zero",
    }

    started_at: GoTime = ZERO_TIME
    finished_at: GoTime = ZERO_TIME
    exit_code: Int64 = 0
    stdout: GoBytes = None
    stderr: GoBytes = None
    artifact_hash: str = ""
    artifacts: list[str] | None = None
    result_preview: dict[str, Any] | None = None
    resource_usage: ResourceUsage = Field(default_factory=ResourceUsage)

    def validation_errors(self) -> list[str]:
        errors: list[str] = []
        if (
            not is_zero_time(self.started_at)
            and not is_zero_time(self.finished_at)
            and unix_nanos(self.finished_at) < unix_nanos(self.started_at)
        ):
            errors.append("finished_at must be after started_at")
        if self.artifact_hash != "" and not valid_sha256_ref(self.artifact_hash):
            errors.append("artifact_hash must be sha256:<64 hex chars>")
        preview_error = result_preview_error(self.result_preview)
        if preview_error is not None:
            errors.append(preview_error)
        return errors


def result_preview_error(preview: dict[str, Any] | None) -> str | None:
    """ValidateRuntimeResultPreview: JSON-serializable and at most 16 KiB as Go encodes it."""
    if not preview:
        return None
    unsupported = _go_marshal_problem(preview)
    if unsupported is not None:
        return f"result_preview must be JSON-serializable: {unsupported}"
    try:
        encoded = marshal_bytes(to_wire_value(preview))
    except (TypeError, ValueError) as exc:
        return f"result_preview must be JSON-serializable: {exc}"
    if len(encoded) > MAX_RUNTIME_RESULT_PREVIEW_BYTES:
        return f"result_preview must be at most {MAX_RUNTIME_RESULT_PREVIEW_BYTES} bytes"
    return None


def _go_marshal_problem(value: Any) -> str | None:
    """Go json.Marshal's error for values JSON cannot carry (first in encoding order)."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "json: unsupported value: NaN"
        return "json: unsupported value: " + ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, dict):
        mapped = sorted_map({str(k): v for k, v in value.items()}) or {}
        for item in mapped.values():
            problem = _go_marshal_problem(item)
            if problem is not None:
                return problem
    if isinstance(value, list | tuple):
        for item in value:
            problem = _go_marshal_problem(item)
            if problem is not None:
                return problem
    return None
