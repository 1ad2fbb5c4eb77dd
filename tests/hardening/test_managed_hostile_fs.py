"""Managed bundles against a hostile filesystem: swapped roots and parents, FIFOs, devices,
cancels mid-extraction. Each case is an attack that broke the path-based installer."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.hardening.plugin_process import PluginProcess
from tests.operations.managed_fixtures import (
    BUNDLE_ID,
    DEFAULT_ENTRIES,
    NOW,
    BundleObjects,
    SigningKey,
    bundle_objects,
    catalog_document,
    catalog_from,
    file,
    signed_objects,
    signing_key,
    zeros,
)
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.managed import (
    BundleRequest,
    ManagedRuntimeBundleInstaller,
)
from wfcompute_container.operations.managed import installer as installer_module
from wfcompute_container.operations.managed.layout import MANIFEST_NAME
from wfcompute_container.operations.managed.sources import ObjectRequest

REQUEST = BundleRequest(bundle_id=BUNDLE_ID, target_os="linux", target_arch="amd64")
BASE = "http://objects.invalid"


@pytest.fixture(scope="module")
def key() -> Iterator[SigningKey]:
    with signing_key("Hostile FS <hostile@example.com>") as generated:
        yield generated


@pytest.fixture(scope="module")
def objects(key: SigningKey) -> BundleObjects:
    return bundle_objects(key)


class MemorySource:
    """Serves the bundle's objects from memory; `on_fetch` runs before each answer."""

    def __init__(self, objects: BundleObjects, on_fetch: Any = None) -> None:
        self.served = {BASE + path: data for path, data in objects.served().items()}
        self.on_fetch = on_fetch

    async def fetch(self, request: ObjectRequest) -> bytes:
        if self.on_fetch is not None:
            await self.on_fetch(request)
        return self.served[request.url]


def installer(root: Path, objects: BundleObjects, **source: Any) -> ManagedRuntimeBundleInstaller:
    document = json.loads(json.dumps(catalog_document(objects, "{{URL}}")).replace("{{URL}}", BASE))
    return ManagedRuntimeBundleInstaller(
        catalog_from(document), str(root), source=MemorySource(objects, **source), now=lambda: NOW
    )


def plant_victim(victim: Path) -> Path:
    """An unmanaged directory shaped like a bundle root, holding something precious."""
    precious = victim / BUNDLE_ID / "data" / "precious"
    precious.parent.mkdir(parents=True)
    precious.write_text("keep me\n")
    return precious


# --- item 4: paths swapped while an operation runs -----------------------------------------------


def test_install_root_swapped_for_a_symlink_during_the_download(
    tmp_path: Path, objects: BundleObjects
) -> None:
    root = tmp_path / "root"
    moved = tmp_path / "root.moved"
    victim = tmp_path / "victim"
    precious = plant_victim(victim)
    swapped = False

    async def swap(request: ObjectRequest) -> None:
        nonlocal swapped
        if request.kind == "artifact" and not swapped:
            swapped = True
            root.rename(moved)
            root.symlink_to(victim)

    result = anyio.run(installer(root, objects, on_fetch=swap).install, REQUEST)
    assert swapped
    # Everything went into the directory that was opened: the one now named root.moved.
    assert (moved / BUNDLE_ID / MANIFEST_NAME).is_file()
    assert (moved / BUNDLE_ID / "bin" / "nerdctl").is_file()
    assert result.root == str(root / BUNDLE_ID)
    # Nothing reached the victim through the symlink.
    assert precious.read_text() == "keep me\n"
    assert sorted(p.name for p in victim.rglob("*")) == ["data", BUNDLE_ID, "precious"]
    assert list((moved / ".locks").iterdir()) == []


def test_unmanaged_directory_appearing_during_the_download_is_never_replaced(
    tmp_path: Path, objects: BundleObjects
) -> None:
    root = tmp_path / "root"

    async def plant(request: ObjectRequest) -> None:
        if request.kind == "artifact" and not (root / BUNDLE_ID).exists():
            plant_victim(root)

    with pytest.raises(InvalidInput) as caught:
        anyio.run(installer(root, objects, on_fetch=plant).install, REQUEST)
    assert "manifest is required before replacement" in str(caught.value)
    assert (root / BUNDLE_ID / "data" / "precious").read_text() == "keep me\n"
    assert not (root / BUNDLE_ID / MANIFEST_NAME).exists()
    assert list((root / ".staging").iterdir()) == []


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), ctypes.c_uint(_RENAME_EXCHANGE)):
        raise OSError(ctypes.get_errno(), "renameat2")


