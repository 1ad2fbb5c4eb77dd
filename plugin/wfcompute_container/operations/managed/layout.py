"""The install root on disk: scoped bundle roots, the per-bundle lock, the manifest, digests.

```
<install-root>/                 absolute, no symlink anywhere in its path
  .locks/<bundle-id>.lock       exclusive while an install/uninstall runs
  .staging/<bundle-id>-<rand>/  extraction stage, promoted by rename
  <bundle-id>/                  the installed bundle (bin/nerdctl, manifest, archive content)
```
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from pydantic import ConfigDict

from ...core.wire import ZERO_TIME, GoTime, WireModel
from ...errors import InvalidInput
from ...goparity.dirs import mkdir_all
from ...goparity.jsondecode import GoJSONError, unmarshal_document
from ...goparity.jsonenc import marshal_indent
from ...goparity.oserror import is_not_exist, os_error_of, path_error, read_file
from ...goparity.paths import abs_path, clean, escapes, join, rel
from ...goparity.text import quote, trim_space
from .archive import MANIFEST_NAME, ArchiveError, check_symlink_target

COMMAND_RELATIVE_PATH = "bin/nerdctl"
LOCKS_DIR = ".locks"
STAGING_DIR = ".staging"
PREVIOUS_SUFFIX = ".previous"
"""``<bundle-id>.previous`` holds the old bundle while a reinstall promotes the new one."""

ALLOW_SYSTEM_ROOT_ENV = "WFCOMPUTE_MANAGED_ALLOW_SYSTEM_ROOT"
"""Set to 1 to let an operator install under a system directory on purpose."""
_SYSTEM_DIRS = ("/etc", "/usr", "/bin", "/sbin", "/proc", "/sys", "/dev", "/boot")


class InstallManifest(WireModel):
    """What an install wrote, pinned digests and per-file digests included."""

    # Written by us, but read back like Go would: unknown keys are ignored.
    model_config = ConfigDict(extra="ignore")

    protocol_version: str = ""
    bundle_id: str = ""
    version: str = ""
    os: str = ""
    arch: str = ""
    root: str = ""
    command_path: str = ""
    artifact_name: str = ""
    artifact_digest: str = ""
    checksum_name: str = ""
    checksum_digest: str = ""
    signature_name: str = ""
    signature_digest: str = ""
    signature_key_id: str = ""
    trust_root_digest: str = ""
    scoped_store_enforced: bool = False
    host_global_store_excluded: bool = False
    file_digests: dict[str, str] | None = None
    installed_at: GoTime = ZERO_TIME

    def to_file_bytes(self) -> bytes:
        return (marshal_indent(self.to_wire()) + "\n").encode("utf-8")


@dataclass(frozen=True)
class BundleLocation:
    install_root: str
    """Absolute install root."""
    bundle_root: str
    """`<install_root>/<bundle_id>`."""

    @property
    def manifest_path(self) -> str:
        return join(self.bundle_root, MANIFEST_NAME)

    @property
    def command_path(self) -> str:
        return join(self.bundle_root, COMMAND_RELATIVE_PATH)


def locate_bundle(install_root: str, bundle_id: str) -> BundleLocation:
    """Resolve the scoped bundle root; refuses unsafe ids and symlinks in the root's path."""
    if trim_space(install_root) == "":
        raise InvalidInput("managed runtime install root is required")
    if not _safe_bundle_id(bundle_id):
        raise InvalidInput(f"unsafe managed runtime bundle id {quote(bundle_id)}")
    if (
        bundle_id.startswith(".")
        or bundle_id.endswith(PREVIOUS_SUFFIX)
        or bundle_id == MANIFEST_NAME
    ):
        raise InvalidInput(
            f"managed runtime bundle id {quote(bundle_id)} collides with the plugin's own names "
            f"(a leading dot, a {PREVIOUS_SUFFIX!s} suffix or the manifest name)"
        )
    root = clean(abs_path(install_root))
    if _is_system_dir(root) and os.environ.get(ALLOW_SYSTEM_ROOT_ENV) != "1":
        raise InvalidInput(
            f"managed runtime install root {quote(root)} is a system directory "
            f"(set {ALLOW_SYSTEM_ROOT_ENV}=1 to allow it)"
        )
    reject_symlinks_in_root_path(root)
    bundle_root = join(root, bundle_id)
    relative = rel(root, bundle_root)
    if relative == "." or escapes(relative):
        raise InvalidInput(f"managed runtime path {quote(bundle_root)} escapes root {quote(root)}")
    return BundleLocation(install_root=root, bundle_root=bundle_root)


def _is_system_dir(root: str) -> bool:
    """`/`, or a path in /etc, /usr, /bin, /sbin, /lib*, /proc, /sys, /dev or /boot."""
    if root == "/":
        return True
    top = "/" + root.split("/")[1]
    return top in _SYSTEM_DIRS or top.startswith("/lib")


def _safe_bundle_id(bundle_id: str) -> bool:
    return not (
        trim_space(bundle_id) == ""
        or bundle_id in (".", "..")
        or bundle_id.startswith("/")
        or "/" in bundle_id
        or "\\" in bundle_id
        or clean(bundle_id) != bundle_id
    )


