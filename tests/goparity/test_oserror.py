"""read_file: Go os.ReadFile's error texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfcompute_container.goparity.oserror import GoPathError, is_not_exist, read_file


def test_reads_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\xffdata")
    assert read_file(str(path)) == b"\xffdata"


@pytest.mark.parametrize(
    ("name", "text", "missing"),
    [
        ("missing", "open {p}: no such file or directory", True),
        ("", "read {p}: is a directory", False),  # Go opens a directory; the read fails
        ("a\x00b", "open {p}: invalid argument", False),
    ],
)
def test_errors_have_go_s_text(tmp_path: Path, name: str, text: str, missing: bool) -> None:
    path = str(tmp_path / name) if name else str(tmp_path)
    with pytest.raises(GoPathError) as info:
        read_file(path)
    assert str(info.value) == text.format(p=path)
    assert is_not_exist(info.value) is missing
