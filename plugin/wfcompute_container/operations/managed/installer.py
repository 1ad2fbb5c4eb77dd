"""Install, check, remove and replace a managed runtime bundle under an agent-owned root.

Install verifies everything before touching the bundle root: each object against its pinned
digest, the checksum file pinning the artifact, the checksum file's detached OpenPGP signature
against the pinned trust root and signing key. It then extracts into a private stage and
promotes the stage by rename, so a failed install leaves the previous one as it was.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from ...core.managed_bundle import ManagedRuntimeBundleDescriptor
from ...core.wire import ZERO_TIME, GoTime, OmitRule, WireModel
from ...errors import InvalidInput, PluginError, RuntimeFailure
from ...goparity.dirs import mkdir_all
from ...goparity.oserror import errno_text, is_not_exist, os_error_of, path_error
from ...goparity.paths import join
from ...goparity.text import fields, quote, trim_space
from ...goparity.timefmt import is_zero_time
from .archive import ArchiveError, extract_tar_gz
from .catalog import ManagedRuntimeBundleCatalog
from .layout import (
    PREVIOUS_SUFFIX,
    STAGING_DIR,
    BundleLocation,
    CommandPathError,
    InstallManifest,
    ManifestError,
    bundle_lock,
    check_command_path,
    file_digests,
    locate_bundle,
    read_manifest,
    require_scoped_manifest,
    write_manifest,
)
from .signature import SignatureError, verify_detached_signature
from .sources import DefaultObjectSource, ObjectFetchError, ObjectRequest, ObjectSource

PROTOCOL_VERSION = "compute.v1alpha1"
DOCTOR_OK = "ok"
DOCTOR_MISSING = "missing"
DOCTOR_DEGRADED = "degraded"


# --- results --------------------------------------------------------------------------------------


class ManagedRuntimeInstallResult(WireModel):
    bundle_id: str = ""
    version: str = ""
    root: str = ""
    command_path: str = ""
    manifest_path: str = ""
    artifact_digest: str = ""
    checksum_digest: str = ""
    signature_digest: str = ""
    trust_root_digest: str = ""
    scoped_store_enforced: bool = False
    host_global_store_excluded: bool = False
    file_digests: dict[str, str] | None = None
    installed_at: GoTime = ZERO_TIME


class ManagedRuntimeDoctorResult(WireModel):
    __omit__: ClassVar[dict[str, OmitRule]] = {
        name: "empty"
        for name in (
            "version",
            "root",
            "command_path",
            "manifest_path",
            "artifact_digest",
            "signature_digest",
            "scoped_store_enforced",
            "host_global_store_excluded",
            "reason",
        )
    }

    status: str = ""
    bundle_id: str = ""
    version: str = ""
    root: str = ""
    command_path: str = ""
    manifest_path: str = ""
    artifact_digest: str = ""
    signature_digest: str = ""
    scoped_store_enforced: bool = False
    host_global_store_excluded: bool = False
    reason: str = ""


class ManagedRuntimeUninstallResult(WireModel):
    bundle_id: str = ""
    root: str = ""
    removed: bool = False
    scoped_only: bool = False
    manifest_path: str = ""


class ManagedRuntimeReinstallResult(WireModel):
    uninstall: ManagedRuntimeUninstallResult
    install: ManagedRuntimeInstallResult
    doctor: ManagedRuntimeDoctorResult


@dataclass(frozen=True)
class BundleRequest:
    bundle_id: str
    target_os: str = ""
    target_arch: str = ""


# --- installer ------------------------------------------------------------------------------------


class ManagedRuntimeBundleInstaller:
    """Operations on one install root, driven by one catalog."""

    def __init__(
        self,
        catalog: ManagedRuntimeBundleCatalog,
        install_root: str,
        *,
        source: ObjectSource | None = None,
        now: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.install_root = install_root
        self.source: ObjectSource = source or DefaultObjectSource()
        self._clock = now

    def now(self) -> datetime:
        if self._clock is not None:
            value = self._clock()
            if value is not None and not is_zero_time(value):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=UTC)
                return value.astimezone(UTC)
        return datetime.now(UTC)

    async def install(self, request: BundleRequest) -> ManagedRuntimeInstallResult:
        await anyio.lowlevel.checkpoint()
        now = self.now()
        bundle = self.catalog.bundle_for_target(
            request.bundle_id, request.target_os, request.target_arch, now
        )
        location = locate_bundle(self.install_root, request.bundle_id)
        with bundle_lock(location.install_root, request.bundle_id):
            _require_replaceable(location)
            objects = await self._fetch_verified(bundle)
            return await anyio.to_thread.run_sync(
                _stage_and_promote, bundle, location, objects, now
            )

    async def doctor(self, request: BundleRequest) -> ManagedRuntimeDoctorResult:
        await anyio.lowlevel.checkpoint()
        now = self.now()
        bundle = self.catalog.bundle_for_target(
            request.bundle_id, request.target_os, request.target_arch, now
        )
        location = locate_bundle(self.install_root, request.bundle_id)
        return await anyio.to_thread.run_sync(_doctor, bundle, location)

    async def uninstall(self, request: BundleRequest) -> ManagedRuntimeUninstallResult:
        await anyio.lowlevel.checkpoint()
        location = locate_bundle(self.install_root, request.bundle_id)
        with bundle_lock(location.install_root, request.bundle_id):
            removed = False
            if _exists(location.bundle_root):
                require_scoped_manifest(location)
                await anyio.to_thread.run_sync(_remove_tree, location.bundle_root)
                removed = True
        return ManagedRuntimeUninstallResult(
            bundle_id=request.bundle_id,
            root=location.bundle_root,
            removed=removed,
            scoped_only=True,
            manifest_path=location.manifest_path,
        )

    async def reinstall(self, request: BundleRequest) -> ManagedRuntimeReinstallResult:
        location = locate_bundle(self.install_root, request.bundle_id)
        replaced = _exists(location.bundle_root)
        installed = await self.install(request)
        checked = await self.doctor(request)
        return ManagedRuntimeReinstallResult(
            uninstall=ManagedRuntimeUninstallResult(
                bundle_id=request.bundle_id,
                root=installed.root,
                removed=replaced,
                scoped_only=True,
                manifest_path=installed.manifest_path,
            ),
            install=installed,
            doctor=checked,
        )

    async def _fetch_verified(self, bundle: ManagedRuntimeBundleDescriptor) -> _VerifiedObjects:
        artifact = await self._fetch(
            bundle, "artifact", bundle.artifact_name, bundle.artifact_digest
        )
        checksum = await self._fetch(
            bundle, "checksum", bundle.checksum_name, bundle.checksum_digest
        )
        signature = await self._fetch(
            bundle, "signature", bundle.signature_name, bundle.signature_digest
        )
        trust_root = self.catalog.trust_root_for_bundle(bundle)
        key = await self._fetch(
            bundle, "trust root", trust_root.name, trust_root.digest, url=trim_space(trust_root.url)
        )
        _require_checksum_pin(checksum, bundle)
        await _require_signature(key, signature, checksum, bundle)
        return _VerifiedObjects(artifact=artifact)

    async def _fetch(
        self,
        bundle: ManagedRuntimeBundleDescriptor,
        kind: str,
        name: str,
        digest: str,
        *,
        url: str = "",
    ) -> bytes:
        """One pinned object, from `url` or else from the catalog's source base URL."""
        url = url or _object_url(self.catalog.source_base_url, name)
        if trim_space(name) == "":
            raise InvalidInput(f"managed runtime {kind} object name is required")
        if trim_space(digest) == "":
            raise InvalidInput(f"managed runtime {kind} digest is required")
        try:
            data = await self.source.fetch(
                ObjectRequest(bundle_id=bundle.bundle_id, kind=kind, name=name, url=url)
            )
        except ObjectFetchError as err:
            raise RuntimeFailure(f"fetch managed runtime {kind} object: {err}") from err
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != trim_space(digest):
            raise InvalidInput(
                f"managed runtime {kind} digest mismatch: got {got} want {trim_space(digest)}"
            )
        return data


