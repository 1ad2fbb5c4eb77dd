"""Runtime backend probes: is a container runtime here, and does it really sandbox?

A probe looks the tool up, checks that it is what it claims to be, asks its version, runs
the conformance image under the sandbox flags and reads the evidence the image prints. Only
full evidence earns ``supported`` (and executor claims); every other outcome is a
``degraded`` or ``unsupported`` report whose reason went through redaction. Probes never
raise: a probe's failure is its report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import anyio

from ..core.backends import (
    ProviderCapabilityReport,
    RuntimeBackendEvidence,
    RuntimeBackendReport,
    provider_capabilities_from,
    supported_executors,
)
from ..core.descriptors import ExecutorRef
from ..core.enums import (
    PROTOCOL_VERSION,
    RUNTIME_ISOLATION_USER_NAMESPACE,
    RUNTIME_ISOLATION_VM_BACKED_CONTAINER,
)
from ..core.enums import RUNTIME_BACKEND_DEGRADED as STATUS_DEGRADED
from ..core.enums import RUNTIME_BACKEND_SUPPORTED as STATUS_SUPPORTED
from ..core.enums import RUNTIME_BACKEND_UNSUPPORTED as STATUS_UNSUPPORTED
from ..core.enums import RUNTIME_INSTALL_BUNDLED as INSTALL_BUNDLED
from ..core.managed_bundle import ManagedRuntimeBundleDescriptor
from ..core.resources import ResourceLimits
from ..core.rules import NON_SHIPPABLE_MARKERS, public_text_errors
from ..errors import InvalidInput, PluginError
from ..goparity.dirs import mkdir_all, temp_dir
from ..goparity.jsonenc import marshal
from ..goparity.oserror import is_not_exist, os_error_of, path_error
from ..goparity.paths import abs_path
from ..goparity.platform import go_arch, go_os
from ..goparity.text import fields, first_non_empty, go_lower, quote, trim_space
from ..goparity.timefmt import is_zero_time
from ..redaction import contains_secret
from ..runtime_io.tool_process import ContainerRef
from . import sandbox
from .probe_claims import ClaimPlan, claim_details, failed_claims, failure_reason, judge_claims
from .probe_evidence import EvidenceDecodeError, decode_evidence
from .probe_host import HOLD_ENV_NAME, clear_hold_files, observe_held_sandbox
from .probe_runner import CommandOutcome, ExecProbeRunner, ProbeRunner

DEFAULT_CONFORMANCE_PROFILE = "distroless-static-v1"
DEFAULT_CONFORMANCE_COMMAND: tuple[str, ...] = ("/usr/local/bin/wfcompute-sandbox-probe",)
DEFAULT_CONFORMANCE_IMAGE = (
    "gcr.io/distroless/static-debian13@sha256:"
    "3592aa8171c77482f62bbc4164e6a2d141c6122554ace66e5cc910cadb961ff0"
)
DEFAULT_VERSION_ARGS: tuple[str, ...] = ("version", "--format", "{{.Client.Version}}")
DEFAULT_RUNTIME_PROFILES: tuple[str, ...] = ("sandboxed-oci-v1", "container-build-v1")
DEFAULT_TIMEOUT_MS = 60_000
PROBE_ENV_NAME = "WFCOMPUTE_RUNTIME_PROBE"
PROBE_ENV = PROBE_ENV_NAME + "=1"
# The conformance run asks for a memory limit so the image can prove it is in effect.
DEFAULT_CONFORMANCE_MEMORY_BYTES = 256 * 1024 * 1024
# The pids limit every sandboxed run gets (operations.sandbox's base run flags).
SANDBOX_PIDS_LIMIT = 256
WORKSPACE_TEMP_PREFIX = "wfcompute-runtime-probe-"
CONTAINER_NAME_PREFIX = "wfcompute-probe-"

REASON_TIMED_OUT = "runtime probe timed out"
REASON_EXECUTABLE_UNAVAILABLE = "runtime executable is unavailable"
REASON_REDACTED = "runtime probe failed; details redacted"
REASON_EMPTY = "runtime probe failed"
REASON_GVISOR_UNAVAILABLE = "gVisor runtime runsc is unavailable"
REASON_DOCKER_GVISOR_UNREGISTERED = "Docker daemon has no runsc runtime registered"
REASON_DOCKER_GVISOR_NETWORK = (
    "Docker daemon's runsc runtime does not set --network=none in its runtimeArgs"
)
# The daemon's registered OCI runtimes: ``{"runsc": {"path": ..., "runtimeArgs": [...]}}``.
DOCKER_RUNTIMES_ARGS = ("info", "--format", "{{json .Runtimes}}")

# Lower-case substrings that make a probe reason unshippable (go-plugin-behaviour §10.6): the
# core public-text markers plus the auth words, so an auth failure never ships its details.
_REDACTION_MARKERS = (*NON_SHIPPABLE_MARKERS, "auth", "authentication", "unauthorized")
# Stderr lines quoted in reasons are cut here; one line is context, not a log.
_STDERR_LINE_LIMIT = 300

# Requested runtime profile -> (executor provider, claim digest salt), reference order.
_PROFILE_PROVIDERS: dict[str, tuple[str, str]] = {
    "sandboxed-oci-v1": ("sandboxed-command", "command"),
    "container-build-v1": ("sandboxed-container-build", "container-build"),
}
# Names of the engine's components, e.g. "Engine containerd runc docker-init" from Docker and
# "Podman Engine Conmon OCI Runtime (runc)" from podman's Docker-compatible API.
DOCKER_SERVER_COMPONENTS_ARGS = (
    "version",
    "--format",
    "{{range .Server.Components}}{{.Name}} {{end}}",
)
# Tools whose self-report can be checked: each names itself in `<tool> --version`.
_KNOWN_TOOLS = ("podman", "docker", "nerdctl")

# What a backend needs the runtime to say about itself (ProbeOptions.expected_identity).
IDENTITY_PODMAN_ROOTLESS = "podman-rootless"
IDENTITY_PODMAN_ROOTFUL = "podman-rootful"
IDENTITY_DOCKER_DESKTOP = "docker-desktop"
IDENTITY_DOCKER_ENGINE = "docker-engine"
IDENTITY_DOCKER_ENGINE_ROOTLESS = "docker-engine-rootless"
_IDENTITY_NAMES = {
    IDENTITY_PODMAN_ROOTLESS: "rootless podman",
    IDENTITY_PODMAN_ROOTFUL: "rootful podman",
    IDENTITY_DOCKER_DESKTOP: "Docker Desktop",
    IDENTITY_DOCKER_ENGINE: "Docker Engine",
    IDENTITY_DOCKER_ENGINE_ROOTLESS: "rootless Docker Engine",
}
# A backend's expected identity and the modes that satisfy it (default: itself only). A
# rootless Docker Engine is still a shared-kernel Docker Engine.
_ACCEPTED_IDENTITIES: dict[str, tuple[str, ...]] = {
    IDENTITY_DOCKER_ENGINE: (IDENTITY_DOCKER_ENGINE, IDENTITY_DOCKER_ENGINE_ROOTLESS),
}
# The runtime's own word on its mode: podman's rootless flag and seccomp support, Docker's
# operating system (``Docker Desktop`` for Desktop) and security options (``name=rootless``,
# ``name=seccomp,profile=...``).
PODMAN_INFO_ARGS = (
    "info",
    "--format",
    "{{.Host.Security.Rootless}}|{{.Host.Security.SECCOMPEnabled}}",
)
DOCKER_INFO_ARGS = ("info", "--format", "{{.OperatingSystem}}|{{.SecurityOptions}}")
_INFO_ARGS = {"podman": PODMAN_INFO_ARGS, "docker": DOCKER_INFO_ARGS}
_DOCKER_DESKTOP_OS = "docker desktop"
# Tools command.run can run (operations.sandbox.ToolName): the conformance run needs its argv.
_SANDBOX_TOOLS = ("docker", "podman", "nerdctl")


@dataclass(frozen=True)
class ProbeOptions:
    """One backend to probe (reference RuntimeBackendProbeOptions).

    ``version_args`` None means the reference default (``version``); an empty tuple runs the
    command with no arguments. Empty image/command/profiles take the reference defaults.
    """

    backend_id: str
    family: str
    tool: str
    command: str
    isolation_mode: str
    install_burden: str = ""
    version_args: tuple[str, ...] | None = None
    conformance_image: str = ""
    conformance_command: tuple[str, ...] = ()
    conformance_workspace: str = ""
    runtime_profiles: tuple[str, ...] | None = None
    conformance_profiles: tuple[str, ...] | None = None
    generated_at: datetime | None = None
    runtime_scope_args: tuple[str, ...] = ()
    managed_bundle: ManagedRuntimeBundleDescriptor | None = None
    expected_identity: str = ""
    """One of the ``IDENTITY_*`` modes the runtime must report (empty: any)."""
    conformance_memory_bytes: int = DEFAULT_CONFORMANCE_MEMORY_BYTES
    runtime_name: str = ""
    """The OCI runtime the tool runs the conformance run under (``runsc``: gVisor)."""

    @property
    def gvisor(self) -> bool:
        return self.runtime_name == sandbox.GVISOR_RUNTIME


@dataclass(frozen=True)
class ProbeResults:
    """What ``runtime.probe`` answers: reports in the order asked, and what they advertise."""

    reports: list[RuntimeBackendReport]
    supported_executors: list[ExecutorRef]
    provider_capabilities: list[ProviderCapabilityReport]


@dataclass(frozen=True)
class RuntimeIdentity:
    """A runtime's own word on its mode; ``mode`` is an ``IDENTITY_*`` value, "" when unknown."""

    mode: str = ""
    seccomp: bool = False
    """The runtime says it applies a seccomp filter to its containers."""
    problem: str = ""
    """Why the mode is unknown (redacted)."""

    def details(self) -> list[str]:
        if self.mode == "":
            return []
        return [f"identity:{self.mode}", f"runtime-seccomp:{'on' if self.seccomp else 'off'}"]


