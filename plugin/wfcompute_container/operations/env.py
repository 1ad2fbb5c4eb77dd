"""Env refs to runtime env values (as in the Go plugin).

A workload names variables by ref (`value_ref` or `secret_ref`); the host resolves the refs
and hands over `{ref: value}`. Values are returned, never logged or put in error texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.workloads import EnvRef
from ..errors import InvalidInput
from ..goparity.text import first_non_empty, quote

RESERVED_BUILD_ENV_PREFIX = "WORKFLOW_COMPUTE_BUILD_"


def reserved_build_env_error(name: str) -> InvalidInput:
    return InvalidInput(f"reserved workflow-compute build env {quote(name)}")


def command_runtime_env(
    env: Sequence[EnvRef] | None, resolved: Mapping[str, str]
) -> dict[str, str]:
    """Reference CommandRuntimeEnv: name → resolved value, in list order (may be empty)."""
    values: dict[str, str] = {}
    for ref in env or ():
        _resolve_into(values, ref, resolved)
    return values


def container_build_env(
    env: Sequence[EnvRef] | None, resolved: Mapping[str, str]
) -> dict[str, str] | None:
    """Reference ContainerBuildEnv: like the command env, but None without refs and the
    builder's own `WORKFLOW_COMPUTE_BUILD_*` control names are refused."""
    if not env:
        return None
    values: dict[str, str] = {}
    for ref in env:
        if ref.name.startswith(RESERVED_BUILD_ENV_PREFIX):
            raise reserved_build_env_error(ref.name)
        _resolve_into(values, ref, resolved)
    return values


def _resolve_into(values: dict[str, str], ref: EnvRef, resolved: Mapping[str, str]) -> None:
    if ref.name in values:
        raise InvalidInput(f"env {ref.name} is declared more than once")
    key = first_non_empty(ref.value_ref, ref.secret_ref)
    if key not in resolved:
        raise InvalidInput(f"env {ref.name} missing resolved ref")
    values[ref.name] = resolved[key]
