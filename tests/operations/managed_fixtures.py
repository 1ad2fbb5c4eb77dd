"""Real objects for managed runtime tests: a signing key, tar.gz bundles, an HTTP server.

Keys are generated with GnuPG in a short-lived GNUPGHOME (no passphrase); archives are built
with tarfile; objects are served by http.server on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wfcompute_container.operations.managed.catalog import ManagedRuntimeBundleCatalog

BUNDLE_ID = "managed-containerd-linux-amd64"
ARTIFACT_NAME = "nerdctl-full-test-linux-amd64.tar.gz"
NOW = datetime(2026, 6, 12, tzinfo=UTC)


def require_gnupg() -> None:
    """GnuPG is needed for real signatures: fail in CI, skip with a reason elsewhere."""
    import pytest

    missing = [tool for tool in ("gpg", "gpgv", "gpgconf") if shutil.which(tool) is None]
    if not missing:
        return
    message = f"GnuPG tools missing: {', '.join(missing)} (apt-get install gnupg gpgv)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class SigningKey:
    home: str
    fingerprint: str
    public_armored: bytes

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:].upper()

    def sign(self, data: bytes) -> bytes:
        done = subprocess.run(
            [
                "gpg",
                "--homedir",
                self.home,
                "--batch",
                "--yes",
                "--armor",
                "--local-user",
                self.fingerprint,
                "--detach-sign",
                "--output",
                "-",
            ],
            input=data,
            capture_output=True,
            check=True,
        )
        return done.stdout


def generate_key(uid: str) -> SigningKey:
    # Short path: gpg-agent's socket path must fit in sun_path.
    home = tempfile.mkdtemp(prefix="wfg-", dir="/tmp")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": home}
    subprocess.run(
        [
            "gpg",
            "--homedir",
            home,
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ],
        capture_output=True,
        check=True,
        env=env,
    )
    listing = subprocess.run(
        ["gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys", uid],
        capture_output=True,
        check=True,
        text=True,
        env=env,
    ).stdout
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    public = subprocess.run(
        ["gpg", "--homedir", home, "--batch", "--armor", "--export", fingerprint],
        capture_output=True,
        check=True,
        env=env,
    ).stdout
    return SigningKey(home=home, fingerprint=fingerprint, public_armored=public)


def revoked_public_key(key: SigningKey) -> bytes:
    """The key's public block after importing the revocation certificate gpg made for it."""
    certificate = Path(key.home, "openpgp-revocs.d", f"{key.fingerprint}.rev").read_text()
    # gpg stores it with a leading ':' on the armor header so it is not imported by accident.
    certificate = certificate.replace(":-----BEGIN", "-----BEGIN")
    subprocess.run(
        ["gpg", "--homedir", key.home, "--batch", "--import"],
        input=certificate.encode(),
        capture_output=True,
        check=True,
    )
    return subprocess.run(
        ["gpg", "--homedir", key.home, "--batch", "--armor", "--export", key.fingerprint],
        capture_output=True,
        check=True,
    ).stdout


def discard_key(key: SigningKey) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", key.home, "--kill", "all"], capture_output=True, check=False
    )
    shutil.rmtree(key.home, ignore_errors=True)


@contextlib.contextmanager
def signing_key(uid: str) -> Iterator[SigningKey]:
    """A fresh signing key for ``uid`` (GnuPG required: a skip locally, a failure in CI),
    discarded with its home afterwards."""
    require_gnupg()
    generated = generate_key(uid)
    try:
        yield generated
    finally:
        discard_key(generated)


# --- archives -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o755


def file(name: str, data: bytes, mode: int = 0o755) -> Entry:
    return Entry(name=name, data=data, mode=mode)


