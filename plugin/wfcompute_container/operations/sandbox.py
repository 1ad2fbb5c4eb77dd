"""The hardened container sandbox: argv planning (as in the Go plugin), validation and runs.

The argument vector is the security boundary, so ``prepare`` builds it in one place for both
``sandbox.plan`` (placeholders, no side effects) and real runs. Departures from the reference
(docs/PROTOCOL.md §8): every run is named (``--name`` right after ``--rm``) so timeout, output limit
and cancellation remove the container; every prepare error undoes what prepare did; root
workspace relaxation never follows symlinks; rootful podman (we run as uid 0) gets no
``--userns keep-id``, which podman rejects outside rootless mode.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio
import anyio.lowlevel

from ..core.resources import ResourceLimits
from ..core.wire import GoBytes, WireModel
from ..errors import InvalidInput, RuntimeUnavailable
from ..goparity.paths import abs_path, clean, escapes, rel
from ..goparity.text import contains_any, first_non_empty, quote, trim_space
from ..redaction import redact_tool_detail as redact_tool_detail  # re-exported
from ..redaction import redact_tool_text
from ..runtime_io.exec_errors import ToolNotFound
from ..runtime_io.instance_state import Instance, StateDirError, current_instance
from ..runtime_io.tool_lookup import look_path
from ..runtime_io.tool_process import DEFAULT_OUTPUT_LIMIT, ContainerRef, StopReason, run_tool
from ..workspace.artifacts import directory_size
from .container_paths import sandbox_working_dir
from .image_ref import refuse_nul, validate_bare_name, validate_image
from .sandbox_env_file import EnvFileError, validate_env, write_env_file
from .sandbox_workspace_modes import (
    WorkspaceBusy,
    WorkspaceModeError,
    lock_workspace,
    relax_workspace_modes,
    strip_setid_bits,
)

ToolName = Literal["docker", "podman", "nerdctl"]

ENV_FILE_PLACEHOLDER = "<env-file>"
CONTAINER_NAME_PLACEHOLDER = "<container-name>"
CONTAINER_NAME_PREFIX = "wfcompute-run-"
"""Every container a run starts is named with this prefix (tests and operators filter on it)."""

BUILD_TMPFS = "/wfcompute-build:rw,noexec,nosuid,nodev,size=512m"
ALLOWED_ROOT_CAPABILITIES = ("CHOWN", "FOWNER")
AVAILABILITY_TIMEOUT_SECONDS = 30.0
RUNTIME_DEADLINE_GRACE_SECONDS = 5
"""podman runs carry `--timeout <deadline + this>`: a bound that holds with no plugin alive."""

_BASE_RUN_FLAGS = (
    "--network",
    None,  # the validated network goes here
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "256",
    "--tmpfs",
    "/tmp:rw,noexec,nosuid,nodev,size=64m",
)
_MOUNT_FORBIDDEN = ":," + "".join(chr(code) for code in range(0x20)) + "\x7f"
_NAMESPACE_FORBIDDEN = " \t\r\n/:?&#\\\x00"
_NETWORK_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_CAPABILITY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Runtime(WireModel):
    """Which container tool runs the sandbox. ``scope`` is ``["--namespace", NAME]`` (nerdctl)."""

    tool: ToolName
    runtime_name: str = ""
    scope: list[str] | None = None


class SandboxMount(WireModel):
    host_path: str
    container_path: str
    read_only: bool = False
    required_prefix: str = ""


class SandboxRunRequest(WireModel):
    """One sandboxed container run (reference SandboxRunRequest; stdin is base64 on the wire)."""

    image: str
    command: list[str]
    workspace: str
    working_dir: str = ""
    env: dict[str, str] | None = None
    network: str = ""
    run_as_root: bool = False
    writable_rootfs: bool = False
    add_capabilities: list[str] | None = None
    extra_tmpfs: list[str] | None = None
    data_mounts: list[SandboxMount] | None = None
    limits: ResourceLimits | None = None
    stdin: GoBytes = None
    entrypoint_override: bool = False


@dataclass
class PreparedRun:
    """The argv of one run and what to undo afterwards (``cleanup`` is idempotent)."""

    tool: str
    scope_args: list[str]
    args: list[str]
    container_name: str
    cleanup: Callable[[], None] = field(default=lambda: None)
    workspace: str = ""
    """The absolute host workspace the run mounts."""
    engine_args: list[str] = field(default_factory=list)
    """Global options of this run's tool invocation only (not of its clean-up commands)."""

    @property
    def argv(self) -> list[str]:
        return [self.tool, *self.scope_args, *self.engine_args, *self.args]


