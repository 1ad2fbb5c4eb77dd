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
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from ...core.enums import PROTOCOL_VERSION
from ...core.managed_bundle import ManagedRuntimeBundleDescriptor
from ...core.wire import ZERO_TIME, GoTime, OmitRule, WireModel
from ...errors import InvalidInput, PluginError, RuntimeFailure
from ...goparity.oserror import path_error
from ...goparity.paths import join
from ...goparity.text import fields, quote, trim_space
from ...goparity.timefmt import is_zero_time
from ...workspace.paths import same_file
from .archive import ArchiveError, ExtractionStopped, ExtractLimits, extract_tar_gz
from .catalog import ManagedRuntimeBundleCatalog
from .layout import (
    LOCKS_DIR,
    STAGING_DIR,
    BundleLocation,
    CommandPathError,
    InstallManifest,
    ManifestError,
    check_command_path_at,
    file_digests_at,
    locate_bundle,
    read_manifest_at,
    require_scoped_manifest,
    write_manifest_at,
)
from .rootdir import (
    DIR_FLAGS,
    InstallRoot,
    bundle_lock,
    lstat_at,
    open_child_dir,
    open_install_root,
    remove_tree_at,
    rename_noreplace,
    unique_name,
)
from .signature import SignatureError, verify_detached_signature
from .sources import (
    DefaultObjectSource,
    ObjectFetchError,
    ObjectRequest,
    ObjectSource,
    is_local_url,
)

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
        result, _ = await self._install(request)
        return result

    async def _install(self, request: BundleRequest) -> tuple[ManagedRuntimeInstallResult, bool]:
        """The install, and whether it replaced an installed bundle."""
        await anyio.lowlevel.checkpoint()
        now = self.now()
        bundle = self.catalog.bundle_for_target(
            request.bundle_id, request.target_os, request.target_arch, now
        )
        location = locate_bundle(self.install_root, request.bundle_id)
        with open_install_root(location.install_root, create=True) as root:
            assert root is not None
            with (
                bundle_lock(root, LOCKS_DIR, request.bundle_id),
                _bundle_work(root, location, request.bundle_id) as work,
            ):
                _require_replaceable(work)
                objects = await self._fetch_verified(bundle)
                return await _run_stoppable(
                    lambda stop: _stage_and_promote(work, bundle, objects, now, stop)
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
        removed = False
        with open_install_root(location.install_root, create=False) as root:
            if root is not None:
                with (
                    bundle_lock(root, LOCKS_DIR, request.bundle_id),
                    _bundle_work(root, location, request.bundle_id) as work,
                ):
                    removed = await _run_stoppable(lambda stop: _remove_bundle(work))
        return ManagedRuntimeUninstallResult(
            bundle_id=request.bundle_id,
            root=location.bundle_root,
            removed=removed,
            scoped_only=True,
            manifest_path=location.manifest_path,
        )

    async def reinstall(self, request: BundleRequest) -> ManagedRuntimeReinstallResult:
        installed, replaced = await self._install(request)
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
            if is_local_url(url):
                # Not the pinned object: a local file's digest is not ours to publish.
                raise InvalidInput(
                    f"managed runtime {kind} digest mismatch: want {trim_space(digest)}"
                )
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


T = TypeVar("T")
_STOP_POLL_SECONDS = 0.02


async def _run_stoppable(work: Callable[[threading.Event], T]) -> T:
    """Run blocking `work` in a thread; a cancel (request cancel, shutdown) sets its stop
    event and waits, shielded, until it has ended and cleaned up (stage removed) before the
    lock is released and the cancel goes on."""
    stop = threading.Event()
    done = threading.Event()

    def run() -> T:
        try:
            return work(stop)
        finally:
            done.set()

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        stop.set()
        with anyio.CancelScope(shield=True):
            while not done.is_set():
                await anyio.sleep(_STOP_POLL_SECONDS)
        raise


@dataclass
class _Work:
    """One operation on one bundle: the held root and this bundle's own staging directory."""

    root: InstallRoot
    location: BundleLocation
    bundle_id: str
    staging_fd: int

    @property
    def staging_path(self) -> str:
        return join(self.root.path, STAGING_DIR, self.bundle_id)

    def shown(self, name: str) -> str:
        return join(self.staging_path, name)

    def move_in(self, name: str) -> None:
        """``.staging/<id>/<name>`` becomes the bundle root (never over anything)."""
        rename_noreplace(
            self.staging_fd,
            name,
            self.root.fd,
            self.bundle_id,
            self.shown(name),
            self.location.bundle_root,
        )

    def move_out(self, name: str) -> None:
        """The bundle root becomes ``.staging/<id>/<name>``."""
        rename_noreplace(
            self.root.fd,
            self.bundle_id,
            self.staging_fd,
            name,
            self.location.bundle_root,
            self.shown(name),
        )


@contextmanager
def _bundle_work(root: InstallRoot, location: BundleLocation, bundle_id: str) -> Iterator[_Work]:
    """Open ``.staging/<bundle-id>``, clear what a killed operation on this bundle left there
    (we hold the bundle's lock: nothing else can be using it) and remove it, empty, at the
    end."""
    staging = root.subdir(STAGING_DIR, create=True)
    assert staging is not None
    shown = join(root.path, STAGING_DIR, bundle_id)
    own = open_child_dir(staging, bundle_id, shown, create=True)
    assert own is not None
    root.adopt(own)
    work = _Work(root=root, location=location, bundle_id=bundle_id, staging_fd=own)
    try:
        for name in os.listdir(own):
            remove_tree_at(own, name, work.shown(name))
        yield work
    finally:
        with suppress(OSError):
            os.rmdir(bundle_id, dir_fd=staging)


def _bundle_dir(work: _Work) -> tuple[int, os.stat_result] | None:
    """The installed bundle root, opened without following a link; None when absent."""
    shown = work.location.bundle_root
    info = lstat_at(work.root.fd, work.bundle_id)
    if info is None:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInput(f"managed runtime bundle root {quote(shown)} is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"managed runtime bundle root {quote(shown)} is not a directory")
    fd = open_child_dir(work.root.fd, work.bundle_id, shown, create=False)
    if fd is None or not same_file(os.fstat(fd), info):
        if fd is not None:
            os.close(fd)
        raise InvalidInput(f"managed runtime bundle root {quote(shown)} changed while opening")
    return fd, info


def _require_replaceable(work: _Work) -> None:
    """An existing bundle root is replaced only when its manifest says it is ours."""
    current = _bundle_dir(work)
    if current is None:
        return
    fd, _ = current
    try:
        require_scoped_manifest(fd, work.location)
    except InvalidInput as err:
        raise InvalidInput(
            f"managed runtime install manifest is required before replacement: {err}"
        ) from err
    finally:
        os.close(fd)


def _move_aside(work: _Work) -> str | None:
    """Move the installed bundle root (checked to be ours, and checked again to be the very
    directory that was moved) into this bundle's staging directory; its name there."""
    current = _bundle_dir(work)
    if current is None:
        return None
    fd, info = current
    try:
        require_scoped_manifest(fd, work.location)
    finally:
        os.close(fd)
    old = unique_name("old")
    work.move_out(old)
    moved = lstat_at(work.staging_fd, old)
    if moved is None or not same_file(moved, info):
        work.move_in(old)
        raise InvalidInput(
            f"managed runtime bundle root {quote(work.location.bundle_root)} changed meanwhile"
        )
    return old


def _remove_bundle(work: _Work) -> bool:
    old = _move_aside(work)
    if old is None:
        return False
    remove_tree_at(work.staging_fd, old, work.shown(old))
    return True


def _stage_and_promote(
    work: _Work,
    bundle: ManagedRuntimeBundleDescriptor,
    objects: _VerifiedObjects,
    now: datetime,
    stop: threading.Event,
) -> tuple[ManagedRuntimeInstallResult, bool]:
    location = work.location
    name = unique_name("new")
    stage = work.shown(name)
    # Staging is a local refusal (-32010), not a fetch or transport failure.
    try:
        os.mkdir(name, 0o700, dir_fd=work.staging_fd)
        stage_fd = os.open(name, DIR_FLAGS, dir_fd=work.staging_fd)
    except OSError as err:
        raise InvalidInput(path_error("mkdir", stage, err)) from err
    promoted = False
    try:
        try:
            extract_tar_gz(io.BytesIO(objects.artifact), stage_fd, ExtractLimits(stop=stop))
        except ArchiveError as err:
            raise InvalidInput(str(err)) from err
        try:
            check_command_path_at(stage_fd, stage)
        except CommandPathError as err:
            raise InvalidInput(f"managed runtime command: {err}") from err
        digests = file_digests_at(stage_fd, stage)
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
        write_manifest_at(stage_fd, _manifest_for(bundle, result))
        if stop.is_set():
            raise ExtractionStopped
        replaced = _promote(work, name)
        promoted = True
        return result, replaced
    finally:
        os.close(stage_fd)
        if not promoted:
            remove_tree_at(work.staging_fd, name, stage)


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


def _promote(work: _Work, stage_name: str) -> bool:
    """Put the stage in the bundle's place (never over anything); the replaced root, moved
    aside first, comes back if that fails and is removed once it succeeded."""
    try:
        old = _move_aside(work)
    except InvalidInput as err:
        raise InvalidInput(
            f"managed runtime install manifest is required before replacement: {err}"
        ) from err
    try:
        work.move_in(stage_name)
    except InvalidInput:
        if old is not None:
            with suppress(InvalidInput):
                work.move_in(old)
        raise
    if old is not None:
        remove_tree_at(work.staging_fd, old, work.shown(old))
    return old is not None


def _doctor(
    bundle: ManagedRuntimeBundleDescriptor, location: BundleLocation
) -> ManagedRuntimeDoctorResult:
    missing = ManagedRuntimeDoctorResult(
        status=DOCTOR_MISSING,
        bundle_id=bundle.bundle_id,
        root=location.bundle_root,
        manifest_path=location.manifest_path,
        reason="install manifest is missing",
    )
    with open_install_root(location.install_root, create=False) as root:
        if root is None:
            return missing
        bundle_fd = open_child_dir(root.fd, bundle.bundle_id, location.bundle_root, create=False)
        if bundle_fd is None:
            return missing
        try:
            return _doctor_at(bundle, location, bundle_fd, missing)
        finally:
            os.close(bundle_fd)


def _doctor_at(
    bundle: ManagedRuntimeBundleDescriptor,
    location: BundleLocation,
    bundle_fd: int,
    missing: ManagedRuntimeDoctorResult,
) -> ManagedRuntimeDoctorResult:
    try:
        manifest = read_manifest_at(bundle_fd, location)
    except ManifestError as err:
        if err.missing:
            return missing
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
    status, reason = _doctor_finding(bundle, location, manifest, bundle_fd)
    result.status = status
    result.reason = reason
    return result


def _doctor_finding(
    bundle: ManagedRuntimeBundleDescriptor,
    location: BundleLocation,
    manifest: InstallManifest,
    bundle_fd: int,
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
        check_command_path_at(bundle_fd, location.bundle_root)
    except CommandPathError as err:
        return (DOCTOR_MISSING if err.missing else DOCTOR_DEGRADED), str(err)
    if not manifest.file_digests:
        return DOCTOR_DEGRADED, "managed runtime install manifest has no file digests"
    try:
        actual = file_digests_at(bundle_fd, location.bundle_root, skip_manifest=True)
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
