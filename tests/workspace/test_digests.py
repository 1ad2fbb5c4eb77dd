"""Build digests (as in the Go plugin)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wfcompute_container.errors import InvalidInput
from wfcompute_container.workspace.digests import (
    MAX_DIGEST_FILE_BYTES,
    parse_build_digest_marker,
    read_build_digest,
    valid_sha256_digest,
)

GOOD = "sha256:" + "ab" * 32
OTHER = "sha256:" + "01" * 32


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (GOOD, True),
        ("sha256:" + "AB" * 32, False),
        ("sha256:" + "ab" * 31, False),
        (GOOD + "0", False),
        ("sha512:" + "ab" * 32, False),
        ("sha256:" + "g" * 64, False),
        (" " + GOOD, False),
        ("", False),
    ],
)
def test_valid_sha256_digest(value: str, valid: bool) -> None:
    assert valid_sha256_digest(value) is valid


class TestParseMarker:
    def test_last_valid_marker_wins(self) -> None:
        output = (
            f"step 1\nWORKFLOW_COMPUTE_BUILD_DIGEST={OTHER}\n"
            f"  WORKFLOW_COMPUTE_BUILD_DIGEST={GOOD}\r\n"
        )
        assert parse_build_digest_marker(output) == GOOD

    def test_later_invalid_marker_clears(self) -> None:
        output = f"WORKFLOW_COMPUTE_BUILD_DIGEST={GOOD}\nWORKFLOW_COMPUTE_BUILD_DIGEST=sha256:abc\n"
        assert parse_build_digest_marker(output) == ""

    def test_space_after_equals_is_invalid(self) -> None:
        assert parse_build_digest_marker(f"WORKFLOW_COMPUTE_BUILD_DIGEST= {GOOD}") == ""

    def test_marker_after_other_text_is_ignored(self) -> None:
        assert parse_build_digest_marker(f"log: WORKFLOW_COMPUTE_BUILD_DIGEST={GOOD}") == ""

    def test_bytes_with_invalid_utf8(self) -> None:
        output = b"\xff\xfe junk\nWORKFLOW_COMPUTE_BUILD_DIGEST=" + GOOD.encode() + b"\n"
        assert parse_build_digest_marker(output) == GOOD

    def test_no_marker(self) -> None:
        assert parse_build_digest_marker("") == ""


class TestReadFile:
    def test_trimmed_digest(self, tmp_path: Path) -> None:
        (tmp_path / "d").write_text(f"\n  {GOOD}\n")
        assert read_build_digest(str(tmp_path / "d")) == GOOD

    def _error(self, path: Path) -> str:
        with pytest.raises(InvalidInput) as exc:
            read_build_digest(str(path))
        return exc.value.message

    def test_missing(self, tmp_path: Path) -> None:
        assert self._error(tmp_path / "d") == f"lstat {tmp_path}/d: no such file or directory"

    def test_symlink_fifo_and_directory_refused(self, tmp_path: Path) -> None:
        (tmp_path / "real").write_text(GOOD)
        (tmp_path / "link").symlink_to(tmp_path / "real")
        os.mkfifo(tmp_path / "fifo")
        expected = "sandboxed container-build digest path must be regular file"
        assert self._error(tmp_path / "link") == expected
        assert self._error(tmp_path / "fifo") == expected
        assert self._error(tmp_path) == expected

    def test_invalid_content_is_never_quoted(self, tmp_path: Path) -> None:
        path = tmp_path / "d"
        for content in ("SHA256:" + "AB" * 32 + "\n", "sha256:abc\tdef", "TOKEN=CANARY-1x2"):
            path.write_text(content)
            message = self._error(path)
            assert message == (
                f'invalid sandboxed container-build digest in "{path}": not a sha256 digest'
                f" (sha256: and 64 lower-case hex digits; the file holds {len(content)} bytes)"
            )
            assert "ABAB" not in message and "abc" not in message and "CANARY" not in message

    def test_the_plugin_environment_is_not_handed_back(self) -> None:
        message = self._error(Path("/proc/self/environ"))
        assert "PATH=" not in message and "HOME" not in message

    def test_oversized_file_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "d").write_text(GOOD + " " * MAX_DIGEST_FILE_BYTES)
        assert self._error(tmp_path / "d") == (
            f'invalid sandboxed container-build digest in "{tmp_path / "d"}": the file is larger'
            f" than {MAX_DIGEST_FILE_BYTES} bytes"
        )