def directory(name: str) -> Entry:
    return Entry(name=name, kind=tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> Entry:
    return Entry(name=name, kind=tarfile.SYMTYPE, linkname=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name=name, kind=tarfile.LNKTYPE, linkname=target)


def zeros(size: int) -> io.BufferedReader:
    """A stream of `size` zero bytes that never holds them all (for decompression bombs)."""

    class Zeros(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, target: Any) -> int:
            n = min(len(target), self.left)
            target[:n] = bytes(n)
            self.left -= n
            return n

    return io.BufferedReader(Zeros(), 1 << 20)


def tar_gz(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.mtime = 1_750_000_000
            info.linkname = entry.linkname
            if entry.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


DEFAULT_ENTRIES = [
    directory("bin"),
    file("bin/nerdctl", b"#!/bin/sh\necho nerdctl\n"),
    file("bin/containerd", b"containerd binary\n"),
    symlink("bin/helper", "nerdctl"),
    file("libexec/cni/helper", b"cni helper\n"),
    symlink("bin/cni-helper", "../libexec/cni/helper"),
    file("share/doc/README", b"docs\n", 0o644),
]


# --- bundle objects and catalog -----------------------------------------------------------------


@dataclass
class BundleObjects:
    artifact: bytes
    checksum: bytes
    signature: bytes
    trust_root: bytes
    key_id: str

    def served(self) -> dict[str, bytes]:
        return {
            f"/release/{ARTIFACT_NAME}": self.artifact,
            "/release/SHA256SUMS": self.checksum,
            "/release/SHA256SUMS.asc": self.signature,
            "/keys/release.gpg": self.trust_root,
        }


def bundle_objects(key: SigningKey, entries: list[Entry] | None = None) -> BundleObjects:
    return signed_objects(key, tar_gz(DEFAULT_ENTRIES if entries is None else entries))


def signed_objects(key: SigningKey, artifact: bytes) -> BundleObjects:
    """An artifact with the checksum file pinning it, signed by `key`."""
    checksum = (
        f"{'0' * 64}  other-file.tar.gz\n{hashlib.sha256(artifact).hexdigest()}  {ARTIFACT_NAME}\n"
    ).encode()
    return BundleObjects(
        artifact=artifact,
        checksum=checksum,
        signature=key.sign(checksum),
        trust_root=key.public_armored,
        key_id=key.key_id,
    )


POLICY_DIGEST = "sha256:" + "4" * 64
CVE_DIGEST = "sha256:" + "5" * 64


def catalog_document(objects: BundleObjects, base_url: str) -> dict[str, Any]:
    """A catalog shaped like the shipped one, pinning the given objects."""
    artifact_digest = sha256(objects.artifact)
    return {
        "release_tag": "v2.3.1",
        "source_base_url": f"{base_url}/release/",
        "generated_at": "2026-06-11T00:00:00Z",
        "bundles": [
            {
                "protocol_version": "compute.v1alpha1",
                "bundle_id": BUNDLE_ID,
                "family": "containerd",
                "tool": "nerdctl",
                "version": "v2.3.1",
                "os": "linux",
                "arch": "amd64",
                "artifact_name": ARTIFACT_NAME,
                "artifact_digest": artifact_digest,
                "checksum_name": "SHA256SUMS",
                "checksum_digest": sha256(objects.checksum),
                "signature_name": "SHA256SUMS.asc",
                "signature_digest": sha256(objects.signature),
                "signature_issuer": "test release signing",
                "signature_key_id": objects.key_id,
                "trust_root_digest": sha256(objects.trust_root),
                "signature_subject": {
                    "artifact_digest": artifact_digest,
                    "runtime_family": "containerd",
                    "os": "linux",
                    "arch": "amd64",
                    "version": "v2.3.1",
                    "channel": "stable",
                    "conformance_profile": "distroless-static-v1",
                    "scoped_store_policy_digest": POLICY_DIGEST,
                },
                "valid_until": "2099-01-01T00:00:00Z",
                "update_policy": {"channel": "stable", "min_supported_version": "v2.3.1"},
                "cve_policy": {"policy_digest": CVE_DIGEST, "updated_by_version": "v2.3.1"},
                "scoped_store": {
                    "required": True,
                    "namespace_strategy": "opaque-worker-pool-scope",
                    "store_strategy": "workflow-owned-content-store",
                    "policy_digest": POLICY_DIGEST,
                    "cleanup_required": True,
                    "host_global_visibility_forbidden": True,
                },
                "supported_targets": [{"os": "linux", "arch": "amd64"}],
                "conformance_profile": "distroless-static-v1",
                "install_burden": "bundled",
            }
        ],
        "trust_roots": [
            {
                "key_id": objects.key_id,
                "name": "release.gpg",
                "url": f"{base_url}/keys/release.gpg",
                "digest": sha256(objects.trust_root),
                "issuer": "Test Release <release@example.com>",
            }
        ],
        "minimum_version": "v2.3.1",
        "stable_signing_key": objects.key_id,
    }


def catalog_from(document: dict[str, Any]) -> ManagedRuntimeBundleCatalog:
    return ManagedRuntimeBundleCatalog.model_validate(document)


# --- HTTP server --------------------------------------------------------------------------------


@dataclass
class ObjectServer:
    objects: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""


@contextlib.contextmanager
def serve_objects(objects: dict[str, bytes]) -> Iterator[ObjectServer]:
    state = ObjectServer(objects=dict(objects))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.objects.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- install root snapshots ---------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every path below root with its content digest, link target or `dir`.

    The `.locks` and `.staging` directories an operation leaves behind are recorded only when
    they hold something (the reference keeps them, empty, after every operation).
    """
    if not os.path.lexists(root):
        return {}
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                out[rel] = "link:" + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                if rel in (".locks", ".staging") and not any(path.iterdir()):
                    continue
                out[rel] = "dir"
            else:
                out[rel] = sha256(path.read_bytes())
    return out