def test_uninstall_while_a_parent_is_exchanged_with_a_symlink_never_removes_the_victim(
    tmp_path: Path, objects: BundleObjects
) -> None:
    parent = tmp_path / "parent"
    root = parent / "root"
    anyio.run(installer(root, objects).install, REQUEST)
    pristine = tmp_path / "pristine"
    shutil.copytree(root / BUNDLE_ID, pristine, symlinks=True)
    # The victim is a copy of the bundle, manifest and all: a path-based uninstall that
    # followed the swapped parent would check that manifest, find it right, and delete it.
    victim_parent = tmp_path / "victim-parent"
    shutil.copytree(root / BUNDLE_ID, victim_parent / "root" / BUNDLE_ID, symlinks=True)
    (victim_parent / "root" / BUNDLE_ID / "precious").write_text("keep me\n")
    link = tmp_path / "link"
    link.symlink_to(victim_parent)

    running = threading.Event()
    paused = threading.Event()
    done = threading.Event()
    exchanges = 0

    def exchanger() -> None:
        nonlocal exchanges
        swapped = False
        while not done.is_set():
            if not running.is_set():
                if swapped:
                    exchange(parent, link)
                    swapped = False
                paused.set()
                running.wait(0.05)
                continue
            paused.clear()
            exchange(parent, link)
            swapped = not swapped
            exchanges += 1

    thread = threading.Thread(target=exchanger, daemon=True)
    thread.start()
    removed = refused = 0
    try:
        for _ in range(150):
            running.clear()
            assert paused.wait(5)
            assert not parent.is_symlink()
            if not (root / BUNDLE_ID).exists():
                shutil.copytree(pristine, root / BUNDLE_ID, symlinks=True)
            running.set()
            try:
                result = anyio.run(
                    installer(root, objects).uninstall, BundleRequest(bundle_id=BUNDLE_ID)
                )
                removed += result.removed
            except InvalidInput:
                refused += 1
            assert (victim_parent / "root" / BUNDLE_ID / "precious").read_text() == "keep me\n"
    finally:
        done.set()
        running.set()
        thread.join(5)
    if link.is_dir() and not link.is_symlink():  # left exchanged: put things back
        exchange(parent, link)
    assert exchanges > 150
    assert removed > 0, (removed, refused)
    assert sorted(p.name for p in (victim_parent / "root" / BUNDLE_ID).iterdir()) == sorted(
        [*(p.name for p in pristine.iterdir()), "precious"]
    )


# --- item 5: cancel during extraction ------------------------------------------------------------


class SlowReader:
    """The artifact stream, a little slower per read, so that a cancel lands mid-extraction."""

    def __init__(self, inner: Any, started: threading.Event) -> None:
        self.inner = inner
        self.started = started

    def read(self, size: int = -1) -> bytes:
        self.started.set()
        time.sleep(0.01)
        data: bytes = self.inner.read(min(size, 64 * 1024) if size > 0 else 64 * 1024)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_cancel_mid_extraction_stops_it_removes_the_stage_and_releases_the_lock(
    tmp_path: Path, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = bundle_objects(key, [*DEFAULT_ENTRIES, file("share/big", os.urandom(16 * 1024 * 1024))])
    started = threading.Event()
    real = installer_module.extract_tar_gz
    finished: list[bool] = []

    def slow_extract(archive: Any, stage_fd: int, limits: Any = None) -> None:
        try:
            real(SlowReader(archive, started), stage_fd, limits)
            finished.append(True)
        except BaseException:
            finished.append(False)
            raise

    monkeypatch.setattr(installer_module, "extract_tar_gz", slow_extract)
    root = tmp_path / "root"

    async def install_then_cancel() -> bool:
        async with anyio.create_task_group() as group:
            group.start_soon(installer(root, big).install, REQUEST)
            await anyio.to_thread.run_sync(started.wait, 30)
            await anyio.sleep(0.2)
            group.cancel_scope.cancel()
        return group.cancel_scope.cancelled_caught

    assert anyio.run(install_then_cancel)
    assert finished == [False]  # stopped, not run to the end
    assert not (root / BUNDLE_ID).exists()
    assert list((root / ".staging").iterdir()) == []
    assert list((root / ".locks").iterdir()) == []
    # Nothing stale blocks the next install.
    monkeypatch.setattr(installer_module, "extract_tar_gz", real)
    assert anyio.run(installer(root, big).install, REQUEST).bundle_id == BUNDLE_ID


def test_a_killed_operations_stage_is_cleared_by_the_next_one(
    tmp_path: Path, objects: BundleObjects
) -> None:
    root = tmp_path / "root"
    stale = root / ".staging" / BUNDLE_ID / "new-deadbeefdeadbeef"
    (stale / "bin").mkdir(parents=True)
    (stale / "bin" / "nerdctl").write_bytes(b"x" * 1024)
    (root / ".locks").mkdir()
    (root / ".locks" / f"{BUNDLE_ID}.lock").write_text('{"pid": 999999, "start": 1}\n')
    anyio.run(installer(root, objects).install, REQUEST)
    assert not stale.exists()
    assert list((root / ".staging").iterdir()) == []
    assert list((root / ".locks").iterdir()) == []


# --- item 3: blocking reads through the real server ----------------------------------------------


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[PluginProcess]:
    started = PluginProcess(env={"TMPDIR": str(tmp_path)})
    started.initialize()
    yield started
    started.kill()


def ping_answered(plugin: PluginProcess, msg_id: int) -> None:
    plugin.request(msg_id, "plugin.manifest")
    assert "result" in plugin.wait_answer(msg_id, timeout=10)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "symlink", "directory"])