def podman_identity(info: str) -> RuntimeIdentity:
    """``{{.Host.Security.Rootless}}|{{.Host.Security.SECCOMPEnabled}}`` from podman info."""
    rootless, _, seccomp = trim_space(info).partition("|")
    modes = {"true": IDENTITY_PODMAN_ROOTLESS, "false": IDENTITY_PODMAN_ROOTFUL}
    mode = modes.get(trim_space(rootless))
    if mode is None:
        return RuntimeIdentity(problem="podman info does not say whether it is rootless")
    return RuntimeIdentity(mode=mode, seccomp=trim_space(seccomp) == "true")


def docker_identity(info: str) -> RuntimeIdentity:
    """``{{.OperatingSystem}}|{{.SecurityOptions}}`` from docker info: Docker Desktop names
    itself as the operating system; the security options name rootless mode and seccomp."""
    system, sep, options = trim_space(info).rpartition("|")
    if not sep or trim_space(system) == "":
        return RuntimeIdentity(problem="docker info does not name its operating system")
    if _DOCKER_DESKTOP_OS in go_lower(system):
        mode = IDENTITY_DOCKER_DESKTOP
    elif "name=rootless" in options:
        mode = IDENTITY_DOCKER_ENGINE_ROOTLESS
    else:
        mode = IDENTITY_DOCKER_ENGINE
    seccomp = any(
        option.startswith("name=seccomp") and "profile=unconfined" not in option
        for option in options.strip("[]").split()
    )
    return RuntimeIdentity(mode=mode, seccomp=seccomp)


