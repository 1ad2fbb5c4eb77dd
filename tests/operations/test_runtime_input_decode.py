"""command.run / container_build.run input decoding: Go json.Unmarshal texts and rules, as in the Go
plugin. No container runs: decoding comes before the availability check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from wfcompute_container.core.wire import RawJSON
from wfcompute_container.core.workloads import CommandWorkload, ContainerBuildWorkload
from wfcompute_container.errors import InvalidInput, PluginError, RuntimeUnavailable
from wfcompute_container.operations.invocations import Invocation
from wfcompute_container.operations.runs import decode_workload, run_command, run_container_build
from wfcompute_container.operations.sandbox import Runtime

COMMAND_CONTEXT = "decode sandboxed-command runtime input"
BUILD_CONTEXT = "decode sandboxed-container-build runtime input"
COMMAND_PREFIX = f"{COMMAND_CONTEXT}: "
BUILD_PREFIX = f"{BUILD_CONTEXT}: "


def field_error(kind: str, field: str, go_type: str) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}"


def decode_command(document: Any) -> CommandWorkload:
    return decode_workload(RawJSON(value=document), CommandWorkload, COMMAND_CONTEXT)


def decode_build(document: Any) -> ContainerBuildWorkload:
    return decode_workload(RawJSON(value=document), ContainerBuildWorkload, BUILD_CONTEXT)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({"args": "x"}, field_error("string", "CommandWorkload.args", "[]string")),
        ({"args": [1]}, field_error("number", "CommandWorkload.args", "string")),
        (
            {"args": ["x"], "working_directory": 5},
            field_error("number", "CommandWorkload.working_directory", "string"),
        ),
        # Two bad fields: the first in the document is the one reported.
        (
            {"working_directory": 5, "args": "x"},
            field_error("number", "CommandWorkload.working_directory", "string"),
        ),
        (
            {"args": "x", "working_directory": 5},
            field_error("string", "CommandWorkload.args", "[]string"),
        ),
        ({"args": ["a", True]}, field_error("bool", "CommandWorkload.args", "string")),
        ({"args": {}}, field_error("object", "CommandWorkload.args", "[]string")),
        # Nested struct: the innermost struct's name, then the full JSON path (Go 1.20+).
        (
            {"args": ["x"], "env": [{"name": 5}]},
            field_error("number", "EnvRef.env.name", "string"),
        ),
        (
            {"args": ["x"], "env": [{"name": "A", "secret_ref": ["s"]}]},
            field_error("array", "EnvRef.env.secret_ref", "string"),
        ),
        (
            {"args": ["x"], "env": ["A"]},
            field_error("string", "CommandWorkload.env", "protocol.EnvRef"),
        ),
        (
            {"args": ["x"], "env": {}},
            field_error("object", "CommandWorkload.env", "[]protocol.EnvRef"),
        ),
        (
            {"args": ["x"], "artifact_allowlist": "out"},
            field_error("string", "CommandWorkload.artifact_allowlist", "[]string"),
        ),
        (
            {"args": ["x"], "artifact_refs": [3]},
            field_error("number", "CommandWorkload.artifact_refs", "string"),
        ),
        # A pointer field names the type it points at.
        (
            {"args": ["x"], "confidential_payload": "p"},
            field_error(
                "string", "CommandWorkload.confidential_payload", "protocol.ConfidentialPayloadRef"
            ),
        ),
        (
            {"args": ["x"], "confidential_payload": {"algorithm": 1}},
            field_error(
                "number", "ConfidentialPayloadRef.confidential_payload.algorithm", "string"
            ),
        ),
        # Keys fold case-insensitively; the error names the field's JSON name.
        ({"ARGS": [None, 2]}, field_error("number", "CommandWorkload.args", "string")),
        (["x"], "json: cannot unmarshal array into Go value of type protocol.CommandWorkload"),
        ("x", "json: cannot unmarshal string into Go value of type protocol.CommandWorkload"),
    ],
)
def test_command_input_type_errors(document: Any, error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_command(document)
    assert caught.value.message == COMMAND_PREFIX + error


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            {"context_directory": 5, "tags": ["a"]},
            field_error("number", "ContainerBuildWorkload.context_directory", "string"),
        ),
        (
            {"tags": "a", "context_directory": 5},
            field_error("string", "ContainerBuildWorkload.tags", "[]string"),
        ),
        (
            {"context_directory": ".", "tags": ["a"], "dockerfile": False},
            field_error("bool", "ContainerBuildWorkload.dockerfile", "string"),
        ),
        (
            {"context_directory": ".", "tags": ["a"], "push_target_ref": {}},
            field_error("object", "ContainerBuildWorkload.push_target_ref", "string"),
        ),
        (
            {"context_directory": ".", "tags": ["a"], "env": [{"value_ref": 1}]},
            field_error("number", "EnvRef.env.value_ref", "string"),
        ),
    ],
)
def test_build_input_type_errors(document: Any, error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_build(document)
    assert caught.value.message == BUILD_PREFIX + error


def test_null_leaves_zero_values() -> None:
    workload = decode_command(
        {
            "args": [None, "y"],
            "working_directory": None,
            "env": [None, {"name": None, "value_ref": "v"}],
            "artifact_allowlist": None,
            "confidential_payload": None,
        }
    )
    assert workload.args == ["", "y"]
    assert workload.working_directory == ""
    assert workload.env is not None
    assert [(ref.name, ref.value_ref) for ref in workload.env] == [("", ""), ("", "v")]
    assert workload.artifact_allowlist is None
    assert workload.confidential_payload is None
    build = decode_build({"context_directory": ".", "tags": [None, "t"], "dockerfile": None})
    assert build.tags == ["", "t"]
    assert build.dockerfile == ""


def test_unknown_keys_ignored_and_keys_fold() -> None:
    workload = decode_command({"Args": ["a"], "extra": 5, "WORKING_DIRECTORY": "w", "env": []})
    assert workload.args == ["a"]
    assert workload.working_directory == "w"
    assert workload.env == []
    assert decode_command(None) == CommandWorkload()


def _invocation(kind: str, document: Any, workspace: Path) -> Invocation:
    return Invocation.model_validate(
        {
            "request": {
                "protocol_version": "compute.v1alpha1",
                "task_id": "task-1",
                "lease_id": "lease-1",
                "workload_kind": kind,
                "input": document,
            },
            "image": "localhost/wfcompute-unused:0",
            "workspace": str(workspace),
            "timeout_ms": 60000,
        }
    )


def _run(kind: str, document: Any, workspace: Path) -> PluginError:
    runner = run_command if kind == "command" else run_container_build
    invocation = _invocation(kind, document, workspace)

    async def call() -> None:
        await runner(invocation, Runtime(tool="docker"))

    with pytest.raises(PluginError) as caught:
        anyio.run(call)
    return caught.value


def test_runs_report_go_decode_errors(tmp_path: Path) -> None:
    error = _run("command", {"working_directory": 5, "args": "x"}, tmp_path)
    assert isinstance(error, InvalidInput)
    assert error.message == COMMAND_PREFIX + field_error(
        "number", "CommandWorkload.working_directory", "string"
    )
    error = _run("container-build", {"context_directory": 5, "tags": ["a"]}, tmp_path)
    assert isinstance(error, InvalidInput)
    assert error.message == BUILD_PREFIX + field_error(
        "number", "ContainerBuildWorkload.context_directory", "string"
    )


def test_null_args_element_goes_on_to_the_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty PATH: the run gets past decoding and validation and stops at availability.
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    error = _run("command", {"args": [None, "y"]}, tmp_path)
    assert isinstance(error, RuntimeUnavailable)
    assert error.message == (
        'sandbox runtime unavailable: exec: "docker": executable file not found in $PATH'
    )


def test_case_colliding_keys_are_refused_not_smuggled() -> None:
    """A host that vets input case-sensitively sees "args"; Go would run the later "ARGS"."""
    with pytest.raises(InvalidInput) as caught:
        decode_command({"args": ["echo", "APPROVED"], "ARGS": ["echo", "SMUGGLED"]})
    assert str(caught.value) == (
        f'{COMMAND_PREFIX}keys "args" and "ARGS" both name field CommandWorkload.args '
        "(keys that differ only in case are refused)"
    )
