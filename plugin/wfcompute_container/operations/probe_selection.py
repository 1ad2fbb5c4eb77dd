"""What a `runtime.probe` request asks for: its params, which probes they select (built-in,
custom, managed) and the checks on custom definitions, and the answer.

Enum-valued fields of custom probes are plain strings in the schema on purpose: a bad value is
a domain error (-32010) naming the probe and the value, not a bare schema mismatch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ..core.backends import ProviderCapabilityReport, RuntimeBackendReport
from ..core.descriptors import ExecutorRef
from ..core.enums import (
    RUNTIME_INSTALL_BUNDLED,
    VALID_CONTAINER_RUNTIME_TOOLS,
    VALID_RUNTIME_BACKEND_FAMILIES,
    VALID_RUNTIME_INSTALL_BURDENS,
    VALID_RUNTIME_ISOLATION_MODES,
    VALID_RUNTIME_PROFILES,
)
from ..core.rules import identifier_error
from ..core.wire import ZERO_TIME, GoTime, WireModel
from ..errors import InvalidInput
from ..goparity.text import quote, trim_space
from ..goparity.timefmt import is_zero_time
from .image_ref import refuse_nul, validate_image
from .probes import (
    DEFAULT_BACKEND_IDS,
    DEFAULT_TIMEOUT_MS,
    ProbeOptions,
    default_probes,
    probe_all,
)


class ProbeDefinition(BaseModel):
    """A backend to probe besides the built-in three (enum values checked by the handler)."""

    model_config = ConfigDict(extra="forbid")

    backend_id: str
    family: str
    tool: str
    command: str
    version_args: list[str] | None = None
    isolation_mode: str
    install_burden: str | None = None
    runtime_profiles: list[str]
    conformance_profiles: list[str] | None = None


class RuntimeProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backends: list[str] | None = Field(
        default=None, description="built-in backend ids; default all (unless probes is given)"
    )
    probes: list[ProbeDefinition] | None = None
    conformance_image: str | None = None
    conformance_command: Annotated[list[str], Field(min_length=1)] | None = None
    conformance_workspace: str | None = None
    timeout_ms: PositiveInt | None = Field(default=None, description="per backend, default 60000")
    generated_at: GoTime = ZERO_TIME
    managed_install_root: str | None = None


class RuntimeProbeResult(WireModel):
    """Reports in the order asked, and what the supported ones advertise (Go-shaped JSON)."""

    reports: list[RuntimeBackendReport]
    supported_executors: list[ExecutorRef]
    provider_capabilities: list[ProviderCapabilityReport]


def probe_options_from(params: RuntimeProbeParams, default_image: str = "") -> list[ProbeOptions]:
    """The probes a request asks for, in its order; InvalidInput for bad definitions."""
    # One instant for every report of a request, as the reference's default probes share one.
    generated_at = params.generated_at
    if is_zero_time(generated_at):
        generated_at = datetime.now(UTC)
    image = params.conformance_image or default_image
    if image:
        # It lands in the conformance run's argv: an option here would be obeyed by the tool.
        validate_image(image, "conformance_image")
    for index, argument in enumerate(params.conformance_command or ()):
        refuse_nul(argument, f"conformance_command[{index}]")
    command = tuple(params.conformance_command or ())
    # Not checked here: the reference's Probe never fails, so a workspace that cannot be made
    # degrades each report that gets that far (after tool lookup and version).
    workspace = params.conformance_workspace or ""

    builtin = {
        p.backend_id: p
        for p in default_probes(
            generated_at,
            conformance_image=image,
            conformance_command=command,
            conformance_workspace=workspace,
        )
    }
    chosen: list[ProbeOptions] = []
    if params.backends is not None:
        if not params.backends and not params.probes and not params.managed_install_root:
            raise InvalidInput("backends must name at least one runtime backend")
        for backend_id in params.backends:
            if backend_id not in builtin:
                raise InvalidInput(
                    f"runtime backend {quote(backend_id)} is unknown "
                    f"(built-in: {', '.join(DEFAULT_BACKEND_IDS)})"
                )
            chosen.append(builtin[backend_id])
    elif not params.probes and not params.managed_install_root:
        chosen.extend(builtin.values())
    for index, definition in enumerate(params.probes or []):
        chosen.append(
            _custom_probe(f"probes[{index}]", definition, generated_at, image, command, workspace)
        )
    if params.managed_install_root is not None:
        chosen.extend(
            _managed_probes(params.managed_install_root, generated_at, image, command, workspace)
        )
    return chosen


def _custom_probe(
    name: str,
    definition: ProbeDefinition,
    generated_at: datetime | None,
    image: str,
    command: tuple[str, ...],
    workspace: str,
) -> ProbeOptions:
    problems: list[str] = []
    problem = identifier_error(f"{name}.backend_id", definition.backend_id)
    if problem:
        problems.append(problem)
    _check_enum(problems, f"{name}.family", definition.family, VALID_RUNTIME_BACKEND_FAMILIES)
    _check_enum(problems, f"{name}.tool", definition.tool, VALID_CONTAINER_RUNTIME_TOOLS)
    if trim_space(definition.command) == "":
        problems.append(f"{name}.command is required")
    _check_enum(
        problems, f"{name}.isolation_mode", definition.isolation_mode, VALID_RUNTIME_ISOLATION_MODES
    )
    burden = definition.install_burden or ""
    if burden:
        _check_enum(problems, f"{name}.install_burden", burden, VALID_RUNTIME_INSTALL_BURDENS)
        if burden == RUNTIME_INSTALL_BUNDLED:
            problems.append(
                f"{name}.install_burden {quote(burden)} is reserved for managed runtime probes "
                "(use managed_install_root)"
            )
    if not definition.runtime_profiles:
        problems.append(f"{name}.runtime_profiles is required")
    for position, profile in enumerate(definition.runtime_profiles):
        if profile not in VALID_RUNTIME_PROFILES:
            problems.append(f"{name}.runtime_profiles[{position}] {quote(profile)} is unsupported")
    for position, profile in enumerate(definition.conformance_profiles or []):
        problem = identifier_error(f"{name}.conformance_profiles[{position}]", profile)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidInput("\n".join(problems))
    return ProbeOptions(
        backend_id=definition.backend_id,
        family=definition.family,
        tool=definition.tool,
        command=definition.command,
        isolation_mode=definition.isolation_mode,
        install_burden=burden,
        version_args=None if definition.version_args is None else tuple(definition.version_args),
        conformance_image=image,
        conformance_command=command,
        conformance_workspace=workspace,
        runtime_profiles=tuple(definition.runtime_profiles),
        conformance_profiles=(
            tuple(definition.conformance_profiles) if definition.conformance_profiles else None
        ),
        generated_at=generated_at,
    )


def _check_enum(problems: list[str], name: str, value: str, valid: frozenset[str]) -> None:
    if value == "":
        problems.append(f"{name} is required")
    elif value not in valid:
        problems.append(f"{name} {quote(value)} is unsupported")


def _managed_probes(
    install_root: str,
    generated_at: datetime | None,
    image: str,
    command: tuple[str, ...],
    workspace: str,
) -> list[ProbeOptions]:
    """The managed containerd probes of the shipped catalog for this machine (reference v0.4.0)."""
    if trim_space(install_root) == "":
        raise InvalidInput("managed_install_root must not be blank")
    from .managed.catalog import default_catalog_path, load_catalog
    from .managed.probes import managed_probe_options

    return managed_probe_options(
        load_catalog(default_catalog_path()),
        install_root,
        generated_at,
        conformance_image=image,
        conformance_command=command,
        conformance_workspace=workspace,
    )


async def run_probe(params: RuntimeProbeParams, default_image: str = "") -> RuntimeProbeResult:
    """What runtime.probe answers (also used by the `probe` command)."""
    options = probe_options_from(params, default_image)
    results = await probe_all(options, timeout_ms=params.timeout_ms or DEFAULT_TIMEOUT_MS)
    return RuntimeProbeResult(
        reports=results.reports,
        supported_executors=results.supported_executors,
        provider_capabilities=results.provider_capabilities,
    )