def docker_gvisor_problem(runtimes_json: bytes) -> str | None:
    """Why ``docker info``'s ``{{json .Runtimes}}`` rules out gVisor runs (None: it does not)."""
    try:
        runtimes = json.loads(runtimes_json)
    except ValueError:
        runtimes = None
    entry = runtimes.get(sandbox.GVISOR_RUNTIME) if isinstance(runtimes, dict) else None
    if not isinstance(entry, dict):
        return REASON_DOCKER_GVISOR_UNREGISTERED
    args = entry.get("runtimeArgs") or []
    if not isinstance(args, list) or not _sets_network_none([str(a) for a in args]):
        return REASON_DOCKER_GVISOR_NETWORK
    return None


def _sets_network_none(args: list[str]) -> bool:
    """runsc's flags (Go's flag package: one or two dashes, ``=`` or the next argument); the
    last ``network`` flag wins."""
    network = ""
    for index, arg in enumerate(args):
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or name != "network":
            continue
        if not sep:
            value = args[index + 1] if index + 1 < len(args) else ""
        network = value
    return network == "none"


def default_probes(
    generated_at: datetime | None = None,
    *,
    conformance_image: str = "",
    conformance_command: Sequence[str] = (),
    conformance_workspace: str = "",
) -> list[ProbeOptions]:
    """The built-in probes: the reference three in its order, then the rootful podman and
    Docker Engine backends (what a Linux machine without Desktop or rootless mode has), then
    gVisor under podman and under Docker Engine."""
    rows = (
        (
            "podman-rootless",
            "podman",
            "user-namespace",
            "system-installed",
            IDENTITY_PODMAN_ROOTLESS,
        ),
        (
            "docker-desktop",
            "docker",
            "vm-backed-container",
            "desktop-managed",
            IDENTITY_DOCKER_DESKTOP,
        ),
        ("nerdctl-containerd", "nerdctl", "shared-kernel-container", "system-installed", ""),
        (
            "podman-rootful",
            "podman",
            "shared-kernel-container",
            "system-installed",
            IDENTITY_PODMAN_ROOTFUL,
        ),
        (
            "docker-engine",
            "docker",
            "shared-kernel-container",
            "system-installed",
            IDENTITY_DOCKER_ENGINE,
        ),
    )
    probes = [
        ProbeOptions(
            backend_id=backend_id,
            family=tool,
            tool=tool,
            command=tool,
            isolation_mode=isolation,
            install_burden=burden,
            version_args=DEFAULT_VERSION_ARGS,
            conformance_image=conformance_image or DEFAULT_CONFORMANCE_IMAGE,
            conformance_command=tuple(conformance_command) or DEFAULT_CONFORMANCE_COMMAND,
            conformance_workspace=conformance_workspace,
            runtime_profiles=DEFAULT_RUNTIME_PROFILES,
            conformance_profiles=(DEFAULT_CONFORMANCE_PROFILE,),
            generated_at=generated_at,
            expected_identity=identity,
        )
        for backend_id, tool, isolation, burden, identity in rows
    ]
    # gVisor under rootful podman and under Docker Engine: the workload talks to gVisor's
    # user-space kernel, never to the host's, which is what a VM-backed container gives too
    # (docs/SECURITY.md section 6).
    gvisor = [
        replace(
            probes[index],
            backend_id=backend_id,
            isolation_mode=RUNTIME_ISOLATION_VM_BACKED_CONTAINER,
            runtime_name=sandbox.GVISOR_RUNTIME,
            expected_identity="",
        )
        for index, backend_id in ((3, "podman-gvisor"), (4, "docker-gvisor"))
    ]
    return [*probes, *gvisor]


