"""Invocation builders (as in the Go plugin) and build path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfcompute_container.core.resources import ResourceLimits
from wfcompute_container.core.workloads import CommandWorkload, ContainerBuildWorkload, EnvRef
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.invocations import (
    CommandInvocationOptions,
    ContainerBuildInvocationOptions,
    Invocation,
    build_command_invocation,
    build_container_build_invocation,
    resolve_container_build_paths,
)


def _command(workspace: str = "/ws", **overrides: object) -> CommandInvocationOptions:
    options = CommandInvocationOptions(
        task_id="task-1",
        lease_id="lease-1",
        image="example/image:1",
        workspace=workspace,
        workload=CommandWorkload(
            args=["sh", "-c", "printf ok > out.txt"],
            working_directory="work",
            env=[EnvRef(name="TOKEN", secret_ref="secret:token")],
            artifact_allowlist=["out.txt"],
        ),
        resolved_env={"secret:token": "s3cret"},
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def _build(workspace: str, **overrides: object) -> ContainerBuildInvocationOptions:
    options = ContainerBuildInvocationOptions(
        task_id="task-1",
        lease_id="lease-1",
        image="builder:1",
        workspace=workspace,
        workload=ContainerBuildWorkload(
            context_directory=".", dockerfile="Dockerfile", tags=["example:test"]
        ),
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def _error_of(call: object, *args: object) -> str:
    with pytest.raises(InvalidInput) as exc:
        call(*args)  # type: ignore[operator]
    return exc.value.message


class TestCommandInvocation:
    def test_resolves_env_and_strips_refs_from_input(self) -> None:
        invocation = build_command_invocation(_command())
        assert invocation.to_json() == (
            '{"request":{"protocol_version":"compute.v1alpha1","task_id":"task-1",'
            '"lease_id":"lease-1","workload_kind":"command","operation":"run-sandboxed-command",'
            '"input":{"args":["sh","-c","printf ok \\u003e out.txt"],"working_directory":"work",'
            '"artifact_allowlist":["out.txt"]},"env":{"TOKEN":"s3cret"}},'
            '"image":"example/image:1","workspace":"/ws","network":"none","timeout_ms":60000,'
            '"timeout_limit_hit":"timeout"}'
        )

    def test_round_trips_as_a_wire_model(self) -> None:
        invocation = build_command_invocation(_command())
        again = Invocation.model_validate(invocation.to_wire())
        assert again.to_json() == invocation.to_json()

    def test_options_override_defaults_untrimmed(self) -> None:
        limits = ResourceLimits(memory_bytes=1024)
        invocation = build_command_invocation(
            _command(
                workspace=" /ws ",
                network="bridge",
                timeout_ms=1500,
                timeout_limit_hit="runtime_seconds",
                limits=limits,
            )
        )
        assert invocation.workspace == " /ws "
        assert invocation.network == "bridge"
        assert invocation.timeout_ms == 1500
        assert invocation.timeout_limit_hit == "runtime_seconds"
        assert invocation.request.limits.memory_bytes == 1024

    def test_blank_network_and_limit_hit_default(self) -> None:
        invocation = build_command_invocation(
            _command(network="  ", timeout_ms=0, timeout_limit_hit="\t")
        )
        assert (invocation.network, invocation.timeout_ms, invocation.timeout_limit_hit) == (
            "none",
            60000,
            "timeout",
        )

    def test_no_env_refs_gives_empty_env(self) -> None:
        invocation = build_command_invocation(
            _command(workload=CommandWorkload(args=["true"]), resolved_env={})
        )
        assert invocation.request.env == {}
        assert "env" not in invocation.request.to_wire()

    @pytest.mark.parametrize("workspace", ["", "  \t"])
    def test_workspace_required_first(self, workspace: str) -> None:
        options = _command(workspace=workspace, workload=CommandWorkload(args=[]))
        assert _error_of(build_command_invocation, options) == "workspace is required"

    def test_workload_errors_joined(self) -> None:
        workload = CommandWorkload(
            args=[],
            env=[EnvRef(name="", value_ref="a", secret_ref="b"), EnvRef(name="X")],
        )
        assert _error_of(build_command_invocation, _command(workload=workload)) == (
            "command args are required\n"
            "env[0]: name is required\ncannot set both value_ref and secret_ref\n"
            "env[1]: requires value_ref or secret_ref"
        )

    def test_env_errors(self) -> None:
        workload = CommandWorkload(
            args=["true"],
            env=[EnvRef(name="TOKEN", value_ref="a"), EnvRef(name="TOKEN", value_ref="a")],
        )
        options = _command(workload=workload, resolved_env={"a": "1"})
        assert _error_of(build_command_invocation, options) == (
            "env TOKEN is declared more than once"
        )
        options = _command(resolved_env={})
        assert _error_of(build_command_invocation, options) == "env TOKEN missing resolved ref"

    def test_request_errors_joined(self) -> None:
        options = _command(task_id=" ", lease_id="", limits=ResourceLimits(cpu_percent=-1))
        assert _error_of(build_command_invocation, options) == (
            "task_id is required\nlease_id is required\n"
            "resource_limits: cpu_percent cannot be negative"
        )


class TestContainerBuildInvocation:
    def test_builds_request(self, tmp_path: Path) -> None:
        invocation = build_container_build_invocation(_build(str(tmp_path)))
        assert invocation.to_json() == (
            '{"request":{"protocol_version":"compute.v1alpha1","task_id":"task-1",'
            '"lease_id":"lease-1","workload_kind":"container-build",'
            '"operation":"build-sandboxed-container","input":{"context_directory":".",'
            '"dockerfile":"Dockerfile","tags":["example:test"]}},"image":"builder:1",'
            f'"workspace":"{tmp_path}","network":"none","timeout_ms":3600000,'
            '"timeout_limit_hit":"timeout"}'
        )
        assert invocation.request.env is None

    def test_env_resolved_and_stripped(self, tmp_path: Path) -> None:
        workload = ContainerBuildWorkload(
            context_directory=".",
            tags=["a:1"],
            env=[EnvRef(name="GOPRIVATE", value_ref="config:goprivate")],
        )
        invocation = build_container_build_invocation(
            _build(str(tmp_path), workload=workload, resolved_env={"config:goprivate": "x"})
        )
        assert invocation.request.env == {"GOPRIVATE": "x"}
        assert invocation.request.input is not None
        assert invocation.request.input.value == {"context_directory": ".", "tags": ["a:1"]}

    def test_workload_checked_before_workspace(self) -> None:
        options = _build("", workload=ContainerBuildWorkload())
        assert _error_of(build_container_build_invocation, options) == (
            "context_directory is required\ntags is required"
        )
        assert _error_of(build_container_build_invocation, _build(" ")) == "workspace is required"

    def test_reserved_env(self, tmp_path: Path) -> None:
        workload = ContainerBuildWorkload(
            context_directory=".",
            tags=["a:1"],
            env=[EnvRef(name="WORKFLOW_COMPUTE_BUILD_PUSH", value_ref="v")],
        )
        options = _build(str(tmp_path), workload=workload, resolved_env={"v": "true"})
        assert _error_of(build_container_build_invocation, options) == (
            'reserved workflow-compute build env "WORKFLOW_COMPUTE_BUILD_PUSH"'
        )

    def test_missing_workspace_root(self, tmp_path: Path) -> None:
        options = _build(str(tmp_path / "nope"))
        assert _error_of(build_container_build_invocation, options) == (
            f"lstat {tmp_path}/nope: no such file or directory"
        )


class TestResolveContainerBuildPaths:
    def _workload(self, context: str, dockerfile: str = "") -> ContainerBuildWorkload:
        return ContainerBuildWorkload(
            context_directory=context, dockerfile=dockerfile, tags=["a:1"]
        )

    def test_defaults_and_nonexistent_dockerfile(self, tmp_path: Path) -> None:
        (tmp_path / "app").mkdir()
        assert resolve_container_build_paths(str(tmp_path) + "/", self._workload("app/")) == (
            f"{tmp_path}/app",
            "Dockerfile",
        )
        assert resolve_container_build_paths(
            str(tmp_path), self._workload(".", "docker/./Dockerfile.prod")
        ) == (str(tmp_path), "docker/./Dockerfile.prod")

    def test_missing_context_directory(self, tmp_path: Path) -> None:
        # The Go plugin as written: the Dockerfile check lstats the context directory (its
        # root), so a missing context is reported, although its summary says otherwise.
        assert (
            _error_of(resolve_container_build_paths, str(tmp_path), self._workload("app"))
            == f"lstat {tmp_path}/app: no such file or directory"
        )

    def test_relative_workspace_not_made_absolute(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "ctx").mkdir()
        assert resolve_container_build_paths(".", self._workload("ctx")) == ("ctx", "Dockerfile")

    def test_path_errors(self, tmp_path: Path) -> None:
        ws = str(tmp_path)
        cases = {
            ("/etc", ""): 'path "/etc" must be relative',
            ("../x", ""): 'path "../x" escapes workspace',
            (".", "../Dockerfile"): 'path "../Dockerfile" escapes workspace',
            (".", "/Dockerfile"): 'path "/Dockerfile" must be relative',
        }
        for (context, dockerfile), message in cases.items():
            workload = self._workload(context, dockerfile)
            assert _error_of(resolve_container_build_paths, ws, workload) == message

    def test_symlinked_context_and_dockerfile(self, tmp_path: Path) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        ws = tmp_path / "ws"
        (ws / "ctx").mkdir(parents=True)
        (ws / "context-link").symlink_to(outside)
        (ws / "ctx" / "Dockerfile").symlink_to(outside / "Dockerfile")
        assert (
            _error_of(resolve_container_build_paths, str(ws), self._workload("context-link"))
            == f'path "{ws}/context-link" is a symlink'
        )
        assert (
            _error_of(resolve_container_build_paths, str(ws), self._workload("ctx"))
            == f'path "{ws}/ctx/Dockerfile" is a symlink'
        )

    def test_blank_workspace(self) -> None:
        assert _error_of(resolve_container_build_paths, "", self._workload(".")) == (
            "workspace is required"
        )