def test_catalog_that_is_not_a_regular_file_is_refused_and_the_server_keeps_serving(
    plugin: PluginProcess, tmp_path: Path, kind: str
) -> None:
    catalog = tmp_path / "catalog"
    if kind == "fifo":
        os.mkfifo(catalog)
    elif kind == "dev-zero":
        catalog = Path("/dev/zero")
    elif kind == "symlink":
        catalog.symlink_to("/dev/zero")
    else:
        catalog.mkdir()
    params = {"catalog": str(catalog), "install_root": str(tmp_path / "r"), "bundle_id": "b"}
    for msg_id, method in enumerate(("managed_runtime.doctor", "managed_runtime.install"), 1):
        plugin.request(msg_id, method, params)
        answer = plugin.wait_answer(msg_id, timeout=10)
        assert answer["error"]["code"] == -32010, answer
        assert answer["error"]["message"] in (
            f"read managed runtime catalog: open {catalog}: not a regular file",
            f"read managed runtime catalog: open {catalog}: too many levels of symbolic links",
            f"read managed runtime catalog: read {catalog}: is a directory",
        ), answer
    ping_answered(plugin, 9)
    assert not (tmp_path / "r").exists()


def test_uninstall_whose_manifest_is_a_fifo_is_refused_and_nothing_is_removed(
    plugin: PluginProcess, tmp_path: Path
) -> None:
    bundle_root = tmp_path / "root" / BUNDLE_ID
    bundle_root.mkdir(parents=True)
    (bundle_root / "data").write_text("keep\n")
    os.mkfifo(bundle_root / MANIFEST_NAME)
    params = {"install_root": str(tmp_path / "root"), "bundle_id": BUNDLE_ID}
    plugin.request(1, "managed_runtime.uninstall", params)
    answer = plugin.wait_answer(1, timeout=10)
    assert answer["error"] == {
        "code": -32010,
        "message": "managed runtime install manifest is required before uninstall: "
        f"open {bundle_root / MANIFEST_NAME}: not a regular file",
        "data": {"kind": "invalid_input"},
    }
    ping_answered(plugin, 2)
    assert (bundle_root / "data").read_text() == "keep\n"


# --- item 5: SIGTERM during an install, through the real server ----------------------------------


def zero_bomb_objects(key: SigningKey, size: int) -> BundleObjects:
    """A signed bundle whose archive holds `size` zero bytes: ~1000:1, a few MB on the wire."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        nerdctl = tarfile.TarInfo("bin/nerdctl")
        data = b"#!/bin/sh\n"
        nerdctl.size = len(data)
        nerdctl.mode = 0o755
        archive.addfile(nerdctl, io.BytesIO(data))
        big = tarfile.TarInfo("share/zeros")
        big.size = size
        archive.addfile(big, zeros(size))
    return signed_objects(key, buffer.getvalue())


def test_sigterm_mid_extraction_exits_promptly_and_leaves_no_stage_or_lock(
    tmp_path: Path, key: SigningKey
) -> None:
    from tests.operations.managed_fixtures import serve_objects

    bomb = zero_bomb_objects(key, 1536 * 1024 * 1024)
    root = tmp_path / "root"
    with serve_objects(bomb.served()) as server:
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(catalog_document(bomb, server.url)))
        plugin = PluginProcess(env={"TMPDIR": str(tmp_path)})
        try:
            plugin.initialize()
            plugin.request(
                1,
                "managed_runtime.install",
                {
                    "catalog": str(catalog),
                    "install_root": str(root),
                    "bundle_id": BUNDLE_ID,
                    "target_os": "linux",
                    "target_arch": "amd64",
                },
            )
            staging = root / ".staging" / BUNDLE_ID

            def extracting() -> bool:
                return any(
                    p.stat().st_size > 16 * 1024 * 1024 for p in staging.glob("new-*/share/zeros")
                )

            plugin.wait_until(extracting, 60, "extraction under way")
            plugin.proc.terminate()
            status = plugin.finish(timeout=20)
        finally:
            plugin.kill()
    assert status == 0, plugin.tail()
    assert not (root / BUNDLE_ID).exists()
    assert list((root / ".staging").iterdir()) == []
    assert list((root / ".locks").iterdir()) == []
    answer = plugin.by_id.get("1")
    assert answer is not None and answer["error"]["code"] == -32800, answer
