"""Spawn toy servers for a test and make sure none outlives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.rpc.harness import ToyServer


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ToyServer]]:
    servers: list[ToyServer] = []

    def start(*args: str, **kwargs: object) -> ToyServer:
        server = ToyServer(tmp_path, *args, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.cleanup()
