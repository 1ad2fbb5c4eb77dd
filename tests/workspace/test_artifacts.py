"""Artifact hashing (as in the Go plugin), directory size and the command base dir."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import threading
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import plugin_argv
from wfcompute_container.errors import InvalidInput
from wfcompute_container.goparity.jsonenc import marshal
from wfcompute_container.workspace import artifacts
from wfcompute_container.workspace.artifacts import (
    EMPTY_SHA256,
    HashingCancelled,
    command_artifact_base_dir,
    directory_size,
    hash_artifacts,
    hash_workspace_artifacts,
)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)


def _error(base: Path | str, allowlist: list[str]) -> str:
    with pytest.raises(InvalidInput) as exc:
        hash_artifacts(str(base), allowlist)
    return exc.value.message


class TestWorkedExamples:
    """The reference's four worked digests, reproduced exactly."""

    def test_single_file(self, tmp_path: Path) -> None:
        _write(tmp_path / "out.txt", "artifact")
        expected = "sha256:21684a9d18657e25c54bf747ec00c289c29a19eee00fd2db6e1f3ee5ddb40565"
        assert hash_artifacts(str(tmp_path), ["out.txt"]) == expected
        assert expected == _sha(b"out.txt\x00artifact\x00")

    def test_single_file_under_working_directory(self, tmp_path: Path) -> None:
        _write(tmp_path / "work" / "out.txt", "artifact")
        expected = "sha256:21684a9d18657e25c54bf747ec00c289c29a19eee00fd2db6e1f3ee5ddb40565"
        assert hash_workspace_artifacts(str(tmp_path), "work", ["out.txt"]) == expected

    def test_directory(self, tmp_path: Path) -> None:
        _write(tmp_path / "dist" / "a.txt", "alpha")
        _write(tmp_path / "dist" / "b.txt", "beta")
        expected = "sha256:9348449937c7b7b3d06ccf5f73153978f7cf9f76d84bad8bacb092643fa564a1"
        assert hash_artifacts(str(tmp_path), ["dist"]) == expected

    def test_walk_order_is_per_directory_entry_name(self, tmp_path: Path) -> None:
        _write(tmp_path / "notes.txt", "N")
        _write(tmp_path / "out" / "a" / "x.txt", "2")
        _write(tmp_path / "out" / "a-b.txt", "1")
        expected = "sha256:101c6bae43af2db84581e976f6ba438526d030a26c5fcc055e862285cbb3ae79"
        wrong_full_path_sort = (
            "sha256:459b1620dd4a7d2b03db3590650af9a95deccb5a4fde17ee436921f852d4b6f7"
        )
        digest = hash_artifacts(str(tmp_path), ["out", "notes.txt"])
        assert digest == expected
        assert digest != wrong_full_path_sort

    def test_empty_file(self, tmp_path: Path) -> None:
        _write(tmp_path / "e.txt", "")
        expected = "sha256:03c3f1966019a0df2cbf2399fe39f1cd090f5533e8a81bebe158221245a2507c"
        assert hash_artifacts(str(tmp_path), ["e.txt"]) == expected


