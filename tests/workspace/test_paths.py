"""Safe workspace paths: the reference's checks and texts, and the no-follow open race."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wfcompute_container.errors import InvalidInput
from wfcompute_container.workspace.paths import (
    DIR_LIST_FLAGS,
    FILE_READ_FLAGS,
    locate,
    open_anchor,
    open_located,
    reject_symlink_path_components,
    resolve_inside,
)


def _message(exc: pytest.ExceptionInfo[InvalidInput]) -> str:
    return exc.value.message


class TestResolveInside:
    def test_empty_value_returns_base_unchanged(self) -> None:
        assert resolve_inside("ws/", "") == "ws/"

    def test_joins_and_cleans(self) -> None:
        assert resolve_inside("/ws", "a/./b/../c") == "/ws/a/c"
        assert resolve_inside("/ws", ".") == "/ws"

    def test_absolute_value_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            resolve_inside("/ws", "/etc")
        assert _message(exc) == 'path "/etc" must be relative'

    @pytest.mark.parametrize("value", ["..", "../x", "a/../..", "a/../../ws2"])
    def test_escape_is_refused(self, value: str) -> None:
        with pytest.raises(InvalidInput) as exc:
            resolve_inside("/ws", value)
        assert _message(exc) == f'path "{value}" escapes workspace'

    def test_dot_dot_prefixed_name_is_allowed(self) -> None:
        assert resolve_inside("/ws", "..foo") == "/ws/..foo"

    def test_empty_base_skips_escape_check(self) -> None:
        assert resolve_inside("", "../x") == "../x"

    def test_value_is_quoted_go_style(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            resolve_inside("/ws", "../\tx")
        assert _message(exc) == 'path "../\\tx" escapes workspace'


class TestRejectSymlinkPathComponents:
    def test_missing_root_gives_its_lstat_error(self, tmp_path: Path) -> None:
        root = tmp_path / "nope"
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(root), str(root / "x"))
        assert _message(exc) == f"lstat {root}: no such file or directory"

    def test_symlinked_root(self, tmp_path: Path) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "ws").symlink_to(tmp_path / "real")
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path / "ws") + "/", str(tmp_path / "ws"))
        assert _message(exc) == f'path "{tmp_path}/ws" is a symlink'

    def test_symlinked_component_and_leaf(self, tmp_path: Path) -> None:
        (tmp_path / "outside").mkdir()
        (tmp_path / "ws").mkdir()
        (tmp_path / "ws" / "link").symlink_to(tmp_path / "outside")
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path / "ws"), str(tmp_path / "ws/link/x"))
        assert _message(exc) == f'path "{tmp_path}/ws/link" is a symlink'
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path / "ws"), str(tmp_path / "ws/link"))
        assert _message(exc) == f'path "{tmp_path}/ws/link" is a symlink'

    def test_dangling_symlink_leaf_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "Dockerfile").symlink_to("/nonexistent")
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path), str(tmp_path / "Dockerfile"))
        assert _message(exc) == f'path "{tmp_path}/Dockerfile" is a symlink'

    def test_missing_component_ends_the_check(self, tmp_path: Path) -> None:
        reject_symlink_path_components(str(tmp_path), str(tmp_path / "a/b/c"))

    def test_file_component_gives_not_a_directory(self, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x")
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path), str(tmp_path / "f/x/y"))
        assert _message(exc) == f"lstat {tmp_path}/f/x: not a directory"

    def test_target_outside_root_escapes(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput) as exc:
            reject_symlink_path_components(str(tmp_path / "."), str(tmp_path.parent))
        assert _message(exc) == f'path "{tmp_path.parent}" escapes workspace'

    def test_root_dot_is_not_checked(self) -> None:
        reject_symlink_path_components(".", "anything/below")
        reject_symlink_path_components("", "")

    def test_target_equal_to_root(self, tmp_path: Path) -> None:
        reject_symlink_path_components(str(tmp_path), str(tmp_path) + "/.")


class TestRaceClosed:
    """A component replaced by a symlink between its check and its open is never followed.

    The swap is injected right after the plugin's no-follow stat of the component (the
    check), the exact window a path-based implementation would lose: it would then open the
    path and be carried outside by the new link. Here the open is `openat(parent_fd, name,
    O_NOFOLLOW)` and its inode is compared with the checked one, so the swap is detected.
    """

    def _swap_after_check(
        self, monkeypatch: pytest.MonkeyPatch, name: str, swap: Path, target: Path
    ) -> list[str]:
        real_stat = os.stat
        swapped: list[str] = []

        def stat_then_swap(path: object, *args: object, **kwargs: object) -> os.stat_result:
            result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
            if path == name and kwargs.get("dir_fd") is not None and not swapped:
                swap.rename(swap.with_name(swap.name + ".moved"))
                swap.symlink_to(target)
                swapped.append(name)
            return result

        # os.stat is what the walker's fstatat calls go through (one module-wide object).
        monkeypatch.setattr(os, "stat", stat_then_swap)
        return swapped

    def test_directory_component_swapped_for_symlink(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws, outside = tmp_path / "ws", tmp_path / "outside"
        (ws / "sub").mkdir(parents=True)
        (ws / "sub" / "out.txt").write_text("inside")
        outside.mkdir()
        (outside / "out.txt").write_text("SECRET")
        swapped = self._swap_after_check(monkeypatch, "sub", ws / "sub", outside)
        with (
            pytest.raises(InvalidInput) as exc,
            open_anchor(str(ws)) as anchor,
            locate(anchor, str(ws / "sub" / "out.txt")),
        ):
            pass
        assert swapped == ["sub"]
        assert _message(exc) == f'path "{ws}/sub" is a symlink'

    def test_leaf_swapped_for_symlink_is_not_opened(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "out.txt").write_text("inside")
        secret = tmp_path / "secret.txt"
        secret.write_text("SECRET")
        swapped = self._swap_after_check(monkeypatch, "out.txt", ws / "out.txt", secret)
        with open_anchor(str(ws)) as anchor, locate(anchor, str(ws / "out.txt")) as found:
            assert swapped == ["out.txt"]
            with pytest.raises(InvalidInput) as exc:
                open_located(found, anchor, FILE_READ_FLAGS)
        assert _message(exc) == f'path "{ws}/out.txt" is a symlink'

    def test_leaf_replaced_by_other_file_fails_inode_check(self, tmp_path: Path) -> None:
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "out.txt").write_text("inside")
        with open_anchor(str(ws)) as anchor, locate(anchor, str(ws / "out.txt")) as found:
            # Renamed, not deleted, so the old inode number cannot be reused.
            (ws / "out.txt").rename(tmp_path / "old.txt")
            (ws / "out.txt").write_text("replacement")
            with pytest.raises(InvalidInput) as exc:
                open_located(found, anchor, FILE_READ_FLAGS)
        assert _message(exc) == f'path "{ws}/out.txt" changed while opening'

    def test_opened_directory_survives_ancestor_swap(self, tmp_path: Path) -> None:
        """Once open, a directory is read through its descriptor: replacing the workspace
        path itself with a link to elsewhere does not redirect later lookups."""
        ws, outside = tmp_path / "ws", tmp_path / "outside"
        (ws / "d").mkdir(parents=True)
        (ws / "d" / "f").write_text("inside")
        (outside / "d").mkdir(parents=True)
        (outside / "d" / "f").write_text("SECRET")
        with open_anchor(str(ws)) as anchor:
            ws.rename(tmp_path / "ws.moved")
            ws.symlink_to(outside)
            with locate(anchor, str(ws / "d" / "f")) as found:
                fd = open_located(found, anchor, FILE_READ_FLAGS)
                with os.fdopen(fd, "rb") as stream:
                    assert stream.read() == b"inside"

    def test_directory_open_refuses_fifo_without_blocking(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "p")
        with (
            open_anchor(str(tmp_path)) as anchor,
            locate(anchor, str(tmp_path / "p")) as found,
            pytest.raises(InvalidInput),
        ):
            open_located(found, anchor, DIR_LIST_FLAGS)
