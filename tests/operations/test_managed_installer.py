"""Install, doctor, uninstall and reinstall against real objects served over HTTP.

Every refusal must leave the install root exactly as it was (an empty `.locks`/`.staging`
directory aside, which the reference also leaves behind).
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.operations.managed_fixtures import (
    ARTIFACT_NAME,
    BUNDLE_ID,
    DEFAULT_ENTRIES,
    NOW,
    BundleObjects,
    SigningKey,
    bundle_objects,
    catalog_document,
    catalog_from,
    directory,
    discard_key,
    file,
    generate_key,
    hardlink,
    require_gnupg,
    revoked_public_key,
    serve_objects,
    sha256,
    signing_key,
    snapshot,
    symlink,
    tar_gz,
)
from wfcompute_container.errors import InvalidInput, PluginError, RuntimeFailure
from wfcompute_container.operations.managed import (
    BundleRequest,
    ManagedRuntimeBundleInstaller,
    ManagedRuntimeInstallResult,
)
from wfcompute_container.operations.managed.layout import MANIFEST_NAME

REQUEST = BundleRequest(bundle_id=BUNDLE_ID, target_os="linux", target_arch="amd64")


@pytest.fixture(scope="module")
def key() -> Iterator[SigningKey]:
    with signing_key("Test Release <release@example.com>") as generated:
        yield generated


@pytest.fixture(scope="module")
def other_key() -> Iterator[SigningKey]:
    with signing_key("Someone Else <else@example.com>") as generated:
        yield generated


@pytest.fixture(scope="module")
def objects(key: SigningKey) -> BundleObjects:
    return bundle_objects(key)


class Setup:
    def __init__(self, root: Path, served: dict[str, bytes], document: dict[str, Any]):
        self.root = root
        self.served = served
        self.document = document

    def installer(self, url: str, document: dict[str, Any] | None = None) -> Any:
        doc = json.loads(json.dumps(document or self.document).replace("{{URL}}", url))
        return ManagedRuntimeBundleInstaller(catalog_from(doc), str(self.root), now=lambda: NOW)

    def run(self, operation: str, document: dict[str, Any] | None = None) -> Any:
        with serve_objects(self.served) as server:
            installer = self.installer(server.url, document)
            request = REQUEST if operation != "uninstall" else BundleRequest(bundle_id=BUNDLE_ID)
            return anyio.run(getattr(installer, operation), request)


@pytest.fixture
def setup(tmp_path: Path, objects: BundleObjects) -> Setup:
    return Setup(
        tmp_path / "managed",
        objects.served(),
        catalog_document(objects, "{{URL}}"),
    )


def bundle_doc(setup: Setup) -> dict[str, Any]:
    document = copy.deepcopy(setup.document)
    bundle: dict[str, Any] = document["bundles"][0]
    return bundle


def refuse(setup: Setup, operation: str = "install") -> PluginError:
    before = snapshot(setup.root)
    with pytest.raises(PluginError) as caught:
        setup.run(operation)
    assert snapshot(setup.root) == before
    return caught.value


# --- lifecycle ----------------------------------------------------------------------------------


def test_install_doctor_tamper_reinstall_uninstall(setup: Setup, objects: BundleObjects) -> None:
    sibling = setup.root / "keep-me.txt"
    setup.root.mkdir(parents=True)
    sibling.write_text("sibling\n")

    installed: ManagedRuntimeInstallResult = setup.run("install")
    bundle_root = setup.root / BUNDLE_ID
    assert installed.root == str(bundle_root)
    assert installed.command_path == str(bundle_root / "bin/nerdctl")
    assert installed.manifest_path == str(bundle_root / MANIFEST_NAME)
    assert installed.version == "v2.3.1"
    assert installed.artifact_digest == sha256(objects.artifact)
    assert installed.checksum_digest == sha256(objects.checksum)
    assert installed.signature_digest == sha256(objects.signature)
    assert installed.trust_root_digest == sha256(objects.trust_root)
    assert installed.scoped_store_enforced and installed.host_global_store_excluded
    assert installed.installed_at == NOW
    assert installed.file_digests == {
        "bin/cni-helper": sha256(b"symlink:../libexec/cni/helper"),
        "bin/containerd": sha256(b"containerd binary\n"),
        "bin/helper": sha256(b"symlink:nerdctl"),
        "bin/nerdctl": sha256(b"#!/bin/sh\necho nerdctl\n"),
        "libexec/cni/helper": sha256(b"cni helper\n"),
        "share/doc/README": sha256(b"docs\n"),
    }
    assert (bundle_root / "bin/nerdctl").read_bytes() == b"#!/bin/sh\necho nerdctl\n"
    assert os.readlink(bundle_root / "bin/helper") == "nerdctl"
    assert os.readlink(bundle_root / "bin/cni-helper") == "../libexec/cni/helper"
    assert stat.S_IMODE((bundle_root / "bin/nerdctl").stat().st_mode) & 0o100
    assert not (setup.root / ".locks" / f"{BUNDLE_ID}.lock").exists()
    assert list((setup.root / ".staging").iterdir()) == []

    manifest_path = bundle_root / MANIFEST_NAME
    assert stat.S_IMODE(manifest_path.stat().st_mode) == 0o600
    manifest_text = manifest_path.read_text()
    assert manifest_text.endswith("}\n")
    assert manifest_text.startswith('{\n  "protocol_version": "compute.v1alpha1",\n')
    manifest = json.loads(manifest_text)
    assert list(manifest) == [
        "protocol_version", "bundle_id", "version", "os", "arch", "root", "command_path",
        "artifact_name", "artifact_digest", "checksum_name", "checksum_digest",
        "signature_name", "signature_digest", "signature_key_id", "trust_root_digest",
        "scoped_store_enforced", "host_global_store_excluded", "file_digests", "installed_at",
    ]  # fmt: skip
    assert manifest["artifact_name"] == ARTIFACT_NAME
    assert manifest["signature_key_id"] == objects.key_id
    assert manifest["installed_at"] == "2026-06-12T00:00:00Z"
    assert manifest["file_digests"] == installed.file_digests

    doctor = setup.run("doctor")
    assert doctor.status == "ok", doctor.reason
    assert json.loads(doctor.to_json()) == {
        "status": "ok",
        "bundle_id": BUNDLE_ID,
        "version": "v2.3.1",
        "root": str(bundle_root),
        "command_path": str(bundle_root / "bin/nerdctl"),
        "manifest_path": str(manifest_path),
        "artifact_digest": sha256(objects.artifact),
        "signature_digest": sha256(objects.signature),
        "scoped_store_enforced": True,
        "host_global_store_excluded": True,
    }

    (bundle_root / "bin/containerd").write_bytes(b"tampered\n")
    doctor = setup.run("doctor")
    assert doctor.status == "degraded"
    assert doctor.reason == "managed runtime file digest mismatch for bin/containerd"

    reinstalled = setup.run("reinstall")
    assert reinstalled.uninstall.removed is True
    assert reinstalled.uninstall.scoped_only is True
    assert reinstalled.uninstall.root == str(bundle_root)
    assert reinstalled.install.file_digests == installed.file_digests
    assert reinstalled.doctor.status == "ok"
    assert (bundle_root / "bin/containerd").read_bytes() == b"containerd binary\n"
    assert not (setup.root / f"{BUNDLE_ID}.previous").exists()

    removed = setup.run("uninstall")
    assert json.loads(removed.to_json()) == {
        "bundle_id": BUNDLE_ID,
        "root": str(bundle_root),
        "removed": True,
        "scoped_only": True,
        "manifest_path": str(manifest_path),
    }
    assert not bundle_root.exists()
    assert sibling.read_text() == "sibling\n"

    again = setup.run("uninstall")
    assert again.removed is False
    missing = setup.run("doctor")
    assert missing.status == "missing"
    assert missing.reason == "install manifest is missing"
    assert json.loads(missing.to_json()) == {
        "status": "missing",
        "bundle_id": BUNDLE_ID,
        "root": str(bundle_root),
        "manifest_path": str(manifest_path),
        "reason": "install manifest is missing",
    }


def test_reinstall_reports_whether_a_runtime_was_replaced(setup: Setup) -> None:
    setup.root = setup.root / "nested"
    first = setup.run("reinstall")
    # Like Go's MkdirAll: every directory the install creates is private, parents included.
    for created in (setup.root.parent, setup.root, setup.root / ".locks", setup.root / ".staging"):
        assert stat.S_IMODE(created.stat().st_mode) == 0o700, created
    assert first.uninstall.removed is False
    second = setup.run("reinstall")
    assert second.uninstall.removed is True
    assert second.doctor.status == "ok"


def test_result_json_field_order(setup: Setup) -> None:
    installed = setup.run("install")
    assert list(json.loads(installed.to_json())) == [
        "bundle_id", "version", "root", "command_path", "manifest_path", "artifact_digest",
        "checksum_digest", "signature_digest", "trust_root_digest", "scoped_store_enforced",
        "host_global_store_excluded", "file_digests", "installed_at",
    ]  # fmt: skip
    reinstalled = setup.run("reinstall")
    assert list(json.loads(reinstalled.to_json())) == ["uninstall", "install", "doctor"]


# --- doctor findings ----------------------------------------------------------------------------


def test_doctor_reports_command_symlink(setup: Setup) -> None:
    setup.run("install")
    command = setup.root / BUNDLE_ID / "bin/nerdctl"
    command.unlink()
    command.symlink_to("containerd")
    doctor = setup.run("doctor")
    assert doctor.status == "degraded"
    assert doctor.reason == f'managed runtime path "{command}" contains symlink "{command}"'


def test_doctor_reports_missing_command(setup: Setup) -> None:
    setup.run("install")
    command = setup.root / BUNDLE_ID / "bin/nerdctl"
    command.unlink()
    doctor = setup.run("doctor")
    assert doctor.status == "missing"
    assert doctor.reason == f"lstat {command}: no such file or directory"


def test_doctor_reports_repointed_symlink(setup: Setup) -> None:
    setup.run("install")
    helper = setup.root / BUNDLE_ID / "bin/helper"
    helper.unlink()
    helper.symlink_to("./nerdctl")
    doctor = setup.run("doctor")
    assert doctor.status == "degraded"
    assert doctor.reason == "managed runtime file digest mismatch for bin/helper"


def test_doctor_reports_added_file(setup: Setup) -> None:
    setup.run("install")
    (setup.root / BUNDLE_ID / "bin/extra").write_text("x")
    doctor = setup.run("doctor")
    assert doctor.reason == "managed runtime file digest set changed: got 7 want 6"


def test_doctor_reports_manifest_not_matching_catalog(setup: Setup) -> None:
    setup.run("install")
    path = setup.root / BUNDLE_ID / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["signature_digest"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(manifest))
    doctor = setup.run("doctor")
    assert (doctor.status, doctor.reason) == (
        "degraded",
        "install manifest does not match pinned bundle metadata",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"root": "/elsewhere"}, "install manifest path scope does not match scoped root"),
        ({"scoped_store_enforced": False}, "scoped store policy is not enforced"),
        ({"file_digests": {}}, "managed runtime install manifest has no file digests"),
    ],
)
def test_doctor_manifest_checks(setup: Setup, change: dict[str, Any], reason: str) -> None:
    setup.run("install")
    path = setup.root / BUNDLE_ID / MANIFEST_NAME
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    doctor = setup.run("doctor")
    assert (doctor.status, doctor.reason) == ("degraded", reason)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "invalid character 'n' looking for beginning of object key string"),
        ('{"bundle_id": "x"', "unexpected end of JSON input"),
        ("[]", "json: cannot unmarshal array into managed runtime install manifest"),
    ],
)
def test_doctor_rejects_unreadable_manifest_with_go_s_text(
    setup: Setup, text: str, message: str
) -> None:
    setup.run("install")
    (setup.root / BUNDLE_ID / MANIFEST_NAME).write_text(text)
    with pytest.raises(InvalidInput) as info:
        setup.run("doctor")
    assert info.value.message == message


def test_manifest_is_read_back_as_go_reads_it(setup: Setup) -> None:
    # A manifest from a newer plugin (an extra key) or edited with other key case still reads:
    # Go's decoder ignores unknown keys and matches names case-insensitively.
    setup.run("install")
    path = setup.root / BUNDLE_ID / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["Signature_Digest"] = manifest.pop("signature_digest")
    manifest["written_by"] = "workflow-plugin-compute-container 9.9"
    path.write_text(json.dumps(manifest))
    doctor = setup.run("doctor")
    assert (doctor.status, doctor.reason) == ("ok", "")


# --- refusals: objects --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["artifact", "checksum", "signature", "trust root"])
def test_install_refuses_wrong_digest_on_any_object(setup: Setup, kind: str) -> None:
    path = {
        "artifact": f"/release/{ARTIFACT_NAME}",
        "checksum": "/release/SHA256SUMS",
        "signature": "/release/SHA256SUMS.asc",
        "trust root": "/keys/release.gpg",
    }[kind]
    setup.served[path] = setup.served[path] + b"\n"
    error = refuse(setup)
    got = sha256(setup.served[path])
    assert str(error).startswith(f"managed runtime {kind} digest mismatch: got {got} want sha256:")


def test_install_refuses_checksum_file_not_pinning_artifact(setup: Setup, key: SigningKey) -> None:
    checksum = f"{'1' * 64}  {ARTIFACT_NAME}\n".encode()
    signature = key.sign(checksum)
    setup.served["/release/SHA256SUMS"] = checksum
    setup.served["/release/SHA256SUMS.asc"] = signature
    bundle = setup.document["bundles"][0]
    bundle["checksum_digest"] = sha256(checksum)
    bundle["signature_digest"] = sha256(signature)
    error = refuse(setup)
    assert str(error) == (
        f'managed runtime checksum object does not pin artifact "{ARTIFACT_NAME}" '
        f"to {bundle['artifact_digest']}"
    )


def test_checksum_binary_mode_line_does_not_pin(setup: Setup, key: SigningKey) -> None:
    digest = setup.document["bundles"][0]["artifact_digest"].removeprefix("sha256:")
    checksum = f"{digest} *{ARTIFACT_NAME}\n".encode()
    signature = key.sign(checksum)
    setup.served["/release/SHA256SUMS"] = checksum
    setup.served["/release/SHA256SUMS.asc"] = signature
    bundle = setup.document["bundles"][0]
    bundle["checksum_digest"] = sha256(checksum)
    bundle["signature_digest"] = sha256(signature)
    assert "does not pin artifact" in str(refuse(setup))


def test_install_refuses_signature_by_another_key(
    setup: Setup, objects: BundleObjects, other_key: SigningKey
) -> None:
    # Pinned digest matches, so only the OpenPGP check can catch it.
    signature = other_key.sign(objects.checksum)
    setup.served["/release/SHA256SUMS.asc"] = signature
    setup.document["bundles"][0]["signature_digest"] = sha256(signature)
    error = str(refuse(setup))
    assert error.startswith("managed runtime signature verification failed: ")


def test_install_refuses_signer_other_than_pinned_key(
    setup: Setup, objects: BundleObjects, other_key: SigningKey
) -> None:
    # The trust root holds the other key and really verifies; the pinned key id differs.
    signature = other_key.sign(objects.checksum)
    setup.served["/release/SHA256SUMS.asc"] = signature
    setup.served["/keys/release.gpg"] = other_key.public_armored
    bundle = setup.document["bundles"][0]
    bundle["signature_digest"] = sha256(signature)
    bundle["trust_root_digest"] = sha256(other_key.public_armored)
    setup.document["trust_roots"][0]["digest"] = sha256(other_key.public_armored)
    error = str(refuse(setup))
    assert error == (
        f'managed runtime signature signer "{other_key.key_id}" does not match pinned key '
        f'"{objects.key_id}"'
    )


def test_install_refuses_key_revoked_in_the_trust_root(tmp_path: Path) -> None:
    # A key of its own: revoking the module's key would break the other tests.
    require_gnupg()
    revoked = generate_key("Revoked Release <revoked@example.com>")
    try:
        objects = bundle_objects(revoked)
        objects.trust_root = revoked_public_key(revoked)
        setup = Setup(tmp_path / "managed", objects.served(), catalog_document(objects, "{{URL}}"))
        error = str(refuse(setup))
    finally:
        discard_key(revoked)
    assert error == (
        "managed runtime signature verification failed: signing key has been revoked "
        f"(key {objects.key_id})"
    )


def test_install_refuses_garbage_signature_with_pinned_digest(setup: Setup) -> None:
    garbage = (
        b"-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n"
    )
    setup.served["/release/SHA256SUMS.asc"] = garbage
    setup.document["bundles"][0]["signature_digest"] = sha256(garbage)
    assert "signature verification" in str(refuse(setup))


def test_install_refuses_signature_over_other_bytes(setup: Setup, key: SigningKey) -> None:
    signature = key.sign(b"something else\n")
    setup.served["/release/SHA256SUMS.asc"] = signature
    setup.document["bundles"][0]["signature_digest"] = sha256(signature)
    assert str(refuse(setup)).startswith("managed runtime signature verification failed: ")


def test_install_refuses_empty_signature(setup: Setup) -> None:
    setup.served["/release/SHA256SUMS.asc"] = b""
    setup.document["bundles"][0]["signature_digest"] = sha256(b"")
    assert str(refuse(setup)) == "managed runtime signature object is empty"


def test_install_refuses_trust_root_that_is_not_a_key(setup: Setup) -> None:
    setup.served["/keys/release.gpg"] = b"not a key"
    setup.document["bundles"][0]["trust_root_digest"] = sha256(b"not a key")
    setup.document["trust_roots"][0]["digest"] = sha256(b"not a key")
    assert str(refuse(setup)).startswith("managed runtime signature verification trust root: ")


def test_install_refuses_missing_object(setup: Setup) -> None:
    del setup.served["/release/SHA256SUMS"]
    error = refuse(setup)
    assert isinstance(error, RuntimeFailure)
    assert str(error) == (
        'fetch managed runtime checksum object: fetch managed runtime object "SHA256SUMS": '
        "404 Not Found"
    )


def test_install_refuses_unknown_trust_root(setup: Setup) -> None:
    setup.document["trust_roots"][0]["digest"] = "sha256:" + "9" * 64
    bundle = setup.document["bundles"][0]
    assert str(refuse(setup)) == (
        f'managed runtime trust root for signing key "{bundle["signature_key_id"]}" and digest '
        f'"{bundle["trust_root_digest"]}" not found'
    )


# --- refusals: policy ---------------------------------------------------------------------------


def test_install_refuses_expired_bundle(setup: Setup) -> None:
    setup.document["bundles"][0]["valid_until"] = "2026-01-01T00:00:00Z"
    assert str(refuse(setup)) == "valid_until must be in the future"


def test_install_refuses_blocked_version(setup: Setup) -> None:
    setup.document["blocked_versions"] = ["v2.3.1"]
    assert str(refuse(setup)) == 'managed runtime bundle version "v2.3.1" is blocked'


def test_install_refuses_revoked_key(setup: Setup, objects: BundleObjects) -> None:
    setup.document["bundles"][0]["cve_policy"]["revoked_key_ids"] = [objects.key_id]
    assert str(refuse(setup)) == (
        f'managed runtime bundle signing key "{objects.key_id}" is revoked'
    )


def test_install_refuses_other_target(setup: Setup) -> None:
    before = snapshot(setup.root)
    with serve_objects(setup.served) as server, pytest.raises(InvalidInput) as caught:
        installer = setup.installer(server.url)
        anyio.run(installer.install, BundleRequest(BUNDLE_ID, "windows", "amd64"))
    assert (
        str(caught.value) == f'managed runtime bundle "{BUNDLE_ID}" does not support windows/amd64'
    )
    assert snapshot(setup.root) == before


# --- refusals: archives -------------------------------------------------------------------------


def _with_archive(setup: Setup, key: SigningKey, artifact: bytes) -> None:
    digest = sha256(artifact)
    checksum = f"{digest.removeprefix('sha256:')}  {ARTIFACT_NAME}\n".encode()
    signature = key.sign(checksum)
    setup.served[f"/release/{ARTIFACT_NAME}"] = artifact
    setup.served["/release/SHA256SUMS"] = checksum
    setup.served["/release/SHA256SUMS.asc"] = signature
    bundle = setup.document["bundles"][0]
    bundle["artifact_digest"] = digest
    bundle["signature_subject"]["artifact_digest"] = digest
    bundle["checksum_digest"] = sha256(checksum)
    bundle["signature_digest"] = sha256(signature)


NERDCTL = file("bin/nerdctl", b"nerdctl\n")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([NERDCTL, file("../x", b"x")], 'unsafe archive path "../x"'),
        ([NERDCTL, file("/abs", b"x")], 'unsafe archive path "/abs"'),
        ([NERDCTL, symlink("bin/escape", "../../x")], 'unsafe archive symlink target "../../x"'),
        (
            [NERDCTL, symlink("bin/abs", "/etc/passwd")],
            'unsafe archive symlink target "/etc/passwd"',
        ),
        (
            [NERDCTL, symlink("bin/link", "."), file("bin/link/x", b"x")],
            'unsafe archive symlink target "."',
        ),
        (
            [NERDCTL, symlink("lib", "bin"), file("lib/x", b"x")],
            'unsafe archive path "lib/x" is under symlink',
        ),
        ([NERDCTL, file("bin/nerdctl", b"second")], 'duplicate archive entry "bin/nerdctl"'),
        (
            [NERDCTL, hardlink("bin/hard", "bin/nerdctl")],
            'unsafe archive entry type 49 for "bin/hard"',
        ),
        ([file("bin/other", b"x")], "managed runtime command: lstat "),
        ([directory("bin/nerdctl")], "managed runtime command: "),
        ([symlink("bin/nerdctl", "real"), file("bin/real", b"x")], "managed runtime command: "),
    ],
)
def test_install_refuses_unsafe_archive(
    setup: Setup, key: SigningKey, entries: list[Any], message: str
) -> None:
    _with_archive(setup, key, tar_gz(entries))
    error = str(refuse(setup))
    assert error.startswith(message), error
    assert not (setup.root.parent / "x").exists()
    assert not (setup.root / "x").exists()


def test_install_refuses_archive_that_is_not_gzip(setup: Setup, key: SigningKey) -> None:
    _with_archive(setup, key, b"plain bytes, not gzip")
    assert str(refuse(setup)) == "gzip: invalid header"


def test_failed_replacement_keeps_previous_install(setup: Setup, key: SigningKey) -> None:
    setup.run("install")
    before = snapshot(setup.root)
    _with_archive(setup, key, tar_gz([NERDCTL, file("../escape", b"x")]))
    with pytest.raises(InvalidInput, match="unsafe archive path"):
        setup.run("reinstall")
    assert snapshot(setup.root) == before


# --- refusals: install root -------------------------------------------------------------------


def test_install_root_with_symlink_is_refused(setup: Setup, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    setup.root = tmp_path / "link" / "managed"
    error = refuse(setup)
    assert str(error) == (
        f'managed runtime install root path "{setup.root}" contains symlink "{tmp_path / "link"}"'
    )
    assert list(real.iterdir()) == []


def test_install_root_itself_a_symlink_is_refused(setup: Setup, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    setup.root = tmp_path / "root-link"
    setup.root.symlink_to(real)
    assert "contains symlink" in str(refuse(setup))
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["../x", "..", ".", "a/b", "/abs", " ", "a\\b", "x/"])
def test_unsafe_bundle_id_is_refused(setup: Setup, bad_id: str) -> None:
    from wfcompute_container.goparity.text import quote

    for operation in ("uninstall",):
        before = snapshot(setup.root)
        with serve_objects(setup.served) as server, pytest.raises(InvalidInput) as caught:
            installer = setup.installer(server.url)
            anyio.run(getattr(installer, operation), BundleRequest(bad_id))
        assert str(caught.value) == f"unsafe managed runtime bundle id {quote(bad_id)}"
        assert snapshot(setup.root) == before


def test_bundle_id_not_in_catalog_is_refused_on_install(setup: Setup) -> None:
    setup.document["bundles"][0]["bundle_id"] = "../x"
    before = snapshot(setup.root)
    with serve_objects(setup.served) as server, pytest.raises(InvalidInput):
        installer = setup.installer(server.url)
        anyio.run(installer.install, BundleRequest("../x", "linux", "amd64"))
    assert snapshot(setup.root) == before
    assert not (setup.root.parent / "x").exists()


def test_live_lock_refuses_and_a_dead_owners_lock_is_reclaimed(setup: Setup) -> None:
    locks = setup.root / ".locks"
    locks.mkdir(parents=True)
    lock = locks / f"{BUNDLE_ID}.lock"
    # What a killed plugin leaves: the file, with nobody holding its flock.
    lock.write_text("12345\n")
    with lock.open("r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        error = refuse(setup)
        assert str(error) == f'managed runtime bundle "{BUNDLE_ID}" is already locked'
        assert str(refuse(setup, "uninstall")) == str(error)
        assert lock.read_text() == "12345\n"
    # The holder is gone: the next install takes the lock and removes it when done.
    installed = setup.run("install")
    assert installed.bundle_id == BUNDLE_ID
    assert not lock.exists()


def test_two_installs_at_once_one_is_locked_out(setup: Setup) -> None:
    outcomes: list[str] = []

    async def both(url: str) -> None:
        async def one() -> None:
            try:
                await setup.installer(url).install(REQUEST)
                outcomes.append("installed")
            except InvalidInput as err:
                outcomes.append(str(err))

        async with anyio.create_task_group() as group:
            group.start_soon(one)
            group.start_soon(one)

    with serve_objects(setup.served) as server:
        anyio.run(both, server.url)
    assert sorted(outcomes) == sorted(
        ["installed", f'managed runtime bundle "{BUNDLE_ID}" is already locked']
    )
    assert setup.run("doctor").status == "ok"


def test_install_refuses_unmanaged_directory(setup: Setup) -> None:
    unmanaged = setup.root / BUNDLE_ID
    unmanaged.mkdir(parents=True)
    (unmanaged / "sentinel").write_text("mine\n")
    error = str(refuse(setup))
    assert error == (
        "managed runtime install manifest is required before replacement: "
        "managed runtime install manifest is required before uninstall: "
        f"open {unmanaged / MANIFEST_NAME}: no such file or directory"
    )
    assert (unmanaged / "sentinel").read_text() == "mine\n"


def test_uninstall_refuses_unmanaged_directory(setup: Setup) -> None:
    unmanaged = setup.root / BUNDLE_ID
    unmanaged.mkdir(parents=True)
    (unmanaged / "sentinel").write_text("mine\n")
    assert "install manifest" in str(refuse(setup, "uninstall"))
    assert (unmanaged / "sentinel").read_text() == "mine\n"


def test_install_and_uninstall_refuse_manifest_for_other_root(setup: Setup) -> None:
    setup.run("install")
    path = setup.root / BUNDLE_ID / MANIFEST_NAME
    path.write_text(json.dumps({**json.loads(path.read_text()), "root": "/other"}))
    expected = "managed runtime install manifest does not match scoped bundle root"
    assert str(refuse(setup, "uninstall")) == expected
    assert str(refuse(setup, "install")) == (
        f"managed runtime install manifest is required before replacement: {expected}"
    )


def test_default_entries_cover_safe_symlinks() -> None:
    assert any(e.kind == b"2" for e in DEFAULT_ENTRIES)


def test_cancelled_install_releases_the_lock_and_changes_nothing(setup: Setup) -> None:
    setup.run("install")
    before = snapshot(setup.root)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stalled = f"http://127.0.0.1:{listener.getsockname()[1]}"
    setup.document["source_base_url"] = f"{stalled}/release"

    async def cancelled_install() -> bool:
        installer = setup.installer(stalled)
        with anyio.move_on_after(0.3) as scope:
            await installer.reinstall(REQUEST)
        return scope.cancelled_caught

    try:
        assert anyio.run(cancelled_install) is True
    finally:
        listener.close()
    assert snapshot(setup.root) == before
    assert not (setup.root / ".locks" / f"{BUNDLE_ID}.lock").exists()


# --- Go os.Stat / os.MkdirAll / os.ReadFile semantics ------------------------------------------


def test_manifest_that_is_a_directory_fails_the_read(setup: Setup) -> None:
    manifest = setup.root / BUNDLE_ID / MANIFEST_NAME
    manifest.mkdir(parents=True)
    expected = f"read {manifest}: is a directory"
    assert str(refuse(setup, "uninstall")) == (
        f"managed runtime install manifest is required before uninstall: {expected}"
    )
    assert str(refuse(setup, "doctor")) == expected


@pytest.mark.parametrize("operation", ["install", "uninstall", "reinstall", "doctor"])
@pytest.mark.parametrize("target", ["/nonexistent-target", "victim"])
def test_bundle_root_symlink_is_refused_never_followed(
    setup: Setup, tmp_path: Path, operation: str, target: str
) -> None:
    # Departure from Go (which stats through the link): a bundle root that is a symlink is
    # refused by every operation, dangling or not; nothing is written through it.
    setup.root.mkdir(parents=True)
    victim = tmp_path / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "data" / "precious").write_text("keep\n")
    link = setup.root / BUNDLE_ID
    link.symlink_to(victim if target == "victim" else target)
    with pytest.raises(InvalidInput) as caught:
        setup.run(operation)
    assert str(caught.value).endswith(f'bundle root "{link}" is a symlink') or str(
        caught.value
    ) == (f'managed runtime path "{link}" is a symlink'), str(caught.value)
    assert link.is_symlink()
    assert sorted(p.name for p in victim.rglob("*")) == ["data", "precious"]
    assert list((setup.root / ".staging").glob("*/*")) == []


def test_install_root_that_is_a_file_names_the_component(setup: Setup, tmp_path: Path) -> None:
    root_file = tmp_path / "rootfile"
    root_file.write_text("not a directory\n")
    setup.root = root_file
    assert str(refuse(setup, "reinstall")) == f"mkdir {root_file}: not a directory"
    assert str(refuse(setup, "uninstall")) == f"open {root_file}: not a directory"
    assert root_file.read_text() == "not a directory\n"


def test_locks_dir_that_is_a_file_is_refused(setup: Setup) -> None:
    setup.root.mkdir(parents=True)
    (setup.root / ".locks").write_text("a file\n")
    assert str(refuse(setup, "uninstall")) == f"mkdir {setup.root / '.locks'}: not a directory"


def test_staging_failure_is_a_local_refusal(setup: Setup) -> None:
    (setup.root / ".locks").mkdir(parents=True)
    (setup.root / ".staging").write_text("a file\n")
    error = refuse(setup)
    assert isinstance(error, InvalidInput) and not isinstance(error, RuntimeFailure)
    assert str(error) == f"mkdir {setup.root / '.staging'}: not a directory"


def test_doctor_reads_a_missing_recomputed_digest_as_empty(setup: Setup) -> None:
    # Go compares got[rel] != want, and a missing key reads as "": an entry wanting "" passes.
    setup.run("install")
    path = setup.root / BUNDLE_ID / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["file_digests"]["ghost"] = ""
    path.write_text(json.dumps(manifest))
    (setup.root / BUNDLE_ID / "extra").write_text("keeps the count equal\n")
    doctor = setup.run("doctor")
    assert (doctor.status, doctor.reason) == ("ok", "")


# --- refusals before any side effect: reserved names, system roots ---------------------------


@pytest.mark.parametrize(
    "reserved_id",
    [".locks", ".staging", ".hidden", "advx.previous", "wfcompute-managed-runtime-install.json"],
)
@pytest.mark.parametrize("operation", ["uninstall", "doctor", "install"])
def test_bundle_id_colliding_with_plugin_names_is_refused(
    setup: Setup, reserved_id: str, operation: str
) -> None:
    setup.run("install")
    before = snapshot(setup.root)
    with serve_objects(setup.served) as server, pytest.raises(InvalidInput) as caught:
        installer = setup.installer(server.url)
        anyio.run(getattr(installer, operation), BundleRequest(reserved_id, "linux", "amd64"))
    if operation == "uninstall":
        assert "collides with the plugin's own names" in str(caught.value)
    assert snapshot(setup.root) == before


@pytest.mark.parametrize(
    "root", ["/", "/etc", "/etc/wfcompute", "/usr", "/usr/lib/x", "/lib64", "/proc", "/dev/shm"]
)
def test_system_install_root_is_refused_before_touching_it(
    setup: Setup, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WFCOMPUTE_MANAGED_ALLOW_SYSTEM_ROOT", raising=False)
    locks_before = os.path.lexists(os.path.join(root, ".locks"))
    setup.root = Path(root)
    with pytest.raises(InvalidInput) as caught:
        setup.run("uninstall")
    assert str(caught.value) == (
        f'managed runtime install root "{root}" is a system directory '
        "(set WFCOMPUTE_MANAGED_ALLOW_SYSTEM_ROOT=1 to allow it)"
    )
    assert os.path.lexists(os.path.join(root, ".locks")) == locks_before


def test_archive_entry_with_the_manifest_name_is_refused(setup: Setup, key: SigningKey) -> None:
    for entry in (
        file("wfcompute-managed-runtime-install.json", b"{}"),
        directory("wfcompute-managed-runtime-install.json"),
        symlink("wfcompute-managed-runtime-install.json", "bin/nerdctl"),
    ):
        _with_archive(setup, key, tar_gz([NERDCTL, entry]))
        message = str(refuse(setup))
        assert message.startswith('archive entry "wfcompute-managed-runtime-install.json'), message
        assert message.endswith('" uses the reserved install manifest name'), message
        assert not (setup.root / BUNDLE_ID).exists()


def test_reinstall_never_touches_a_sibling_named_like_the_old_previous_directory(
    setup: Setup,
) -> None:
    # The path-based installer moved the old root to `<id>.previous`, deleting whatever was
    # there first; the replaced root now goes into this bundle's own staging directory.
    setup.run("install")
    sibling = setup.root / f"{BUNDLE_ID}.previous" / "user" / "data"
    sibling.parent.mkdir(parents=True)
    sibling.write_text("mine\n")
    result = setup.run("reinstall")
    assert result.uninstall.removed is True
    assert sibling.read_text() == "mine\n"
    assert list((setup.root / ".staging").iterdir()) == []
