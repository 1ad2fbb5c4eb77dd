"""The walk stack holds a bounded number of descriptors and notices a renamed ancestor.

The walks over deep workspaces run here under a 256-descriptor limit: before the stack, one
descriptor per level made them stop short (a setuid bit survived at the bottom).
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.deep_trees import make_deep_chain, remove_deep_chain
from wfcompute_container.operations.sandbox_workspace_modes import (
    relax_workspace_modes,
    strip_setid_bits,
)
from wfcompute_container.workspace.artifacts import directory_size
from wfcompute_container.workspace.dir_stack import MAX_OPEN, DirectoryMoved, DirStack

FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def few_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_descriptors_stay_bounded_and_levels_come_back(tmp_path: Path) -> None:
    depth = 4 * MAX_OPEN
    os.close(make_deep_chain(tmp_path, depth))
    before = open_fds()
    stack: DirStack[int] = DirStack(FLAGS)
    stack.push(os.open(tmp_path, FLAGS), 0)
    try:
        for level in range(1, depth + 1):
            fd, _ = stack.top()
            stack.push(os.open("d", FLAGS, dir_fd=fd), level)
            assert open_fds() - before <= MAX_OPEN
        seen = []
        while len(stack) > 1:
            stack.pop()
            fd, level = stack.top()
            seen.append(level)
            # The reopened level is the very directory of that depth.
            expected = tmp_path.joinpath(*(["d"] * level))
            assert os.path.samestat(os.fstat(fd), os.stat(expected))
        assert seen == list(range(depth - 1, -1, -1))
    finally:
        stack.close()
        remove_deep_chain(tmp_path)
    assert open_fds() == before


def test_a_renamed_closed_level_stops_the_walk(tmp_path: Path) -> None:
    depth = MAX_OPEN + 10
    os.close(make_deep_chain(tmp_path, depth))
    stack: DirStack[int] = DirStack(FLAGS)
    stack.push(os.open(tmp_path, FLAGS), 0)
    try:
        for level in range(1, depth + 1):
            fd, _ = stack.top()
            stack.push(os.open("d", FLAGS, dir_fd=fd), level)
        # Level 1 (closed by now) is swapped for another directory of the same name.
        (tmp_path / "d").rename(tmp_path / "moved")
        (tmp_path / "d").mkdir()
        os.rename(tmp_path / "moved" / "d", tmp_path / "d" / "d")
        with pytest.raises(DirectoryMoved):
            while len(stack) > 1:
                stack.pop()
    finally:
        stack.close()


def test_deep_walks_finish_under_a_low_descriptor_limit(
    tmp_path: Path, few_descriptors: None
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    fd = make_deep_chain(workspace, 2000, mode=0o700)
    try:
        leaf = os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd)
        os.write(leaf, b"12345")
        os.fchmod(leaf, 0o4700)
        os.close(leaf)
        assert directory_size(str(workspace)) == 5
        restore = relax_workspace_modes(str(workspace))
        assert stat.S_IMODE(os.stat("f", dir_fd=fd).st_mode) == 0o755
        restore()
        assert stat.S_IMODE(os.stat("f", dir_fd=fd).st_mode) == 0o4700
        assert strip_setid_bits(str(workspace)) == 1
        assert stat.S_IMODE(os.stat("f", dir_fd=fd).st_mode) == 0o700
    finally:
        os.close(fd)
        remove_deep_chain(workspace)
