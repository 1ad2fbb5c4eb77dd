"""In-container paths (as in the Go plugin)."""

from __future__ import annotations

import pytest

from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.container_paths import clean_container_path, sandbox_working_dir


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "."),
        (".", "."),
        ("a/b/", "a/b"),
        ("/abs", "abs"),
        ("../x", "../x"),
        ("/", ""),
        ("a//b/./c", "a/b/c"),
        ("//x", "x"),
    ],
)
def test_clean_container_path(value: str, expected: str) -> None:
    assert clean_container_path(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "/workspace"),
        (" . ", "/workspace"),
        ("a/..", "/workspace"),
        ("work", "/workspace/work"),
        (" work/sub/ ", "/workspace/work/sub"),
        ("..foo", "/workspace/..foo"),
    ],
)
def test_sandbox_working_dir(value: str, expected: str) -> None:
    assert sandbox_working_dir(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/abs", "working_dir is invalid"),
        ("a\nb", "working_dir is invalid"),
        ("a\x00", "working_dir is invalid"),
        ("a\rb", "working_dir is invalid"),
        ("../outside", "working_dir escapes workspace"),
        ("a/../..", "working_dir escapes workspace"),
    ],
)
def test_sandbox_working_dir_errors(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        sandbox_working_dir(value)
    assert exc.value.message == message
