"""`runtime.probe`: which container backends this machine has, and what each one proved
(operations.probe_selection reads the request, operations.probes runs the probes)."""

from __future__ import annotations

from ..operations.probe_selection import RuntimeProbeParams, RuntimeProbeResult, run_probe
from .registry import AnyMethod, RequestContext, method


async def _runtime_probe(params: RuntimeProbeParams, ctx: RequestContext) -> RuntimeProbeResult:
    return await run_probe(params, ctx.settings.conformance_image or "")


METHODS: list[AnyMethod] = [
    method(
        "runtime.probe",
        RuntimeProbeParams,
        RuntimeProbeResult,
        _runtime_probe,
        description=(
            "Probe container backends concurrently (each bounded by timeout_ms); reports keep "
            "the order asked for."
        ),
    ),
]
