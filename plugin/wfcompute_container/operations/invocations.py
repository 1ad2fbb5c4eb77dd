"""Workload → validated runtime invocation (as in the Go plugin).

The runtime request's `input` is the workload without its env refs; resolved env values
travel only in the request's `env`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import PositiveInt

from ..core.enums import PROTOCOL_VERSION, WORKLOAD_COMMAND, WORKLOAD_CONTAINER_BUILD
from ..core.execution import RuntimeExecutionRequest
from ..core.resources import ResourceLimits
from ..core.wire import OmitRule, RawJSON, WireModel
from ..core.workloads import CommandWorkload, ContainerBuildWorkload
from ..errors import InvalidInput
from ..goparity.paths import clean
from ..goparity.text import first_non_empty, is_blank
from ..workspace.paths import reject_symlink_path_components, resolve_inside
from .env import command_runtime_env, container_build_env
from .image_ref import validate_image

OPERATION_RUN_SANDBOXED_COMMAND = "run-sandboxed-command"
OPERATION_BUILD_SANDBOXED_CONTAINER = "build-sandboxed-container"
DEFAULT_NETWORK = "none"
DEFAULT_TIMEOUT_LIMIT_HIT = "timeout"
DEFAULT_COMMAND_TIMEOUT_MS = 60_000
DEFAULT_BUILD_TIMEOUT_MS = 3_600_000
DEFAULT_DOCKERFILE = "Dockerfile"


class Invocation(WireModel):
    """A validated runtime request plus how to run it (the reference's *RuntimeInvocation)."""

    __omit__: ClassVar[dict[str, OmitRule]] = {}

    request: RuntimeExecutionRequest
    image: str
    workspace: str
    network: str = DEFAULT_NETWORK
    # Required: its default differs between command and build invocations.
    timeout_ms: PositiveInt
    timeout_limit_hit: str = DEFAULT_TIMEOUT_LIMIT_HIT


@dataclass
class CommandInvocationOptions:
    task_id: str
    lease_id: str
    image: str
    workspace: str
    workload: CommandWorkload
    network: str = ""
    timeout_ms: int | None = None
    timeout_limit_hit: str = ""
    resolved_env: dict[str, str] = field(default_factory=dict)
    limits: ResourceLimits | None = None


@dataclass
class ContainerBuildInvocationOptions:
    task_id: str
    lease_id: str
    image: str
    workspace: str
    workload: ContainerBuildWorkload
    network: str = ""
    timeout_ms: int | None = None
    timeout_limit_hit: str = ""
    resolved_env: dict[str, str] = field(default_factory=dict)
    limits: ResourceLimits | None = None


def _raise_if(error: str | None) -> None:
    if error is not None:
        raise InvalidInput(error)


def build_command_invocation(options: CommandInvocationOptions) -> Invocation:
    """Reference NewSandboxedCommandInvocation: checks in its order, first failure raised."""
    workload = options.workload
    if is_blank(options.workspace):
        raise InvalidInput("workspace is required")
    _raise_if(workload.validation_error())
    if not workload.args:
        raise InvalidInput("command args are required")
    env = command_runtime_env(workload.env, options.resolved_env)
    request = _runtime_request(options, WORKLOAD_COMMAND, OPERATION_RUN_SANDBOXED_COMMAND, env)
    return _invocation(request, options, DEFAULT_COMMAND_TIMEOUT_MS)


def build_container_build_invocation(options: ContainerBuildInvocationOptions) -> Invocation:
    """Reference NewSandboxedContainerBuildInvocation: the workload is validated before the
    workspace is looked at."""
    workload = options.workload
    _raise_if(workload.validation_error())
    resolve_container_build_paths(options.workspace, workload)
    env = container_build_env(workload.env, options.resolved_env)
    request = _runtime_request(
        options, WORKLOAD_CONTAINER_BUILD, OPERATION_BUILD_SANDBOXED_CONTAINER, env
    )
    return _invocation(request, options, DEFAULT_BUILD_TIMEOUT_MS)


def _runtime_request(
    options: CommandInvocationOptions | ContainerBuildInvocationOptions,
    workload_kind: str,
    operation: str,
    env: dict[str, str] | None,
) -> RuntimeExecutionRequest:
    """The validated runtime request; its input is the workload without its env refs."""
    request = RuntimeExecutionRequest(
        protocol_version=PROTOCOL_VERSION,
        task_id=options.task_id,
        lease_id=options.lease_id,
        workload_kind=workload_kind,
        operation=operation,
        input=RawJSON(value=options.workload.model_copy(update={"env": None}).to_wire()),
        env=env,
        limits=options.limits or ResourceLimits(),
    )
    _raise_if(request.validation_error())
    return request


def _invocation(
    request: RuntimeExecutionRequest,
    options: CommandInvocationOptions | ContainerBuildInvocationOptions,
    default_timeout_ms: int,
) -> Invocation:
    # The image reaches a tool's argv later: refuse one that is not a reference here too.
    validate_image(options.image, "image")
    timeout_ms = options.timeout_ms
    return Invocation(
        request=request,
        image=options.image,
        workspace=options.workspace,
        network=first_non_empty(options.network, DEFAULT_NETWORK),
        timeout_ms=timeout_ms if timeout_ms is not None and timeout_ms > 0 else default_timeout_ms,
        timeout_limit_hit=first_non_empty(options.timeout_limit_hit, DEFAULT_TIMEOUT_LIMIT_HIT),
    )


def resolve_container_build_paths(
    workspace: str, workload: ContainerBuildWorkload
) -> tuple[str, str]:
    """Reference ResolveContainerBuildPaths: (context directory below the workspace,
    Dockerfile as given or defaulted, relative to the context). Neither must exist, but
    neither may be reached through a symlink."""
    if is_blank(workspace):
        raise InvalidInput("workspace is required")
    root = clean(workspace)
    context_dir = resolve_inside(root, workload.context_directory)
    reject_symlink_path_components(root, context_dir)
    dockerfile = workload.dockerfile or DEFAULT_DOCKERFILE
    dockerfile_path = resolve_inside(context_dir, dockerfile)
    reject_symlink_path_components(context_dir, dockerfile_path)
    return context_dir, dockerfile