DEFAULT_BACKEND_IDS: tuple[str, ...] = tuple(p.backend_id for p in default_probes())


async def probe_all(
    probes: Sequence[ProbeOptions],
    runner: ProbeRunner | None = None,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> ProbeResults:
    """Run every probe concurrently, each bounded by ``timeout_ms``; keep the order asked."""
    chosen = runner or ExecProbeRunner()
    reports: list[RuntimeBackendReport | None] = [None] * len(probes)

    async def one(index: int, options: ProbeOptions) -> None:
        reports[index] = await probe_backend(options, chosen, timeout_ms=timeout_ms)

    async with anyio.create_task_group() as group:
        for index, options in enumerate(probes):
            group.start_soon(one, index, options)
    done = [report for report in reports if report is not None]
    return ProbeResults(
        reports=done,
        supported_executors=supported_executors(done),
        provider_capabilities=provider_capabilities_from(done),
    )


async def probe_backend(
    options: ProbeOptions,
    runner: ProbeRunner | None = None,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> RuntimeBackendReport:
    """Probe one backend; never raises (cancellation of the caller aside)."""
    options = _with_defaults(options)
    probe = _Probe(options, runner or ExecProbeRunner(), timeout_ms)
    try:
        with anyio.move_on_after(timeout_ms / 1000) as deadline:
            await probe.run()
        if deadline.cancelled_caught:
            # The runner already killed the tool and removed the named container.
            probe.fail(STATUS_DEGRADED, REASON_TIMED_OUT)
    finally:
        probe.release_workspace()
    return _shippable(probe.report)


# --- flow -------------------------------------------------------------------------------------


def _with_defaults(options: ProbeOptions) -> ProbeOptions:
    generated_at = options.generated_at
    if generated_at is None or is_zero_time(generated_at):
        generated_at = datetime.now(UTC)
    return replace(
        options,
        generated_at=generated_at,
        version_args=("version",) if options.version_args is None else options.version_args,
        conformance_image=options.conformance_image or DEFAULT_CONFORMANCE_IMAGE,
        conformance_command=options.conformance_command or DEFAULT_CONFORMANCE_COMMAND,
        conformance_profiles=options.conformance_profiles or (DEFAULT_CONFORMANCE_PROFILE,),
    )


class _Probe:
    def __init__(self, options: ProbeOptions, runner: ProbeRunner, timeout_ms: int) -> None:
        assert options.generated_at is not None
        self.options = options
        self.runner = runner
        self.timeout_ms = timeout_ms
        self.identity_problem = ""
        self.workspace: _Workspace | None = None
        self.report = RuntimeBackendReport(
            protocol_version=PROTOCOL_VERSION,
            backend_id=options.backend_id,
            family=options.family,
            tool=options.tool,
            os=go_os(),
            arch=go_arch(),
            status=STATUS_UNSUPPORTED,
            isolation_mode=options.isolation_mode,
            install_burden=options.install_burden,
            runtime_profiles=_list_or_none(options.runtime_profiles),
            conformance_profiles=_list_or_none(options.conformance_profiles),
            generated_at=options.generated_at,
        )

    def fail(self, status: str, reason: str) -> None:
        if self.identity_problem and not reason.startswith(self.identity_problem):
            # The runtime already said it is not this backend; whatever failed next, say both.
            reason = f"{self.identity_problem}; {reason}"
        self.report.status = status
        self.report.reason = reason
        self.report.executor_providers = None
        self.report.executors = None
        self.report.evidence = RuntimeBackendEvidence()

    def release_workspace(self) -> None:
        if self.workspace is not None:
            self.workspace.release()
            self.workspace = None

    async def run(self) -> None:
        options = self.options
        report = self.report
        if options.install_burden == INSTALL_BUNDLED and not self._attach_bundle():
            return
        executable = self.runner.look_path(options.command)
        if executable is None:
            self.fail(STATUS_UNSUPPORTED, REASON_EXECUTABLE_UNAVAILABLE)
            return
        if (
            options.gvisor
            and options.tool == "podman"
            and self.runner.look_path(sandbox.GVISOR_RUNTIME) is None
        ):
            self.fail(STATUS_UNSUPPORTED, REASON_GVISOR_UNAVAILABLE)
            return
        if not await self._identity_matches():
            return

        assert options.version_args is not None
        version_run = await self.runner.run([options.command, *options.version_args])
        if version_run.error is not None:
            self.fail(
                STATUS_DEGRADED,
                _failure_reason("runtime version probe failed", version_run),
            )
            return
        if report.version == "":
            version = sanitize_runtime_version(version_run.stdout)
            if public_text_errors("version", version):
                self.fail(
                    STATUS_DEGRADED,
                    "runtime version probe failed: version output is not shippable text",
                )
                return
            report.version = version
        if not await self._server_identity_matches():
            return
        if options.gvisor and options.tool == "docker" and not await self._docker_gvisor():
            return
        identity = await self._runtime_identity()
        self.identity_problem = self._identity_problem(identity)

        try:
            self.workspace = _Workspace.acquire(options.conformance_workspace)
        except WorkspaceError as err:
            self.fail(
                STATUS_DEGRADED,
                redact_probe_detail(f"runtime conformance workspace failed: {err}"),
            )
            return

        request = conformance_request(options, self.workspace.path)
        try:
            with anyio.CancelScope(shield=True):
                prepared = await anyio.to_thread.run_sync(
                    self._prepare, request, self.timeout_ms / 1000
                )
        except PluginError as err:
            self.fail(
                STATUS_DEGRADED,
                redact_probe_detail(f"runtime conformance probe failed: {err}"),
            )
            return
        host_facts: list[str] = []
        try:
            argv = [options.command, *prepared.argv[1:]]
            container = ContainerRef(
                options.command, prepared.container_name, tuple(prepared.scope_args)
            )
            async with anyio.create_task_group() as group:
                if options.gvisor:
                    group.start_soon(self._observe, prepared, host_facts)
                conformance = await self.runner.run(argv, container)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if options.gvisor:
                    await anyio.to_thread.run_sync(clear_hold_files, prepared.workspace)
                await anyio.to_thread.run_sync(prepared.cleanup)
        if conformance.error is not None:
            self.fail(
                STATUS_DEGRADED,
                _failure_reason("runtime conformance probe failed", conformance),
            )
            return

        try:
            evidence = self._evidence(conformance.stdout)
        except EvidenceDecodeError as err:
            self.fail(
                STATUS_DEGRADED,
                redact_probe_detail(f"runtime conformance evidence incomplete: {err}"),
            )
            return
        plan = ClaimPlan(
            uid=os.getuid(),
            gid=os.getgid(),
            pids_limit=SANDBOX_PIDS_LIMIT,
            memory_bytes=max(options.conformance_memory_bytes, 0),
            user_namespace=options.isolation_mode == RUNTIME_ISOLATION_USER_NAMESPACE,
            seccomp=identity.seccomp,
            gvisor=options.gvisor,
            host_kernel_release=os.uname().release,
        )
        facts = [*(evidence.details or []), *host_facts]
        results = judge_claims(facts, plan)
        checked = [*facts, *identity.details(), *claim_details(results)]
        evidence = evidence.model_copy(update={"details": checked})
        failed = failed_claims(results)
        if failed or self.identity_problem:
            problems = [self.identity_problem] if self.identity_problem else []
            if failed:
                problems.append(failure_reason(failed))
            self.fail(STATUS_DEGRADED, redact_probe_detail("; ".join(problems)))
            # What was measured stays in the report: the host sees which claims held.
            report.evidence = evidence
            return
        report.status = STATUS_SUPPORTED
        providers, executors = executor_claims(report.runtime_profiles or [], report.version)
        report.executor_providers = providers or None
        report.executors = executors or None
        report.evidence = evidence

    async def _observe(self, prepared: sandbox.PreparedRun, into: list[str]) -> None:
        """The host's view of the held gVisor sandbox (operations.probe_host)."""
        into.extend(
            await observe_held_sandbox(
                self.runner,
                self.options.command,
                prepared.scope_args,
                prepared.container_name,
                prepared.workspace,
            )
        )

    def _prepare(self, request: sandbox.SandboxRunRequest, deadline: float) -> sandbox.PreparedRun:
        """command.run's argv for the conformance run, under the probe's own container name."""
        options = self.options
        if options.tool not in _SANDBOX_TOOLS:
            raise InvalidInput(f"tool {quote(options.tool)} has no sandbox run profile")
        scope = list(options.runtime_scope_args) or None
        runtime = sandbox.Runtime.model_validate(
            {"tool": options.tool, "runtime_name": options.runtime_name, "scope": scope}
        )
        prepared = sandbox.prepare(runtime, request, dry_run=False, deadline_seconds=deadline)
        # `run --rm --name NAME`: the probe's prefix tells probe containers from runs'.
        name = CONTAINER_NAME_PREFIX + secrets.token_hex(8)
        args = list(prepared.args)
        args[args.index(prepared.container_name)] = name
        return replace(prepared, args=args, container_name=name)

    def _attach_bundle(self) -> bool:
        """The managed-bundle step (reference v0.4.0); False when the probe ends here."""
        options = self.options
        report = self.report
        bundle = options.managed_bundle
        if bundle is None:
            self.fail(STATUS_UNSUPPORTED, "managed runtime bundle is unavailable")
            return False
        if not os.path.isabs(options.command):
            self.fail(STATUS_UNSUPPORTED, "managed runtime executable is unavailable")
            return False
        problem = bundle.validate_at(options.generated_at)
        if problem is not None:
            self.fail(
                STATUS_DEGRADED,
                redact_probe_detail(f"managed runtime bundle validation failed: {problem}"),
            )
            return False
        report.bundle = bundle
        report.version = bundle.version
        report.family = bundle.family or report.family
        report.tool = bundle.tool or report.tool
        report.os = bundle.os or report.os
        report.arch = bundle.arch or report.arch
        return True

    async def _identity_matches(self) -> bool:
        """A tool that names another runtime in its own --version is not this backend."""
        claimed = self.options.tool
        if claimed not in _KNOWN_TOOLS:
            return True
        outcome = await self.runner.run([self.options.command, "--version"])
        if outcome.error is not None:
            # No self-report to judge by; the version and conformance steps still decide.
            return True
        return self._judge_identity(identify_runtime(outcome.stdout), "command")

    async def _server_identity_matches(self) -> bool:
        """A docker client talking to another engine (DOCKER_HOST at a podman socket) is not
        Docker: the engine's components name it."""
        if self.options.tool != "docker":
            return True
        outcome = await self.runner.run([self.options.command, *DOCKER_SERVER_COMPONENTS_ARGS])
        if outcome.error is not None:
            return True
        return self._judge_identity(identify_runtime(outcome.stdout), "engine")

    async def _docker_gvisor(self) -> bool:
        """The daemon runs ``--runtime runsc`` only where the operator registered it, and
        gVisor starts under ``--network none`` only with its own network off: Docker has no
        per-run runtime flag, so the registration must carry ``--network=none``."""
        options = self.options
        outcome = await self.runner.run(
            [options.command, *options.runtime_scope_args, *DOCKER_RUNTIMES_ARGS]
        )
        if outcome.error is not None:
            self.fail(STATUS_DEGRADED, _failure_reason("docker info failed", outcome))
            return False
        problem = docker_gvisor_problem(outcome.stdout)
        if problem is not None:
            self.fail(STATUS_UNSUPPORTED, problem)
            return False
        return True

    async def _runtime_identity(self) -> RuntimeIdentity:
        """What the runtime says about its own mode (``podman info``, ``docker info``)."""
        options = self.options
        info_args = _INFO_ARGS.get(options.tool)
        if info_args is None:
            return RuntimeIdentity()
        outcome = await self.runner.run([options.command, *options.runtime_scope_args, *info_args])
        if outcome.error is not None:
            return RuntimeIdentity(problem=_failure_reason(f"{options.tool} info failed", outcome))
        text = outcome.stdout.decode("utf-8", errors="replace")
        if options.tool == "podman":
            return podman_identity(text)
        return docker_identity(text)

    def _identity_problem(self, identity: RuntimeIdentity) -> str:
        """Why the runtime's own word rules this backend out ("" when it does not)."""
        expected = self.options.expected_identity
        if expected == "":
            return ""
        if identity.mode == "":
            why = identity.problem or f"{self.options.tool} info did not say"
            return redact_probe_detail(f"runtime identity unknown: {why}")
        if identity.mode in _ACCEPTED_IDENTITIES.get(expected, (expected,)):
            return ""
        return (
            f"runtime identity mismatch: {self.options.backend_id} needs "
            f"{_IDENTITY_NAMES.get(expected, expected)}, {self.options.tool} info reports "
            f"{_IDENTITY_NAMES.get(identity.mode, identity.mode)}"
        )

    def _judge_identity(self, actual: str | None, what: str) -> bool:
        claimed = self.options.tool
        if actual is None or actual == claimed:
            return True
        self.fail(
            STATUS_DEGRADED,
            redact_probe_detail(
                f"runtime identity mismatch: {quote(claimed)} {what} reports itself as {actual}"
            ),
        )
        return False

    def _evidence(self, stdout: bytes) -> RuntimeBackendEvidence:
        try:
            decoded = decode_evidence(stdout)
        except EvidenceDecodeError as err:
            raise EvidenceDecodeError(f"decode evidence JSON: {err}") from None
        flags = {
            "workspace": decoded.workspace,
            "network": decoded.network,
            "env": decoded.env,
            "proof": decoded.proof,
            "cleanup": decoded.cleanup,
        }
        missing = [name for name, present in flags.items() if not present]
        if missing:
            raise EvidenceDecodeError("missing " + ",".join(missing))
        report = self.report
        profiles = report.conformance_profiles or []
        details = decoded.details
        if not details:
            details = [first_non_empty(*profiles)]
        for index, detail in enumerate(details):
            # Checked before the claims are judged: an unshippable fact decides nothing.
            problems = public_text_errors(f"evidence.details[{index}]", detail)
            if problems:
                raise EvidenceDecodeError(problems[0])
        if report.install_burden == INSTALL_BUNDLED and report.bundle is not None:
            scope = "runtime-scope:" + managed_runtime_scope_name(
                report.backend_id, first_non_empty(*profiles)
            )
            if scope not in details:
                raise EvidenceDecodeError("missing managed runtime scope evidence")
        return RuntimeBackendEvidence(
            digest=decoded.digest or evidence_digest(report),
            workspace=True,
            network=True,
            env=True,
            proof=True,
            cleanup=True,
            details=details,
        )


def conformance_request(options: ProbeOptions, workspace: str) -> sandbox.SandboxRunRequest:
    """The conformance run as command.run would run it: its hardening, user, read-only root,
    network none and a memory limit, plus the probe's env and workspace."""
    return sandbox.SandboxRunRequest(
        image=options.conformance_image,
        command=list(options.conformance_command),
        workspace=workspace,
        env={PROBE_ENV_NAME: "1", **({HOLD_ENV_NAME: "1"} if options.gvisor else {})},
        network="none",
        limits=ResourceLimits(memory_bytes=max(options.conformance_memory_bytes, 0)),
    )


def _shippable(report: RuntimeBackendReport) -> RuntimeBackendReport:
    """Guarantee the report passes the core's validation (e.g. evidence a probe image made up).

    Reference probes could emit reports the core rejects (an image's details naming a home
    path, a non-hex digest); such a report is degraded instead, naming the first problem.
    """
    problem = report.validate_at(report.generated_at)
    if problem is None:
        return report
    if report.status != STATUS_SUPPORTED:
        # A degraded report keeps what was measured only while that is shippable.
        report.evidence = RuntimeBackendEvidence()
        return report
    first = problem.split("\n", 1)[0]
    report.status = STATUS_DEGRADED
    report.reason = redact_probe_detail(f"runtime conformance evidence incomplete: {first}")
    report.executor_providers = None
    report.executors = None
    report.evidence = RuntimeBackendEvidence()
    return report


def _failure_reason(prefix: str, outcome: CommandOutcome) -> str:
    """``<prefix>: <go error>[: <last stderr line>]``, redacted.

    A stderr line is quoted only when it is itself clean: a tool shouting a socket path must
    not turn a clear "exit status 1" into an opaque redaction.
    """
    message = f"{prefix}: {outcome.error}"
    line = last_stderr_line(outcome.stderr)
    if line and not _has_redaction_marker(line):
        message = f"{message}: {line}"
    return redact_probe_detail(message)


def last_stderr_line(stderr: bytes) -> str:
    """The tool's last error line: the last line mentioning "error", else the last line.

    Docker ends a failed run with a usage hint ("Run 'docker run --help' ..."), which says
    nothing about the failure; the error line above it does.
    """
    text = stderr.decode("utf-8", errors="replace").replace("\x00", "")
    lines = [trim_space(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    errors = [line for line in lines if "error" in line.lower()]
    chosen = errors[-1] if errors else lines[-1]
    return chosen[:_STDERR_LINE_LIMIT]


def identify_runtime(version_output: bytes) -> str | None:
    """Which runtime a ``--version`` self-report names (the first one mentioned)."""
    text = version_output.decode("utf-8", errors="replace").lower()
    positions = [(text.find(tool), tool) for tool in _KNOWN_TOOLS if tool in text]
    if not positions:
        return None
    return min(positions)[1]


# --- version, redaction, digests, claims --------------------------------------------------------


def sanitize_runtime_version(output: bytes | str) -> str:
    """The first field of the version output. Invalid bytes stay as they are (surrogate
    escapes), as in Go's string: the wire shows one U+FFFD per byte and the claim digests hash
    the raw bytes."""
    text = output.decode("utf-8", errors="surrogateescape") if isinstance(output, bytes) else output
    text = trim_space(text).replace("\x00", "")
    if text == "":
        return "unknown"
    parts = fields(text)
    return parts[0] if parts else "unknown"


def _has_redaction_marker(text: str) -> bool:
    """A marker word, or a credential shape with no marker word (``ghp_...``, a URL's
    user-info, a JWT): either way the text is not fit for a public reason."""
    lowered = go_lower(text)
    return any(marker in lowered for marker in _REDACTION_MARKERS) or contains_secret(text)


def redact_probe_detail(message: str) -> str:
    if _has_redaction_marker(message):
        return REASON_REDACTED
    text = trim_space(message.replace("\x00", "")).replace("\n", " ").replace("\r", " ")
    return text or REASON_EMPTY


def claim_digest(*parts: str) -> str:
    """sha256 of the parts joined by NUL, over their raw bytes (a version's invalid bytes
    included, as Go hashes its string)."""
    joined = "\x00".join(parts).encode("utf-8", "surrogateescape")
    return "sha256:" + hashlib.sha256(joined).hexdigest()


def managed_runtime_scope_name(*parts: str) -> str:
    return "wfcompute-" + claim_digest(*parts, "scope").removeprefix("sha256:")[:16]


def evidence_digest(report: RuntimeBackendReport) -> str:
    payload = {
        "backend_id": report.backend_id,
        "family": report.family,
        "tool": report.tool,
        "version": report.version,
        "runtime_profiles": report.runtime_profiles,
        "conformance_profiles": report.conformance_profiles,
    }
    return "sha256:" + hashlib.sha256(marshal(payload).encode("utf-8")).hexdigest()


def executor_claims(
    runtime_profiles: Sequence[str], version: str
) -> tuple[list[str], list[ExecutorRef]]:
    providers: list[str] = []
    executors: list[ExecutorRef] = []
    for profile in runtime_profiles:
        claim = _PROFILE_PROVIDERS.get(profile)
        if claim is None:
            continue
        provider, salt = claim
        providers.append(provider)
        executors.append(
            ExecutorRef(
                provider=provider,
                version=first_non_empty(version, "unknown"),
                execution_security_tier="sandboxed-container",
                proof_tier="artifact-hash",
                image_digest=claim_digest(provider, version, salt, "image"),
                rootfs_digest=claim_digest(provider, version, salt, "rootfs"),
            )
        )
    return providers, executors


# --- platform names -----------------------------------------------------------------------------


def _list_or_none(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


# --- conformance workspace ----------------------------------------------------------------------


class WorkspaceError(Exception):
    """Why the conformance workspace could not be prepared (Go error text)."""


# Go's os.MkdirTemp gives up after this many names that already exist.
_MKDIR_TEMP_TRIES = 10_000


def go_mkdir_temp(directory: str, prefix: str) -> str:
    """Go os.MkdirTemp(directory, prefix + "*"): a new 0700 directory, with Go's error texts.

    A missing ``directory`` is reported as ``stat <directory>: ...``; any other failure is the
    ``mkdir <directory>/<prefix><random>: ...`` that Go's attempt got.
    """
    base = directory + prefix if directory.endswith("/") else f"{directory}/{prefix}"
    for _ in range(_MKDIR_TEMP_TRIES):
        name = base + str(secrets.randbits(32))
        try:
            os.mkdir(name, 0o700)
        except FileExistsError:
            continue
        except (OSError, ValueError) as exc:
            err = os_error_of(exc)
            if is_not_exist(err):
                try:
                    os.stat(directory)
                except (OSError, ValueError) as stat_exc:
                    stat_err = os_error_of(stat_exc)
                    if is_not_exist(stat_err):
                        raise WorkspaceError(path_error("stat", directory, stat_err)) from None
            raise WorkspaceError(path_error("mkdir", name, err)) from None
        return name
    # Go names the pattern after joining the directory twice; its fs.ErrExist text.
    raise WorkspaceError(f"mkdirtemp {directory}/{base}*: file already exists")


@dataclass
class _SharedRelaxation:
    original_mode: int
    holders: int = 1


# Concurrent probes may share one configured workspace: the first relaxes its mode, the last
# restores it, so no probe mistakes another's relaxed mode for the original.
_RELAXED: dict[str, _SharedRelaxation] = {}


@dataclass
class _Workspace:
    path: str
    temporary: bool
    _released: bool = field(default=False)

    @classmethod
    def acquire(cls, configured: str) -> _Workspace:
        if trim_space(configured) == "":
            return cls._temporary()
        try:
            path = abs_path(trim_space(configured))
        except OSError as err:  # the working directory is gone: Go's "getwd: ..."
            raise WorkspaceError(str(err)) from None
        return cls._configured(path)

    @classmethod
    def _temporary(cls) -> _Workspace:
        path = go_mkdir_temp(temp_dir(), WORKSPACE_TEMP_PREFIX)
        try:
            # A non-root container user may write (0o002) and enter (0o001), not list.
            os.chmod(path, 0o703)
        except OSError as err:
            shutil.rmtree(path, ignore_errors=True)
            raise WorkspaceError(path_error("chmod", path, err)) from None
        return cls(path, temporary=True)

    @classmethod
    def _configured(cls, path: str) -> _Workspace:
        shared = _RELAXED.get(path)
        if shared is not None:
            shared.holders += 1
            return cls(path, temporary=False)
        try:
            # Go's MkdirAll: every directory it makes gets 0700, the first non-directory in
            # the way is the one named.
            mkdir_all(path, 0o700)
        except OSError as err:
            raise WorkspaceError(str(err)) from None
        try:
            info = os.stat(path)
        except (OSError, ValueError) as err:
            raise WorkspaceError(path_error("stat", path, os_error_of(err))) from None
        if not stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(f"runtime conformance workspace {quote(path)} is not a directory")
        original = stat.S_IMODE(info.st_mode)
        try:
            os.chmod(path, original | 0o003)
        except OSError as err:
            raise WorkspaceError(path_error("chmod", path, err)) from None
        _RELAXED[path] = _SharedRelaxation(original)
        return cls(path, temporary=False)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        shared = _RELAXED.get(self.path)
        if shared is None:
            return
        shared.holders -= 1
        if shared.holders > 0:
            return
        del _RELAXED[self.path]
        # Removed by someone else meanwhile: nothing left to restore.
        with contextlib.suppress(OSError):
            os.chmod(self.path, shared.original_mode)
