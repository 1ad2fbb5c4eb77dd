"""Invocation, env, workspace path, artifact and digest methods (docs/PROTOCOL.md §4).

File-system work runs in a worker thread so one large artifact tree does not stall the
other requests being served.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Annotated, Literal, TypeVar

import anyio
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ..core.resources import ResourceLimits
from ..core.workloads import CommandWorkload, ContainerBuildWorkload, EnvRef
from ..errors import InvalidInput
from ..goparity.jsonenc import sorted_map
from ..goparity.paths import abs_path
from ..goparity.text import is_blank
from ..operations.env import command_runtime_env, container_build_env
from ..operations.invocations import (
    CommandInvocationOptions,
    ContainerBuildInvocationOptions,
    Invocation,
    build_command_invocation,
    build_container_build_invocation,
    resolve_container_build_paths,
)
from ..workspace.artifacts import hash_workspace_artifacts
from ..workspace.digests import (
    parse_build_digest_marker,
    read_build_digest,
    valid_sha256_digest,
)
from .registry import AnyMethod, RequestContext, method


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


_OptionsT = TypeVar("_OptionsT", CommandInvocationOptions, ContainerBuildInvocationOptions)


class EnvResolveParams(_Params):
    workload_kind: Literal["command", "container-build"]
    env: list[EnvRef]
    resolved: dict[str, str]


class EnvResolveResult(_Params):
    env: dict[str, str]


class _InvocationParams(_Params):
    task_id: str
    lease_id: str
    image: str
    workspace: str
    network: str = ""
    timeout_ms: PositiveInt | None = None
    timeout_limit_hit: str = ""
    resolved_env: dict[str, str] = Field(default_factory=dict)
    limits: ResourceLimits | None = None


class CommandInvocationParams(_InvocationParams):
    workload: CommandWorkload


class ContainerBuildInvocationParams(_InvocationParams):
    workload: ContainerBuildWorkload


class BuildResolvePathsParams(_Params):
    workspace: str
    workload: ContainerBuildWorkload


class BuildResolvePathsResult(_Params):
    context_directory: str
    dockerfile: str


class ArtifactsHashParams(_Params):
    workspace: str
    working_directory: str = ""
    allowlist: Annotated[list[str], Field(min_length=1)]


class ArtifactsHashResult(_Params):
    artifact_hash: str
    artifacts: list[str]


class DigestValidateParams(_Params):
    digest: str


class DigestValidateResult(_Params):
    valid: bool


class DigestParseMarkerParams(_Params):
    output: str


class DigestParseMarkerResult(_Params):
    digest: str | None


class DigestReadFileParams(_Params):
    path: str


class DigestReadFileResult(_Params):
    digest: str


def _env_resolve(params: EnvResolveParams, ctx: RequestContext) -> EnvResolveResult:
    # As the reference's CommandRuntimeEnv / ContainerBuildEnv: the refs themselves are not
    # validated here (the invocation builders' workload checks do that).
    if params.workload_kind == "command":
        env = command_runtime_env(params.env, params.resolved)
    else:
        env = container_build_env(params.env, params.resolved) or {}
    # Go encodes maps with sorted keys.
    return EnvResolveResult(env=sorted_map(env) or {})


def _invocation_command(params: CommandInvocationParams, ctx: RequestContext) -> Invocation:
    return build_command_invocation(_options(params, CommandInvocationOptions))


async def _invocation_container_build(
    params: ContainerBuildInvocationParams, ctx: RequestContext
) -> Invocation:
    options = _options(params, ContainerBuildInvocationOptions)
    return await anyio.to_thread.run_sync(build_container_build_invocation, options)


def _options(params: _InvocationParams, options_type: type[_OptionsT]) -> _OptionsT:
    # The params carry exactly the builder options' fields (the workload included).
    return options_type(**dict(params))


async def _build_resolve_paths(
    params: BuildResolvePathsParams, ctx: RequestContext
) -> BuildResolvePathsResult:
    context_dir, dockerfile = await anyio.to_thread.run_sync(
        resolve_container_build_paths, params.workspace, params.workload
    )
    return BuildResolvePathsResult(context_directory=abs_path(context_dir), dockerfile=dockerfile)


async def _artifacts_hash(params: ArtifactsHashParams, ctx: RequestContext) -> ArtifactsHashResult:
    if is_blank(params.workspace):
        # Refused rather than resolved against the plugin's own working directory.
        raise InvalidInput("workspace is required for artifact allowlist")
    cancel = threading.Event()
    work = partial(
        hash_workspace_artifacts,
        params.workspace,
        params.working_directory,
        params.allowlist,
        cancel=cancel,
    )
    try:
        # Abandoned on cancellation so the request ends at once; the event makes the worker
        # thread stop at its next read and close its descriptors.
        digest = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        cancel.set()
        raise
    return ArtifactsHashResult(artifact_hash=digest, artifacts=list(params.allowlist))


def _digest_validate(params: DigestValidateParams, ctx: RequestContext) -> DigestValidateResult:
    return DigestValidateResult(valid=valid_sha256_digest(params.digest))


def _digest_parse_marker(
    params: DigestParseMarkerParams, ctx: RequestContext
) -> DigestParseMarkerResult:
    digest = parse_build_digest_marker(params.output)
    return DigestParseMarkerResult(digest=digest or None)


async def _digest_read_file(
    params: DigestReadFileParams, ctx: RequestContext
) -> DigestReadFileResult:
    digest = await anyio.to_thread.run_sync(read_build_digest, params.path)
    return DigestReadFileResult(digest=digest)


METHODS: list[AnyMethod] = [
    method(
        "env.resolve",
        EnvResolveParams,
        EnvResolveResult,
        _env_resolve,
        "Resolve a workload's env refs to runtime env values.",
    ),
    method(
        "invocation.command",
        CommandInvocationParams,
        Invocation,
        _invocation_command,
        "Validate a command workload and build its runtime invocation.",
    ),
    method(
        "invocation.container_build",
        ContainerBuildInvocationParams,
        Invocation,
        _invocation_container_build,
        "Validate a container-build workload and build its runtime invocation.",
    ),
    method(
        "build.resolve_paths",
        BuildResolvePathsParams,
        BuildResolvePathsResult,
        _build_resolve_paths,
        "Resolve a build's context directory and Dockerfile inside the workspace.",
    ),
    method(
        "artifacts.hash",
        ArtifactsHashParams,
        ArtifactsHashResult,
        _artifacts_hash,
        "Digest the allowlisted workspace artifacts.",
    ),
    method(
        "digest.validate",
        DigestValidateParams,
        DigestValidateResult,
        _digest_validate,
        "Whether a value is sha256:<64 lowercase hex>.",
    ),
    method(
        "digest.parse_marker",
        DigestParseMarkerParams,
        DigestParseMarkerResult,
        _digest_parse_marker,
        "The digest of the last build digest marker line in builder output.",
    ),
    method(
        "digest.read_file",
        DigestReadFileParams,
        DigestReadFileResult,
        _digest_read_file,
        "Read a build digest file without following links.",
    ),
]