class TestAlgorithm:
    def test_duplicates_are_hashed_twice(self, tmp_path: Path) -> None:
        _write(tmp_path / "out.txt", "artifact")
        once = b"out.txt\x00artifact\x00"
        assert hash_artifacts(str(tmp_path), ["out.txt", "out.txt"]) == _sha(once + once)

    def test_dot_slash_hashes_as_plain_name(self, tmp_path: Path) -> None:
        _write(tmp_path / "out.txt", "artifact")
        assert hash_artifacts(str(tmp_path), ["./out.txt"]) == _sha(b"out.txt\x00artifact\x00")

    def test_dot_hashes_the_whole_base(self, tmp_path: Path) -> None:
        _write(tmp_path / "b", "2")
        _write(tmp_path / "a", "1")
        expected = _sha(b"a\x001\x00b\x002\x00")
        assert hash_artifacts(str(tmp_path), ["."]) == expected
        assert hash_artifacts(str(tmp_path), [""]) == expected

    def test_directories_without_files_give_the_empty_digest(self, tmp_path: Path) -> None:
        (tmp_path / "empty" / "nested").mkdir(parents=True)
        assert hash_artifacts(str(tmp_path), ["empty"]) == EMPTY_SHA256

    def test_allowlist_sorted_bytewise(self, tmp_path: Path) -> None:
        _write(tmp_path / "B", "b")
        _write(tmp_path / "a", "a")
        _write(tmp_path / "é", "e")
        expected = _sha(b"B\x00b\x00a\x00a\x00" + "é".encode() + b"\x00e\x00")
        assert hash_artifacts(str(tmp_path), ["é", "a", "B"]) == expected

    def test_non_utf8_names_hash_their_bytes(self, tmp_path: Path) -> None:
        raw = os.fsencode(str(tmp_path)) + b"/d/\xff.bin"
        os.makedirs(os.fsencode(str(tmp_path)) + b"/d")
        with open(raw, "wb") as handle:
            handle.write(b"x")
        assert hash_artifacts(str(tmp_path), ["d"]) == _sha(b"d/\xff.bin\x00x\x00")

    def test_large_file_streams_with_flat_memory(self, tmp_path: Path) -> None:
        big = tmp_path / "big.bin"
        size = 256 * 1024 * 1024
        with open(big, "wb") as handle:  # sparse: reads back as zeros
            handle.truncate(size)
        expected = hashlib.sha256(b"big.bin\x00")
        zeros = bytes(1 << 20)
        for _ in range(size // len(zeros)):
            expected.update(zeros)
        expected.update(b"\x00")
        del zeros
        tracemalloc.start()
        try:
            digest = hash_artifacts(str(tmp_path), ["big.bin"])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert digest == "sha256:" + expected.hexdigest()
        assert peak < 8 * 1024 * 1024, f"peak traced memory {peak} bytes"


class TestErrors:
    def test_base_required(self) -> None:
        assert _error("", ["out.txt"]) == "workspace is required for artifact allowlist"

    def test_absolute_and_escaping_entries(self, tmp_path: Path) -> None:
        assert _error(tmp_path, ["/etc/passwd"]) == 'path "/etc/passwd" must be relative'
        assert _error(tmp_path, ["../x"]) == 'path "../x" escapes workspace'

    def test_entry_errors_come_before_a_missing_base(self, tmp_path: Path) -> None:
        assert _error(tmp_path / "nope", ["../x"]) == 'path "../x" escapes workspace'
        missing = f"lstat {tmp_path}/nope: no such file or directory"
        assert _error(tmp_path / "nope", ["x"]) == missing

    def test_symlinked_base(self, tmp_path: Path) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "ws").symlink_to(tmp_path / "real")
        assert _error(tmp_path / "ws", ["x"]) == f'path "{tmp_path}/ws" is a symlink'

    def test_missing_file(self, tmp_path: Path) -> None:
        assert _error(tmp_path, ["missing.txt"]) == (
            f"stat artifact missing.txt: lstat {tmp_path}/missing.txt: no such file or directory"
        )
        assert _error(tmp_path, ["no/such.txt"]) == (
            f"stat artifact no/such.txt: lstat {tmp_path}/no/such.txt: no such file or directory"
        )

    def test_symlinked_leaf_and_component(self, tmp_path: Path) -> None:
        secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
        secret.write_text("SECRET")
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "leak.txt").symlink_to(secret)
        (ws / "link").symlink_to(tmp_path)
        assert _error(ws, ["leak.txt"]) == f'path "{ws}/leak.txt" is a symlink'
        assert _error(ws, ["link/out.txt"]) == f'path "{ws}/link" is a symlink'

    def test_symlink_inside_directory(self, tmp_path: Path) -> None:
        _write(tmp_path / "dist" / "a.txt", "alpha")
        (tmp_path / "dist" / "sub").mkdir()
        (tmp_path / "dist" / "sub" / "z").symlink_to("/etc/passwd")
        assert _error(tmp_path, ["dist"]) == "artifact dist/sub/z is a symlink"

    def test_non_utf8_names_keep_their_bytes_in_error_texts(self, tmp_path: Path) -> None:
        # The reference's error string holds the raw bytes; the JSON encoder writes each
        # invalid byte as \ufffd. A literal U+FFFD here would be written literally instead.
        base = os.fsencode(str(tmp_path))
        os.makedirs(base + b"/d")
        os.symlink(b"/etc/passwd", base + b"/d/\x80")
        os.makedirs(base + b"/f")
        os.mkfifo(base + b"/f/\xc3(")
        link_message = _error(tmp_path, ["d"])
        assert link_message == "artifact d/\udc80 is a symlink"
        assert marshal(link_message) == '"artifact d/\\ufffd is a symlink"'
        fifo_message = _error(tmp_path, ["f"])
        assert fifo_message == "artifact f/\udcc3( is not a regular file"
        assert marshal(fifo_message) == '"artifact f/\\ufffd( is not a regular file"'

    def test_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "p")
        assert _error(tmp_path, ["p"]) == "artifact p is not a regular file"
        (tmp_path / "d").mkdir()
        os.mkfifo(tmp_path / "d" / "q")
        assert _error(tmp_path, ["d"]) == "artifact d/q is not a regular file"

    def test_socket_is_refused(self, tmp_path: Path) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(str(tmp_path / "s"))
            assert _error(tmp_path, ["s"]) == "artifact s is not a regular file"
        finally:
            server.close()

    def test_file_used_as_directory(self, tmp_path: Path) -> None:
        _write(tmp_path / "out.txt", "x")
        assert _error(tmp_path, ["out.txt/x"]) == f"lstat {tmp_path}/out.txt/x: not a directory"

    def test_unopenable_directory(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # EACCES injected at the open (the tests may run as root, who is never refused).
        (tmp_path / "d" / "locked").mkdir(parents=True)
        real_open = os.open

        def refuse_locked(path: object, *args: object, **kwargs: object) -> int:
            if path == "locked":
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", refuse_locked)
        assert _error(tmp_path, ["d"]) == f"open {tmp_path}/d/locked: permission denied"


class TestRaceClosed:
    """A file checked as regular and then swapped for a link (or a FIFO) before it is
    opened: the open is no-follow and non-blocking and its inode is compared, so the
    hasher neither reads outside the workspace nor hangs."""

    def _swap_after_check(
        self, monkeypatch: pytest.MonkeyPatch, name: str, swap: Path, replace: str, target: Path
    ) -> None:
        real_stat = os.stat
        done: list[bool] = []

        def stat_then_swap(path: object, *args: object, **kwargs: object) -> os.stat_result:
            result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
            if path == name and kwargs.get("dir_fd") is not None and not done:
                swap.rename(swap.with_name(swap.name + ".moved"))
                if replace == "symlink":
                    swap.symlink_to(target)
                else:
                    os.mkfifo(swap)
                done.append(True)
            return result

        monkeypatch.setattr(os, "stat", stat_then_swap)

    @pytest.mark.parametrize("replace", ["symlink", "fifo"])
    def test_leaf_swap(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replace: str) -> None:
        ws = tmp_path / "ws"
        _write(ws / "out.txt", "artifact")
        secret = tmp_path / "secret"
        _write(secret, "SECRET")
        self._swap_after_check(monkeypatch, "out.txt", ws / "out.txt", replace, secret)
        assert _error(ws, ["out.txt"]) == "artifact out.txt changed while opening"

    def test_file_inside_directory_swap(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws = tmp_path / "ws"
        _write(ws / "dist" / "a.txt", "alpha")
        secret = tmp_path / "secret"
        _write(secret, "SECRET")
        self._swap_after_check(monkeypatch, "a.txt", ws / "dist" / "a.txt", "symlink", secret)
        assert _error(ws, ["dist"]) == "artifact dist/a.txt changed while opening"

    def test_subdirectory_swap(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        ws = tmp_path / "ws"
        _write(ws / "dist" / "sub" / "a.txt", "alpha")
        outside = tmp_path / "outside"
        _write(outside / "a.txt", "SECRET")
        self._swap_after_check(monkeypatch, "sub", ws / "dist" / "sub", "symlink", outside)
        assert _error(ws, ["dist"]) == "artifact dist/sub changed while opening"

    def test_working_directory_swap(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The base (workspace/work) is reached from the workspace root by descriptors, so
        swapping `work` after commandArtifactBaseDir checked it is refused."""
        ws = tmp_path / "ws"
        _write(ws / "work" / "out.txt", "artifact")
        outside = tmp_path / "outside"
        _write(outside / "out.txt", "SECRET")
        real_base_dir = artifacts.command_artifact_base_dir

        def check_then_swap(workspace: str, working_directory: str) -> str:
            base = real_base_dir(workspace, working_directory)
            (ws / "work").rename(ws / "work.moved")
            (ws / "work").symlink_to(outside)
            return base

        monkeypatch.setattr(artifacts, "command_artifact_base_dir", check_then_swap)
        with pytest.raises(InvalidInput) as exc:
            hash_workspace_artifacts(str(ws), "work", ["out.txt"])
        assert exc.value.message == f'path "{ws}/work" is a symlink'


class TestCommandArtifactBaseDir:
    def test_working_directory_resolution(self, tmp_path: Path) -> None:
        assert command_artifact_base_dir(str(tmp_path), "") == str(tmp_path)
        assert command_artifact_base_dir(str(tmp_path), "work/") == f"{tmp_path}/work"

    def test_workspace_must_exist_and_not_be_a_link(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput) as exc:
            command_artifact_base_dir(str(tmp_path / "nope"), "")
        assert exc.value.message == f"lstat {tmp_path}/nope: no such file or directory"
        (tmp_path / "link").symlink_to(tmp_path)
        with pytest.raises(InvalidInput) as exc:
            command_artifact_base_dir(str(tmp_path / "link"), "")
        assert exc.value.message == f'path "{tmp_path}/link" is a symlink'

    def test_escaping_and_symlinked_working_directory(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput) as exc:
            command_artifact_base_dir(str(tmp_path), "../up")
        assert exc.value.message == 'path "../up" escapes workspace'
        (tmp_path / "w").symlink_to("/tmp")
        with pytest.raises(InvalidInput) as exc:
            command_artifact_base_dir(str(tmp_path), "w")
        assert exc.value.message == f'path "{tmp_path}/w" is a symlink'

    def test_missing_working_directory_fails_when_hashing(self, tmp_path: Path) -> None:
        assert command_artifact_base_dir(str(tmp_path), "work") == f"{tmp_path}/work"
        with pytest.raises(InvalidInput) as exc:
            hash_workspace_artifacts(str(tmp_path), "work", ["out.txt"])
        assert exc.value.message == f"lstat {tmp_path}/work: no such file or directory"


class TestDirectorySize:
    def test_sums_non_directories_without_following_links(self, tmp_path: Path) -> None:
        _write(tmp_path / "a", "12345")
        _write(tmp_path / "d" / "b", "123")
        (tmp_path / "d" / "link").symlink_to("a-target")  # link text: 8 bytes
        (tmp_path / "outside-link").symlink_to("/usr")
        assert directory_size(str(tmp_path)) == 5 + 3 + 8 + len("/usr")

    def test_missing_root_is_zero_and_file_root_counts(self, tmp_path: Path) -> None:
        assert directory_size(str(tmp_path / "nope")) == 0
        _write(tmp_path / "f", "abc")
        assert directory_size(str(tmp_path / "f")) == 3


class TestCancel:
    def test_set_event_stops_hashing_and_closes_descriptors(self, tmp_path: Path) -> None:
        _write(tmp_path / "dist" / "a.txt", "alpha")
        cancel = threading.Event()
        cancel.set()
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(HashingCancelled):
            hash_artifacts(str(tmp_path), ["dist"], cancel=cancel)
        with pytest.raises(HashingCancelled):
            hash_workspace_artifacts(str(tmp_path), "", ["dist/a.txt"], cancel=cancel)
        assert len(os.listdir("/proc/self/fd")) == before

    def test_unset_event_changes_nothing(self, tmp_path: Path) -> None:
        _write(tmp_path / "out.txt", "artifact")
        digest = hash_artifacts(str(tmp_path), ["out.txt"], cancel=threading.Event())
        assert digest == _sha(b"out.txt\x00artifact\x00")


def test_non_utf8_name_in_error_is_sent_as_go_escape(tmp_path: Path) -> None:
    """Over the wire: the message carries the six characters \\ufffd, as Go's encoder sends."""
    base = os.fsencode(str(tmp_path))
    os.makedirs(base + b"/ws/d")
    os.symlink(b"/etc/passwd", base + b"/ws/d/\x80")
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocol_version": "compute.v1alpha1"},
        },
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "artifacts.hash",
            "params": {"workspace": str(tmp_path / "ws"), "allowlist": ["d"]},
        },
    ]
    done = subprocess.run(
        plugin_argv(),
        input=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        capture_output=True,
        timeout=60,
        check=False,
    )
    answer = done.stdout.splitlines()[-1]
    assert answer == (
        b'{"jsonrpc":"2.0","id":1,"error":{"code":-32010,'
        b'"message":"artifact d/\\ufffd is a symlink","data":{"kind":"invalid_input"}}}'
    ), done.stderr


def test_directory_size_of_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    from tests.fixtures.deep_trees import make_deep_chain, remove_deep_chain
    from wfcompute_container.workspace.artifacts import directory_size

    workspace = tmp_path / "ws"
    workspace.mkdir()
    fd = make_deep_chain(workspace, 3000)
    try:
        leaf = os.open("f", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.write(leaf, b"12345")
        os.close(leaf)
    finally:
        os.close(fd)
    try:
        assert directory_size(str(workspace)) == 5
    finally:
        remove_deep_chain(workspace)