@dataclass(frozen=True)
class _VerifiedObjects:
    artifact: bytes


def _object_url(base: str, name: str) -> str:
    trimmed = trim_space(base).rstrip("/")
    return name if trimmed == "" else f"{trimmed}/{name}"


def _require_checksum_pin(checksum: bytes, bundle: ManagedRuntimeBundleDescriptor) -> None:
    want = bundle.artifact_digest.removeprefix("sha256:")
    text = checksum.decode("utf-8", "surrogateescape")
    for line in text.split("\n"):
        parts = fields(line)
        if len(parts) >= 2 and parts[0] == want and parts[-1] == bundle.artifact_name:
            return
    raise InvalidInput(
        f"managed runtime checksum object does not pin artifact {quote(bundle.artifact_name)} "
        f"to {bundle.artifact_digest}"
    )


async def _require_signature(
    trust_root: bytes, signature: bytes, checksum: bytes, bundle: ManagedRuntimeBundleDescriptor
) -> None:
    if len(signature) == 0:
        raise InvalidInput("managed runtime signature object is empty")
    try:
        signer = await verify_detached_signature(trust_root, signature, checksum)
    except SignatureError as err:
        raise InvalidInput(str(err)) from err
    if signer.primary_key_id.upper() != bundle.signature_key_id.upper():
        raise InvalidInput(
            f"managed runtime signature signer {quote(signer.primary_key_id)} "
            f"does not match pinned key {quote(bundle.signature_key_id)}"
        )