def reject_symlinks_in_root_path(root: str) -> None:
    """Every existing component of `root` must be a real directory entry, not a symlink."""
    current = "/"
    for part in [p for p in root.split("/") if p]:
        current = join(current, part)
        try:
            info = os.lstat(current)
        except (OSError, ValueError) as exc:
            err = os_error_of(exc)
            if is_not_exist(err):
                return
            raise InvalidInput(path_error("lstat", current, err)) from exc
        if stat.S_ISLNK(info.st_mode):
            raise InvalidInput(
                f"managed runtime install root path {quote(root)} contains symlink {quote(current)}"
            )


@contextmanager
def bundle_lock(install_root: str, bundle_id: str) -> Iterator[None]:
    """Exclusive per-bundle lock file holding our pid; no stale-lock recovery, by design."""
    locks = join(install_root, LOCKS_DIR)
    try:
        mkdir_all(locks, 0o700)
    except OSError as err:
        raise InvalidInput(str(err)) from err
    lock_path = join(locks, f"{bundle_id}.lock")
    try:
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError as err:
        raise InvalidInput(f"managed runtime bundle {quote(bundle_id)} is already locked") from err
    except (OSError, ValueError) as err:
        raise InvalidInput(path_error("open", lock_path, os_error_of(err))) from err
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            os.remove(lock_path)


class ManifestError(Exception):
    """The manifest is missing, unreadable or does not describe this bundle root."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def read_manifest(location: BundleLocation) -> InstallManifest:
    """The manifest, read back as Go's decoder reads it (Go's texts, keys matched exactly or
    case-folded, unknown keys ignored)."""
    path = location.manifest_path
    try:
        data = read_file(path)
    except OSError as err:
        raise ManifestError(str(err), missing=is_not_exist(err)) from err
    try:
        return unmarshal_document(data, InstallManifest, "managed runtime install manifest")
    except GoJSONError as err:
        raise ManifestError(str(err)) from err


def require_scoped_manifest(location: BundleLocation) -> InstallManifest:
    """The existing bundle root must carry a manifest naming exactly this scoped root."""
    try:
        manifest = read_manifest(location)
    except ManifestError as err:
        raise InvalidInput(
            f"managed runtime install manifest is required before uninstall: {err}"
        ) from err
    bundle_id = location.bundle_root.rsplit("/", 1)[-1]
    if (
        manifest.bundle_id != bundle_id
        or manifest.root != location.bundle_root
        or manifest.command_path != location.command_path
    ):
        raise InvalidInput("managed runtime install manifest does not match scoped bundle root")
    return manifest


def write_manifest(directory: str, manifest: InstallManifest) -> None:
    path = join(directory, MANIFEST_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(manifest.to_file_bytes())


class CommandPathError(Exception):
    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def check_command_path(base: str) -> str:
    """`<base>/bin/nerdctl` must exist under `base` with no symlink component, not a directory."""
    target = join(base, COMMAND_RELATIVE_PATH)
    relative = rel(base, target)
    if relative == "." or escapes(relative):
        raise CommandPathError(f"managed runtime path {quote(target)} escapes root {quote(base)}")
    current = base
    info: os.stat_result | None = None
    for part in relative.split("/"):
        current = join(current, part)
        try:
            info = os.lstat(current)
        except OSError as err:
            raise CommandPathError(
                path_error("lstat", current, err), missing=is_not_exist(err)
            ) from err
        if stat.S_ISLNK(info.st_mode):
            raise CommandPathError(
                f"managed runtime path {quote(target)} contains symlink {quote(current)}"
            )
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise CommandPathError(f"{quote(target)} is a directory")
    return target


def file_digests(root: str, *, skip_manifest: bool = False) -> dict[str, str]:
    """Digest of every non-directory below `root`, keyed by `/`-separated relative path.

    Walks in Go WalkDir order (entries sorted by name, depth first); symlinks are recorded by
    their target text and never followed.
    """
    digests: dict[str, str] = {}
    _walk_digests(root, "", digests, skip_manifest)
    return digests


def _walk_digests(root: str, prefix: str, out: dict[str, str], skip_manifest: bool) -> None:
    directory = join(root, prefix) if prefix else root
    try:
        names = sorted(os.listdir(directory), key=lambda n: n.encode("utf-8", "surrogateescape"))
    except OSError as err:
        raise InvalidInput(path_error("open", directory, err)) from err
    for name in names:
        relative = f"{prefix}/{name}" if prefix else name
        if skip_manifest and relative == MANIFEST_NAME:
            continue
        path = join(root, relative)
        try:
            info = os.lstat(path)
        except OSError as err:
            raise InvalidInput(path_error("lstat", path, err)) from err
        if stat.S_ISDIR(info.st_mode):
            _walk_digests(root, relative, out, skip_manifest)
        elif stat.S_ISLNK(info.st_mode):
            target = os.readlink(path)
            try:
                check_symlink_target(relative, target)
            except ArchiveError as err:
                raise InvalidInput(str(err)) from err
            out[relative] = _sha256(b"symlink:" + target.encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(info.st_mode):
            out[relative] = _file_sha256(path)
        else:
            raise InvalidInput(f"managed runtime path {quote(path)} is not a regular file")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
