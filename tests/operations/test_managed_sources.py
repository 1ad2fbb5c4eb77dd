"""Fetching bundle objects: HTTP status and size cap, local files, no network."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import anyio
import pytest

from tests.operations.managed_fixtures import serve_objects, snapshot
from wfcompute_container.errors import RuntimeFailure
from wfcompute_container.operations.managed import (
    BundleRequest,
    ManagedRuntimeBundleInstaller,
    default_catalog_path,
    load_catalog,
)
from wfcompute_container.operations.managed.sources import (
    HTTP_TOTAL_TIMEOUT_SECONDS,
    MAX_OBJECT_BYTES,
    DefaultObjectSource,
    ObjectFetchError,
    ObjectRequest,
)


def fetch(source: DefaultObjectSource, url: str, name: str = "obj") -> bytes:
    return anyio.run(source.fetch, ObjectRequest("b", "artifact", name, url))


def fetch_error(source: DefaultObjectSource, url: str, name: str = "obj") -> str:
    with pytest.raises(ObjectFetchError) as caught:
        fetch(source, url, name)
    return str(caught.value)


def test_limits_match_the_reference() -> None:
    assert MAX_OBJECT_BYTES == 512 * 1024 * 1024
    assert HTTP_TOTAL_TIMEOUT_SECONDS == 15 * 60


def test_http_fetch_and_size_cap() -> None:
    source = DefaultObjectSource(max_bytes=1024)
    with serve_objects({"/ok": b"a" * 1024, "/big": b"b" * 1025}) as server:
        assert fetch(source, f"{server.url}/ok") == b"a" * 1024
        assert fetch_error(source, f"{server.url}/big", "big.tar.gz") == (
            'managed runtime object "big.tar.gz" is too large'
        )
        assert fetch_error(source, f"{server.url}/none", "x") == (
            'fetch managed runtime object "x": 404 Not Found'
        )


def test_local_files(tmp_path: Path) -> None:
    obj = tmp_path / "obj.bin"
    obj.write_bytes(b"local")
    source = DefaultObjectSource(max_bytes=5, mirror_dir=str(tmp_path))
    assert fetch(source, str(obj)) == b"local"
    assert fetch(source, obj.as_uri()) == b"local"
    obj.write_bytes(b"local!")
    assert (
        fetch_error(source, str(obj), "obj.bin") == 'managed runtime object "obj.bin" is too large'
    )
    missing = tmp_path / "missing"
    assert fetch_error(source, str(missing)) == f"open {missing}: no such file or directory"
    assert "must not name a host" in fetch_error(source, "file://example.com/x")


def test_local_sources_need_a_configured_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WFCOMPUTE_MANAGED_MIRROR", raising=False)
    for url in ("/etc/shadow", "file:///etc/shadow", "file://localhost/etc/passwd"):
        message = fetch_error(DefaultObjectSource(), url, "shadow")
        assert "refused: local sources need a mirror directory (WFCOMPUTE_MANAGED_MIRROR" in message
        assert "sha256" not in message
    monkeypatch.setenv("WFCOMPUTE_MANAGED_MIRROR", str(tmp_path))
    (tmp_path / "ok").write_bytes(b"mirrored")
    assert fetch(DefaultObjectSource(), (tmp_path / "ok").as_uri()) == b"mirrored"


@pytest.mark.parametrize(
    "escape", ["/etc/shadow", "{m}/../outside", "{m}/link/secret", "{m}/linkfile", "{m}"]
)
def test_mirror_confines_local_sources(tmp_path: Path, escape: str) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("secret\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "secret").write_text("secret\n")
    (mirror / "link").symlink_to(tmp_path / "dir")
    (mirror / "linkfile").symlink_to(outside)
    source = DefaultObjectSource(mirror_dir=str(mirror))
    message = fetch_error(source, escape.format(m=mirror), "x")
    assert message.endswith(
        ("outside the mirror directory", "too many levels of symbolic links", "not a directory")
    ), message
    assert "secret\n" not in message


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_mirror_objects_must_be_regular_files(tmp_path: Path, kind: str) -> None:
    import os

    target = tmp_path / "obj"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")  # a link: refused before it could be read
    else:
        target.mkdir()
    message = fetch_error(DefaultObjectSource(mirror_dir=str(tmp_path)), str(target))
    assert message in (
        f"open {target}: not a regular file",
        f"open {target}: too many levels of symbolic links",
        f"read {target}: is a directory",
    ), message


def test_url_checks() -> None:
    source = DefaultObjectSource()
    assert fetch_error(source, "  ") == "managed runtime object URL is required"
    assert fetch_error(source, "ftp://example.com/x") == (
        'Get "ftp://example.com/x": unsupported protocol scheme "ftp"'
    )
    assert fetch_error(source, "relative/name") == (
        'Get "relative/name": unsupported protocol scheme ""'
    )


def test_cancellation_does_not_wait_for_a_stalled_download() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/stalled"

    async def attempt() -> bool:
        with anyio.move_on_after(0.2) as scope:
            await DefaultObjectSource(timeout_seconds=30).fetch(
                ObjectRequest("b", "artifact", "stalled", url)
            )
        return scope.cancelled_caught

    try:
        assert anyio.run(attempt) is True
    finally:
        listener.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_shipped_catalog_without_network_fails_cleanly(tmp_path: Path) -> None:
    # All traffic goes to a closed local proxy port: no network, whatever the machine has.
    proxy = f"http://127.0.0.1:{_closed_port()}"
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy, "https": proxy})
    )
    catalog = load_catalog(default_catalog_path())
    root = tmp_path / "managed"
    root.mkdir()
    (root / "other").write_text("kept\n")
    before = snapshot(root)
    installer = ManagedRuntimeBundleInstaller(
        catalog,
        str(root),
        source=DefaultObjectSource(opener=lambda request, timeout: opener.open(request, timeout=5)),
        now=lambda: catalog.generated_at,
    )
    request = BundleRequest("managed-containerd-linux-amd64", "linux", "amd64")
    with pytest.raises(RuntimeFailure) as caught:
        anyio.run(installer.install, request)
    assert str(caught.value) == (
        'fetch managed runtime artifact object: Get "https://github.com/containerd/nerdctl/'
        'releases/download/v2.3.1/nerdctl-full-2.3.1-linux-amd64.tar.gz": connection refused'
    )
    assert snapshot(root) == before
    assert not (root / "managed-containerd-linux-amd64").exists()