def _exists(path: str) -> bool:
    """Go os.Stat: links are followed, so a dangling symlink does not exist."""
    try:
        os.stat(path)
    except (OSError, ValueError) as exc:
        err = os_error_of(exc)
        if is_not_exist(err):
            return False
        raise InvalidInput(path_error("stat", path, err)) from exc
    return True


def _require_replaceable(location: BundleLocation) -> None:
    """An existing bundle root is replaced only when its manifest says it is ours."""
    if not _exists(location.bundle_root):
        return
    try:
        require_scoped_manifest(location)
    except InvalidInput as err:
        raise InvalidInput(
            f"managed runtime install manifest is required before replacement: {err}"
        ) from err


def _stage_and_promote(
    bundle: ManagedRuntimeBundleDescriptor,
    location: BundleLocation,
    objects: _VerifiedObjects,
    now: datetime,
) -> ManagedRuntimeInstallResult:
    staging = join(location.install_root, STAGING_DIR)
    # Staging is a local refusal (-32010), not a fetch or transport failure.
    try:
        mkdir_all(location.install_root, 0o700)
        mkdir_all(staging, 0o700)
    except OSError as err:
        raise InvalidInput(str(err)) from err
    try:
        stage = tempfile.mkdtemp(prefix=f"{bundle.bundle_id}-", dir=staging)
    except OSError as err:
        raise InvalidInput(path_error("mkdir", err.filename or staging, err)) from err
    promoted = False
    try:
        try:
            extract_tar_gz(io.BytesIO(objects.artifact), stage)
        except ArchiveError as err:
            raise InvalidInput(str(err)) from err
        try:
            check_command_path(stage)
        except CommandPathError as err:
            raise InvalidInput(f"managed runtime command: {err}") from err
        digests = file_digests(stage)
        result = ManagedRuntimeInstallResult(
            bundle_id=bundle.bundle_id,
            version=bundle.version,
            root=location.bundle_root,
            command_path=location.command_path,
            manifest_path=location.manifest_path,
            artifact_digest=bundle.artifact_digest,
            checksum_digest=bundle.checksum_digest,
            signature_digest=bundle.signature_digest,
            trust_root_digest=bundle.trust_root_digest,
            scoped_store_enforced=bundle.scoped_store.required,
            host_global_store_excluded=bundle.scoped_store.host_global_visibility_forbidden,
            file_digests=digests,
            installed_at=now,
        )
        write_manifest(stage, _manifest_for(bundle, result))
        _promote(stage, location.bundle_root)
        promoted = True
        return result
    finally:
        if not promoted:
            _remove_tree(stage)


def _manifest_for(
    bundle: ManagedRuntimeBundleDescriptor, result: ManagedRuntimeInstallResult
) -> InstallManifest:
    return InstallManifest(
        protocol_version=PROTOCOL_VERSION,
        bundle_id=bundle.bundle_id,
        version=bundle.version,
        os=bundle.os,
        arch=bundle.arch,
        root=result.root,
        command_path=result.command_path,
        artifact_name=bundle.artifact_name,
        artifact_digest=bundle.artifact_digest,
        checksum_name=bundle.checksum_name,
        checksum_digest=bundle.checksum_digest,
        signature_name=bundle.signature_name,
        signature_digest=bundle.signature_digest,
        signature_key_id=bundle.signature_key_id,
        trust_root_digest=bundle.trust_root_digest,
        scoped_store_enforced=result.scoped_store_enforced,
        host_global_store_excluded=result.host_global_store_excluded,
        file_digests=result.file_digests,
        installed_at=result.installed_at,
    )