@dataclass
class SandboxRunResult:
    """What the container tool did. ``failure`` is set when the tool itself failed."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    output_bytes: int
    workspace_bytes: int
    stop_reason: StopReason
    failure: str | None = None
    artifact_hash: str = ""


def sandbox_network(value: str) -> str:
    if value in ("", "none"):
        return "none"
    if value == "bridge":
        return value
    if value.startswith("wfcompute-") and all(char in _NETWORK_NAME_CHARS for char in value):
        return value
    raise InvalidInput(f"unsupported sandbox network {quote(value)}")


def validate_capability(value: str, run_as_root: bool) -> None:
    if value == "":
        raise InvalidInput("docker capability cannot be empty")
    if not all(char in _CAPABILITY_CHARS for char in value):
        raise InvalidInput(f"invalid docker capability {quote(value)}")
    if not run_as_root or value not in ALLOWED_ROOT_CAPABILITIES:
        raise InvalidInput(
            f"docker capability {quote(value)} is not allowed for this sandbox profile"
        )


def validate_tmpfs(value: str, run_as_root: bool) -> None:
    if value == "" or not value.startswith("/") or contains_any(value, "\x00\n\r"):
        raise InvalidInput(f"invalid docker tmpfs {quote(value)}")
    if not run_as_root or value != BUILD_TMPFS:
        raise InvalidInput(f"docker tmpfs {quote(value)} is not allowed for this sandbox profile")


def validate_mount(mount: SandboxMount) -> tuple[str, str]:
    """(absolute host path, cleaned container path) of a valid data mount."""
    host = trim_space(mount.host_path)
    container = trim_space(mount.container_path)
    if host == "" or container == "":
        raise InvalidInput("sandbox mount host and container paths are required")
    try:
        abs_host = clean(abs_path(host))
    except OSError as exc:
        raise InvalidInput(f"resolve sandbox mount: {exc}") from exc
    if mount.required_prefix != "":
        try:
            prefix = clean(abs_path(mount.required_prefix))
        except OSError as exc:
            raise InvalidInput(f"resolve sandbox mount prefix: {exc}") from exc
        if escapes(rel(prefix, abs_host)):
            raise InvalidInput(f"sandbox mount {quote(abs_host)} escapes required prefix")
    if not container.startswith("/") or ".." in container:
        raise InvalidInput(f"sandbox mount container path {quote(container)} is invalid")
    # Both paths are joined into `-v HOST:CONTAINER:MODE`: a `:` or `,` would add options.
    if contains_any(abs_host, _MOUNT_FORBIDDEN):
        raise InvalidInput(
            "sandbox mount host path must not contain ':', ',' or a control character"
        )
    if abs_host == "/":
        raise InvalidInput("sandbox mount of the host root / is not allowed")
    if contains_any(container, _MOUNT_FORBIDDEN) or clean(container) != container.rstrip("/"):
        raise InvalidInput(
            "sandbox mount container path must be absolute and clean, without ':', ','"
            " or a control character"
        )
    if clean(container) == "/":
        raise InvalidInput("sandbox mount container path must not be /")
    return abs_host, clean(container)


def validate_runtime_scope(tool: str, scope: list[str] | None) -> list[str]:
    if not scope:
        return []
    if tool != "nerdctl":
        raise InvalidInput("runtime scope args are only supported for nerdctl")
    if len(scope) != 2 or scope[0] != "--namespace" or trim_space(scope[1]) == "":
        raise InvalidInput("runtime scope must be --namespace <name>")
    namespace = scope[1]
    if contains_any(namespace, _NAMESPACE_FORBIDDEN) or namespace.startswith("-"):
        raise InvalidInput("runtime scope namespace is invalid")
    return list(scope)


def format_cpus(cpu_percent: int) -> str:
    """Go's ``fmt.Sprintf("%.2f", float64(cpu_percent)/100)``: the integer becomes a float64
    first (Python's int / int would divide exactly, then round once)."""
    return f"{float(cpu_percent) / 100:.2f}"


def new_container_name() -> str:
    return CONTAINER_NAME_PREFIX + secrets.token_hex(8)


def validate_request_values(runtime: Runtime, request: SandboxRunRequest) -> None:
    """Refuse every tenant value that could act as a tool option or break its argv.

    Called before any argv is built or anything is touched (docs/PROTOCOL.md §5, docs/SECURITY.md).
    Texts name the field, never the value.
    """
    validate_image(request.image, "image")
    if runtime.runtime_name != "":
        validate_bare_name(runtime.runtime_name, "runtime_name")
    refuse_nul(request.workspace, "workspace")
    refuse_nul(request.working_dir, "working_dir")
    for index, argument in enumerate(request.command):
        refuse_nul(argument, f"command[{index}]")
    for name in request.env or {}:
        refuse_nul(name, "env name")
    for index, mount in enumerate(request.data_mounts or []):
        refuse_nul(mount.host_path, f"data_mounts[{index}].host_path")
        refuse_nul(mount.container_path, f"data_mounts[{index}].container_path")
        refuse_nul(mount.required_prefix, f"data_mounts[{index}].required_prefix")


def prepare(
    runtime: Runtime,
    request: SandboxRunRequest,
    *,
    dry_run: bool,
    deadline_seconds: float | None = None,
) -> PreparedRun:
    """Build the run's argv in the reference's exact order; raise InvalidInput on a bad request.

    ``dry_run`` (sandbox.plan) touches nothing: no mode relaxation, no env file, placeholder
    name and env-file path. Otherwise the returned ``cleanup`` undoes the relaxation and
    removes the env file; on error everything done so far is undone before raising.
    """
    tool = first_non_empty(runtime.tool, "docker")
    if trim_space(request.workspace) == "":
        raise InvalidInput("workspace is required for sandboxed-command")
    validate_request_values(runtime, request)
    try:
        workspace = clean(abs_path(request.workspace))
    except OSError as exc:
        raise InvalidInput(f"resolve workspace: {exc}") from exc
    if contains_any(workspace, _MOUNT_FORBIDDEN):
        raise InvalidInput("workspace must not contain ':', ',' or a control character")

    undo: list[Callable[[], None]] = []

    def cleanup() -> None:
        for step in reversed(undo):
            step()

    try:
        instance = None if dry_run else _instance()
        if request.run_as_root and instance is not None:
            _relax_step(instance, workspace, undo)
        container_name = CONTAINER_NAME_PLACEHOLDER if dry_run else new_container_name()
        network = sandbox_network(request.network)
        args = ["run", "--rm", "--name", container_name]
        if instance is not None:
            # Labels find the container after a crash, even one the tool was still creating.
            args.extend(instance.container_labels(deadline_seconds))
        args.extend(network if flag is None else flag for flag in _BASE_RUN_FLAGS)
        if tool == "podman" and deadline_seconds is not None and not dry_run:
            # podman enforces the deadline itself, so the container cannot outlive it even
            # when this plugin is killed; a grace beyond ours keeps the timeout ours to report.
            bound = math.ceil(deadline_seconds) + RUNTIME_DEADLINE_GRACE_SECONDS
            args.extend(("--timeout", str(bound)))
        if request.stdin:
            args.append("-i")
        if not request.writable_rootfs:
            args.append("--read-only")
        for capability in request.add_capabilities or []:
            validate_capability(capability, request.run_as_root)
            args.extend(("--cap-add", capability))
        for tmpfs in request.extra_tmpfs or []:
            validate_tmpfs(tmpfs, request.run_as_root)
            args.extend(("--tmpfs", tmpfs))
        if not request.run_as_root:
            uid, gid = os.getuid(), os.getgid()
            if tool == "podman" and uid != 0:
                args.extend(("--userns", "keep-id"))
            args.extend(("--user", f"{uid}:{gid}"))
        if runtime.runtime_name != "":
            args.extend(("--runtime", runtime.runtime_name))
        engine_args = _runtime_flags(tool, runtime.runtime_name, network)
        limits = request.limits or ResourceLimits()
        if limits.memory_bytes > 0:
            args.extend(("--memory", str(limits.memory_bytes)))
        if limits.cpu_percent > 0:
            args.extend(("--cpus", format_cpus(limits.cpu_percent)))
        working_dir = sandbox_working_dir(request.working_dir)
        # podman accepts nosuid,nodev on a bind mount (Docker 20.10's -v refuses them): a
        # setuid file in the workspace then gives nothing inside the container either.
        ws_options = "rw,nosuid,nodev" if tool == "podman" else "rw"
        args.extend(("-v", f"{workspace}:/workspace:{ws_options}", "-w", working_dir))
        for mount in request.data_mounts or []:
            host, container = validate_mount(mount)
            args.extend(("-v", f"{host}:{container}:{'ro' if mount.read_only else 'rw'}"))
        env_file = _env_file_step(request.env or {}, instance, undo)
        if env_file is not None:
            args.extend(("--env-file", env_file))
        if request.entrypoint_override:
            if not request.command or trim_space(request.command[0]) == "":
                raise InvalidInput("entrypoint override requires a command")
            args.extend(("--entrypoint", ""))
        # The image was checked (never an option); `--` is the second guard.
        args.extend(("--", request.image))
        args.extend(request.command)
        scope_args = validate_runtime_scope(tool, runtime.scope)
        if instance is not None:
            instance.record_runtime(tool, scope_args)
    except BaseException:
        cleanup()
        raise
    return PreparedRun(
        tool=tool,
        scope_args=scope_args,
        engine_args=engine_args,
        args=args,
        container_name=container_name,
        cleanup=_once(cleanup),
        workspace=workspace,
    )


GVISOR_RUNTIME = "runsc"


def _runtime_flags(tool: str, runtime_name: str, network: str) -> list[str]:
    """Runtime flags the plugin chooses itself (params never name one: they are options of
    the OCI runtime, an injection surface). gVisor under podman with ``--network none``
    refuses to start ("cannot run with network enabled in root network namespace") unless
    its own network is off too."""
    if tool == "podman" and runtime_name == GVISOR_RUNTIME and network == "none":
        return ["--runtime-flag", "network=none"]
    return []


def _instance() -> Instance:
    try:
        return current_instance()
    except StateDirError as exc:
        raise RuntimeUnavailable(str(exc)) from exc


def _once(step: Callable[[], None]) -> Callable[[], None]:
    """``step`` run at most once (a run cleans up as soon as the tool client is gone, and
    again, as a no-op, on its way out)."""
    done = False

    def run_once() -> None:
        nonlocal done
        if not done:
            done = True
            step()

    return run_once


def _relax_step(instance: Instance, workspace: str, undo: list[Callable[[], None]]) -> None:
    """Relax the workspace for a root container, journalled in the instance directory."""
    try:
        release = lock_workspace(workspace)
    except (WorkspaceBusy, WorkspaceModeError) as exc:
        raise InvalidInput(str(exc)) from exc
    undo.append(release)  # released last: after the modes are back
    try:
        journal = instance.mode_journal(workspace)
    except OSError as exc:
        raise RuntimeUnavailable(f"cannot journal sandbox workspace modes: {exc.strerror}") from exc
    try:
        restore = relax_workspace_modes(workspace, journal)
    except BaseException as exc:
        journal.remove()
        if isinstance(exc, WorkspaceModeError):
            raise InvalidInput(str(exc)) from exc
        raise
    undo.append(journal.remove)  # runs after the restore (undo steps run last first)
    undo.append(restore)


def _env_file_step(
    env: dict[str, str], instance: Instance | None, undo: list[Callable[[], None]]
) -> str | None:
    try:
        if instance is None:
            if not env:
                return None
            validate_env(env)
            return ENV_FILE_PLACEHOLDER
        written = write_env_file(env, instance.directory)
    except EnvFileError as exc:
        raise InvalidInput(str(exc)) from exc
    if written is None:
        return None
    undo.append(written.remove)
    return written.path


def plan(runtime: Runtime, request: SandboxRunRequest) -> list[str]:
    """The argv a run of ``request`` would execute (``sandbox.plan``); no side effects."""
    return prepare(runtime, request, dry_run=True).argv


async def run(
    runtime: Runtime,
    request: SandboxRunRequest,
    *,
    timeout: float | None,
    output_limit: int | None = None,
    reserve_output: Callable[[int], Awaitable[None]] | None = None,
) -> SandboxRunResult:
    """Run ``request`` to its end, deadline or output limit; undo everything on every path out.

    Prepare errors raise InvalidInput. Cancellation kills and removes the container, then
    propagates. The workload's own exit status is returned, not raised.
    """
    limit = output_limit if output_limit and output_limit > 0 else DEFAULT_OUTPUT_LIMIT
    # The prepare step walks the workspace; in a thread, shielded so that a cancellation cannot
    # lose the cleanup of what it did.
    with anyio.CancelScope(shield=True):
        prepared = await anyio.to_thread.run_sync(
            functools.partial(prepare, runtime, request, dry_run=False, deadline_seconds=timeout)
        )

    async def release() -> None:
        # The client is gone: the env file (secrets) and relaxed modes go now, before a
        # container removal that a hung daemon can stall past the plugin's own exit.
        await anyio.to_thread.run_sync(prepared.cleanup)

    try:
        await anyio.lowlevel.checkpoint()
        tool_run = await run_tool(
            prepared.argv,
            stdin=request.stdin or b"",
            timeout=timeout,
            output_limit=limit,
            container=ContainerRef(
                prepared.tool, prepared.container_name, tuple(prepared.scope_args)
            ),
            after_client=release,
            reserve_output=reserve_output,
        )
        with anyio.CancelScope(shield=True):
            workspace_bytes = await anyio.to_thread.run_sync(directory_size, request.workspace)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(prepared.cleanup)
            # After the modes are back: nothing the workload made setuid/setgid survives.
            await anyio.to_thread.run_sync(strip_setid_bits, prepared.workspace)

    failure: str | None = None
    error = tool_run.error
    tool_failed = not tool_run.started or (
        tool_run.stop_reason == "exited"
        and tool_run.returncode is not None
        and (tool_run.returncode < 0 or tool_run.returncode == 125)
    )
    if error is not None and tool_failed:
        failure = enrich_error(str(error), tool_run.stdout, tool_run.stderr)
        forget_availability(prepared.tool)
    return SandboxRunResult(
        exit_code=tool_run.exit_code,
        stdout=tool_run.stdout,
        stderr=tool_run.stderr,
        output_bytes=len(tool_run.stdout) + len(tool_run.stderr),
        workspace_bytes=workspace_bytes,
        stop_reason=tool_run.stop_reason,
        failure=failure,
    )


def enrich_error(message: str, stdout: bytes, stderr: bytes) -> str:
    """the Go plugin step 5: the raw-length test, so blank stderr still adds ``: ``.

    The tool's text reaches the answer only through redaction (credentials, sockets, home
    directories); the workload's own output in the result is not touched.
    """
    if stderr:
        return f"{message}: {redact_tool_text(_trimmed_text(stderr))}"
    if stdout:
        return f"{message}: {redact_tool_text(_trimmed_text(stdout))}"
    return message


AVAILABILITY_MEMORY_SECONDS = 10.0
"""How long a successful availability check is trusted for the same tool (the same
executable): a run right after one does not pay for another ``<tool> version``."""

_available_since: dict[tuple[str, str], float] = {}


# What decides which engine a tool talks to, besides the executable itself.
_TOOL_TARGET_ENV = (
    "CONTAINER_CONNECTION",
    "CONTAINER_HOST",
    "CONTAINERS_CONF",
    "CONTAINERD_ADDRESS",
    "CONTAINERD_NAMESPACE",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_HOST",
    "XDG_RUNTIME_DIR",
)


def _availability_key(tool: str) -> tuple[str, str] | None:
    try:
        executable = look_path(tool)
    except ToolNotFound:
        return None
    target = "\0".join(os.environ.get(name, "") for name in _TOOL_TARGET_ENV)
    return tool, f"{executable}\0{target}"


def forget_availability(tool: str) -> None:
    """The tool failed a run: the next run checks it afresh."""
    for key in [key for key in _available_since if key[0] == tool]:
        del _available_since[key]


async def availability_error(runtime: Runtime) -> str | None:
    """``<tool> version`` (the Go plugin as of v0.5.2); None when the tool answers.

    A success is remembered for ``AVAILABILITY_MEMORY_SECONDS`` per tool and executable; a
    run whose tool then fails (``forget_availability``) makes the next run check again.
    """
    tool = first_non_empty(runtime.tool, "docker")
    key = _availability_key(tool)
    if key is not None:
        since = _available_since.get(key)
        if since is not None and time.monotonic() - since < AVAILABILITY_MEMORY_SECONDS:
            return None
    result = await run_tool(
        [tool, "version"], timeout=AVAILABILITY_TIMEOUT_SECONDS, output_limit=1 << 20
    )
    if result.stop_reason == "timeout":
        return f"{tool} version did not answer within {AVAILABILITY_TIMEOUT_SECONDS:g}s"
    if result.error is None:
        if key is not None:
            _available_since[key] = time.monotonic()
        return None
    message = str(result.error)
    stderr = _trimmed_text(result.stderr)
    stdout = _trimmed_text(result.stdout)
    if stderr:
        return f"{message}: {redact_tool_detail(stderr)}"
    if stdout:
        return f"{message}: {redact_tool_detail(stdout)}"
    return message


def _trimmed_text(data: bytes) -> str:
    return trim_space(data.decode("utf-8", "replace"))
