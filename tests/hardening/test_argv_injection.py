"""No tenant value becomes a container-tool option (docs/SECURITY.md, boundary 1).

The attacks of the sandbox review, as a class: every field that reaches a run's argv, with
values that would act as options or smuggle mount options, through `prepare` (all of
sandbox.plan, command.run, container_build.run), the invocation builders, runtime.probe
over the real server, and end to end on real podman and Docker (the /etc/shadow read).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import plugin_argv
from tests.fixtures.run_backends import RunBackend
from tests.fixtures.runtime_state import container_names, leftover_paths
from wfcompute_container.core.workloads import CommandWorkload
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.image_ref import image_reference_problem
from wfcompute_container.operations.invocations import (
    CommandInvocationOptions,
    build_command_invocation,
)
from wfcompute_container.operations.runs import run_command
from wfcompute_container.operations.sandbox import Runtime, SandboxRunRequest, ToolName, plan

pytest_plugins = ["tests.fixtures.sandbox_images"]

OPTION_IMAGES = [
    "--volume=/etc:/hostetc:ro",
    "--privileged",
    "-v/etc:/x",
    "--runtime=/tmp/evilrt",
    "img --privileged",
    "img\x00--privileged",
    "img\n",
    " img",
    "",
    "IMG",
    "img:",
    "img@sha256:short",
]
VALID_IMAGES = [
    "img",
    "busybox",
    "localhost/wfcompute-test-workload:3d9f2889d6782537",
    "docker.io/library/busybox@sha256:" + "a" * 64,
    "registry.example.com:5000/team/app:v1.2_3",
    "ghcr.io/owner/image:latest@sha256:" + "0" * 64,
    "a__b/c-d.e",
]


def base_request(**fields: Any) -> SandboxRunRequest:
    data: dict[str, Any] = {"image": "img", "command": ["true"], "workspace": "/ws"}
    data.update(fields)
    return SandboxRunRequest.model_validate(data)


@pytest.mark.parametrize("image", VALID_IMAGES)
def test_valid_references_are_accepted(image: str) -> None:
    assert image_reference_problem(image) is None
    argv = plan(Runtime(tool="podman"), base_request(image=image))
    assert argv[argv.index("--") + 1] == image


@pytest.mark.parametrize("tool", ["podman", "docker", "nerdctl"])
@pytest.mark.parametrize("image", OPTION_IMAGES)
def test_an_image_that_is_not_a_reference_is_refused_naming_the_field(
    tool: ToolName, image: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(Runtime(tool=tool), base_request(image=image))
    assert refused.value.message.startswith("image is not a valid OCI image reference")
    if image.strip():
        assert image.strip() not in refused.value.message


def test_the_image_always_follows_end_of_options() -> None:
    for tool in ("podman", "docker", "nerdctl"):
        argv = plan(Runtime(tool=tool), base_request(command=["--privileged"]))
        end = argv.index("--")
        assert argv[end + 1 :] == ["img", "--privileged"]


@pytest.mark.parametrize(
    "runtime_name", ["/tmp/evilrt", "../evilrt", "-x", "--privileged", "a b", "r\x00", "x" * 65]
)
def test_runtime_name_must_be_a_bare_name(runtime_name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(Runtime(tool="podman", runtime_name=runtime_name), base_request())
    assert "runtime_name must be a bare name" in refused.value.message


@pytest.mark.parametrize("runtime_name", ["runc", "crun", "runsc", "io.containerd.runsc.v1"])
def test_bare_runtime_names_pass(runtime_name: str) -> None:
    argv = plan(Runtime(tool="docker", runtime_name=runtime_name), base_request())
    assert argv[argv.index("--runtime") + 1] == runtime_name


@pytest.mark.parametrize(
    ("mount", "named"),
    [
        ({"host_path": "/data", "container_path": "/d:ro,rshared"}, "container path"),
        ({"host_path": "/data", "container_path": "/d,rw"}, "container path"),
        ({"host_path": "/data", "container_path": "/d/./x"}, "container path"),
        ({"host_path": "/data", "container_path": "/d//x"}, "container path"),
        ({"host_path": "/data", "container_path": "/"}, "container path"),
        ({"host_path": "/data", "container_path": "d"}, "container path"),
        ({"host_path": "/", "container_path": "/host"}, "host root"),
        ({"host_path": "/data/../", "container_path": "/host"}, "host root"),
        ({"host_path": "/data:/etc", "container_path": "/d"}, "host path"),
        ({"host_path": "/data,ro", "container_path": "/d"}, "host path"),
        ({"host_path": "/da\x00ta", "container_path": "/d"}, "host_path"),
        ({"host_path": "/data", "container_path": "/d\x00"}, "container_path"),
        ({"host_path": "/data", "container_path": "/d\nx"}, "container path"),
    ],
)
def test_data_mounts_cannot_add_options_or_mount_the_host_root(
    mount: dict[str, str], named: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(Runtime(tool="docker"), base_request(data_mounts=[mount]))
    assert named in refused.value.message


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"workspace": "/ws:/etc"}, "workspace"),
        ({"workspace": "/ws,ro"}, "workspace"),
        ({"workspace": "/w\x00s"}, "workspace"),
        ({"working_dir": "a\x00b"}, "working_dir"),
        ({"command": ["sh", "-c", "echo\x00x"]}, "command[2]"),
        ({"env": {"A\x00B": "v"}}, "env name"),
        ({"extra_tmpfs": ["/t:rw,exec"]}, "tmpfs"),
    ],
)
def test_every_other_argv_field_is_checked(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(Runtime(tool="podman"), base_request(**fields))
    assert named in refused.value.message


def test_invocations_refuse_an_option_as_image() -> None:
    with pytest.raises(InvalidInput, match="image is not a valid OCI image reference"):
        build_command_invocation(
            CommandInvocationOptions(
                task_id="t",
                lease_id="l",
                image="--privileged",
                workspace="/ws",
                workload=CommandWorkload.model_validate({"args": ["true"]}),
            )
        )


def serve(lines: list[dict[str, Any]], tmp_path: Path) -> dict[Any, dict[str, Any]]:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize"}
    init["params"] = {"protocol_version": "compute.v1alpha1"}
    stdin = "".join(json.dumps(line) + "\n" for line in [init, *lines])
    done = subprocess.run(
        plugin_argv(),
        input=stdin.encode(),
        capture_output=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    return {answer["id"]: answer for answer in answers}


def test_the_server_refuses_option_images_everywhere(tmp_path: Path) -> None:
    bad = "--volume=/etc:/hostetc:ro"
    workload = {"args": ["img", "cat", "/hostetc/shadow"]}
    invocation = {
        "task_id": "t",
        "lease_id": "l",
        "image": bad,
        "workspace": str(tmp_path),
        "workload": workload,
    }
    requests = [
        {
            "method": "sandbox.plan",
            "params": {
                "runtime": {"tool": "podman"},
                "request": {
                    "image": bad,
                    "command": ["cat", "/hostetc/shadow"],
                    "workspace": str(tmp_path),
                },
            },
        },
        {"method": "invocation.command", "params": invocation},
        {
            "method": "runtime.probe",
            "params": {"backends": ["podman-rootless"], "conformance_image": "--privileged"},
        },
        {
            "method": "sandbox.plan",
            "params": {
                "runtime": {"tool": "podman", "runtime_name": "/tmp/evilrt"},
                "request": {"image": "img", "command": ["true"], "workspace": str(tmp_path)},
            },
        },
    ]
    nul_run = {
        "invocation": {
            "request": {
                "protocol_version": "compute.v1alpha1",
                "task_id": "t",
                "lease_id": "l",
                "workload_kind": "command",
                "operation": "run-sandboxed-command",
                "input": {"args": ["sh", "-c", "echo\u0000x"]},
            },
            "image": "img\u0000",
            "workspace": str(tmp_path),
            "network": "none",
            "timeout_ms": 1000,
            "timeout_limit_hit": "timeout",
        },
        "runtime": {"tool": "podman"},
    }
    requests.append(
        {
            "method": "sandbox.plan",
            "params": {
                "runtime": {"tool": "docker"},
                "request": {"image": "img", "command": ["a\u0000b"], "workspace": str(tmp_path)},
            },
        }
    )
    requests.append({"method": "command.run", "params": nul_run})
    lines = [{"jsonrpc": "2.0", "id": n, **r} for n, r in enumerate(requests, start=1)]
    answers = serve(lines, tmp_path)
    assert answers[5]["error"]["code"] == -32010
    assert answers[5]["error"]["message"] == "command[0] contains a NUL byte"
    assert answers[6]["error"]["code"] in (-32010, -32011), answers[6]
    assert not [p.name for p in leftover_paths(tmp_path) if p.name.startswith("wfcompute-")]
    fields = {1: "image", 2: "image", 3: "conformance_image", 4: "runtime_name"}
    for msg_id, field in fields.items():
        error = answers[msg_id]["error"]
        assert error["code"] == -32010, answers[msg_id]
        assert error["message"].startswith(field), error
        assert "/etc" not in error["message"]


def test_shadow_read_is_refused_before_any_container_starts(
    backend: RunBackend, tool: ToolName, workload_image: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    good = build_command_invocation(
        CommandInvocationOptions(
            task_id="t",
            lease_id="l",
            image=workload_image,
            workspace=str(workspace),
            workload=CommandWorkload.model_validate(
                {"args": [workload_image, "cat", "/hostetc/shadow"]}
            ),
        )
    )
    before = set(container_names(tool))
    for image in ("--volume=/etc:/hostetc:ro", "--privileged", "-v/etc:/hostetc"):
        attack = good.model_copy(update={"image": image})

        async def attempt(invocation: Any = attack) -> Any:
            return await run_command(invocation, backend.runtime)

        with pytest.raises(InvalidInput, match="image is not a valid OCI image reference"):
            anyio.run(attempt)
    assert set(container_names(tool)) <= before
    assert list(workspace.iterdir()) == []


def test_env_lines_up_to_the_bound_reach_the_container_and_longer_are_refused(
    backend: RunBackend, tool: ToolName, workload_image: str, tmp_path: Path
) -> None:
    from wfcompute_container.operations.sandbox import run as run_sandbox
    from wfcompute_container.operations.sandbox_env_file import MAX_ENV_LINE_BYTES

    workspace = tmp_path / "ws"
    workspace.mkdir()
    value = "v" * (MAX_ENV_LINE_BYTES - len("BIG="))

    async def go(env_value: str) -> Any:
        request = SandboxRunRequest.model_validate(
            {
                "image": workload_image,
                "command": ["sh", "-c", 'echo "${#BIG}"'],
                "workspace": str(workspace),
                "env": {"BIG": env_value},
            }
        )
        return await run_sandbox(backend.runtime, request, timeout=60.0)

    result = anyio.run(go, value)
    assert result.failure is None, result.failure
    assert result.stdout.decode().strip() == str(len(value))
    with pytest.raises(InvalidInput, match='sandbox env "BIG" is too long'):
        anyio.run(go, value + "w")