def _promote(stage: str, bundle_root: str) -> None:
    previous = bundle_root + PREVIOUS_SUFFIX
    _remove_tree(previous)
    moved_aside = _exists(bundle_root)
    if moved_aside:
        _rename(bundle_root, previous)
    try:
        _rename(stage, bundle_root)
    except InvalidInput:
        if moved_aside:
            with suppress(OSError):
                os.rename(previous, bundle_root)
        raise
    _remove_tree(previous)


def _rename(old: str, new: str) -> None:
    """os.rename with Go's *LinkError text, `rename <old> <new>: <err>`."""
    try:
        os.rename(old, new)
    except (OSError, ValueError) as exc:
        err = os_error_of(exc)
        raise InvalidInput(f"rename {old} {new}: {errno_text(err)}") from exc


def _remove_tree(path: str) -> None:
    """Remove a directory tree (never following links); a missing path is fine."""
    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.remove(path)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass


def _doctor(
    bundle: ManagedRuntimeBundleDescriptor, location: BundleLocation
) -> ManagedRuntimeDoctorResult:
    try:
        manifest = read_manifest(location)
    except ManifestError as err:
        if err.missing:
            return ManagedRuntimeDoctorResult(
                status=DOCTOR_MISSING,
                bundle_id=bundle.bundle_id,
                root=location.bundle_root,
                manifest_path=location.manifest_path,
                reason="install manifest is missing",
            )
        raise InvalidInput(str(err)) from err
    result = ManagedRuntimeDoctorResult(
        status=DOCTOR_OK,
        bundle_id=bundle.bundle_id,
        version=manifest.version,
        root=location.bundle_root,
        command_path=location.command_path,
        manifest_path=location.manifest_path,
        artifact_digest=manifest.artifact_digest,
        signature_digest=manifest.signature_digest,
        scoped_store_enforced=manifest.scoped_store_enforced,
        host_global_store_excluded=manifest.host_global_store_excluded,
    )
    status, reason = _doctor_finding(bundle, location, manifest)
    result.status = status
    result.reason = reason
    return result


def _doctor_finding(
    bundle: ManagedRuntimeBundleDescriptor, location: BundleLocation, manifest: InstallManifest
) -> tuple[str, str]:
    if (
        manifest.bundle_id != bundle.bundle_id
        or manifest.artifact_digest != bundle.artifact_digest
        or manifest.signature_digest != bundle.signature_digest
        or manifest.trust_root_digest != bundle.trust_root_digest
    ):
        return DOCTOR_DEGRADED, "install manifest does not match pinned bundle metadata"
    if manifest.command_path != location.command_path or manifest.root != location.bundle_root:
        return DOCTOR_DEGRADED, "install manifest path scope does not match scoped root"
    if not manifest.scoped_store_enforced or not manifest.host_global_store_excluded:
        return DOCTOR_DEGRADED, "scoped store policy is not enforced"
    try:
        check_command_path(location.bundle_root)
    except CommandPathError as err:
        return (DOCTOR_MISSING if err.missing else DOCTOR_DEGRADED), str(err)
    if not manifest.file_digests:
        return DOCTOR_DEGRADED, "managed runtime install manifest has no file digests"
    try:
        actual = file_digests(location.bundle_root, skip_manifest=True)
    except PluginError as err:
        return DOCTOR_DEGRADED, str(err)
    if len(actual) != len(manifest.file_digests):
        return (
            DOCTOR_DEGRADED,
            "managed runtime file digest set changed: "
            f"got {len(actual)} want {len(manifest.file_digests)}",
        )
    for relative, want in manifest.file_digests.items():
        # Go reads a missing key as "", so an empty wanted digest matches an absent file.
        if actual.get(relative, "") != want:
            return DOCTOR_DEGRADED, f"managed runtime file digest mismatch for {relative}"
    return DOCTOR_OK, ""
