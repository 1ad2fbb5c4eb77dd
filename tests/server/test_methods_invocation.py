"""methods_invocation handlers called directly (the wire is covered by golden transcripts)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from wfcompute_container.server import methods_invocation
from wfcompute_container.server.methods_invocation import METHODS, ArtifactsHashParams
from wfcompute_container.server.registry import RequestContext, ServerSettings


def _ctx(method: str) -> RequestContext:
    return RequestContext(method=method, settings=ServerSettings(), log=logging.getLogger())


def test_declares_the_eight_methods() -> None:
    assert [m.name for m in METHODS] == [
        "env.resolve",
        "invocation.command",
        "invocation.container_build",
        "build.resolve_paths",
        "artifacts.hash",
        "digest.validate",
        "digest.parse_marker",
        "digest.read_file",
    ]


def test_cancelled_artifact_hash_stops_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the request sets the worker's cancel event (and does not wait for it)."""
    started = threading.Event()
    seen: list[threading.Event] = []
    worker_done = threading.Event()

    def blocking_hash(
        workspace: str,
        working_directory: str,
        allowlist: list[str],
        *,
        cancel: threading.Event,
    ) -> str:
        seen.append(cancel)
        started.set()
        cancel.wait(30)  # a safety bound only: the test ends as soon as cancel is set
        worker_done.set()
        return "sha256:" + "0" * 64

    monkeypatch.setattr(methods_invocation, "hash_workspace_artifacts", blocking_hash)
    handler = next(m.handler for m in METHODS if m.name == "artifacts.hash")
    params = ArtifactsHashParams(workspace=str(tmp_path), allowlist=["out.txt"])

    async def scenario() -> None:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await handler(params, _ctx("artifacts.hash"))

            group.start_soon(call)
            await anyio.to_thread.run_sync(started.wait)
            group.cancel_scope.cancel()

    anyio.run(scenario)
    assert seen and seen[0].is_set()
    assert worker_done.wait(30)


@pytest.mark.parametrize(
    ("params_type", "options_type"),
    [
        (methods_invocation.CommandInvocationParams, methods_invocation.CommandInvocationOptions),
        (
            methods_invocation.ContainerBuildInvocationParams,
            methods_invocation.ContainerBuildInvocationOptions,
        ),
    ],
)
def test_invocation_params_carry_exactly_the_builder_options(
    params_type: type[BaseModel], options_type: type[Any]
) -> None:
    # The handlers pass the params' fields to the builders one for one.
    assert set(params_type.model_fields) == {f.name for f in dataclasses.fields(options_type)}
