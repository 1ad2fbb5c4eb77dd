"""The install root on disk: scoped bundle roots, the per-bundle lock, the manifest, digests.

```
<install-root>/                 absolute, no symlink anywhere in its path
  .locks/<bundle-id>.lock       flock held while an install/uninstall runs
  .staging/<bundle-id>/         this bundle's work: new-<rand>/ (the extraction stage, promoted
                                by rename) and old-<rand>/ (the replaced or uninstalled root)
  <bundle-id>/                  the installed bundle (bin/nerdctl, manifest, archive content)
```

Everything on disk is reached through the held install root descriptor (rootdir.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from pydantic import ConfigDict

from ...core.wire import ZERO_TIME, GoTime, WireModel
from ...errors import InvalidInput
from ...goparity.jsondecode import GoJSONError, unmarshal_document
from ...goparity.jsonenc import marshal_indent
from ...goparity.oserror import is_not_exist, os_error_of, path_error
from ...goparity.paths import abs_path, clean, escapes, join, rel
from ...goparity.text import quote, trim_space
from ...workspace.dir_stack import DirectoryMoved, DirStack
from ...workspace.paths import read_regular_file
from .archive import MANIFEST_NAME, ArchiveError, check_symlink_target
from .rootdir import DIR_FLAGS

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


class ManifestError(Exception):
    """The manifest is missing, unreadable or does not describe this bundle root."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""An install manifest larger than this is not one we wrote (20,000 entries take ~3 MiB)."""


def read_manifest_at(bundle_fd: int, location: BundleLocation) -> InstallManifest:
    """The manifest below an open bundle root, read back as Go's decoder reads it (Go's
    texts, keys matched exactly or case-folded, unknown keys ignored)."""
    try:
        data = read_regular_file(
            MANIFEST_NAME, MAX_MANIFEST_BYTES, dir_fd=bundle_fd, path=location.manifest_path
        )
    except OSError as err:
        raise ManifestError(str(err), missing=is_not_exist(err)) from err
    try:
        return unmarshal_document(data, InstallManifest, "managed runtime install manifest")
    except GoJSONError as err:
        raise ManifestError(str(err)) from err


def require_scoped_manifest(bundle_fd: int, location: BundleLocation) -> InstallManifest:
    """The open bundle root must carry a manifest naming exactly this scoped root."""
    try:
        manifest = read_manifest_at(bundle_fd, location)
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


def write_manifest_at(directory_fd: int, manifest: InstallManifest) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(MANIFEST_NAME, flags, 0o600, dir_fd=directory_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(manifest.to_file_bytes())


class CommandPathError(Exception):
    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def check_command_path_at(base_fd: int, base: str) -> str:
    """`<base>/bin/nerdctl` must exist below the open `base` with no symlink component, and
    not be a directory."""
    target = join(base, COMMAND_RELATIVE_PATH)
    parts = COMMAND_RELATIVE_PATH.split("/")
    current = base
    dir_fd = base_fd
    opened: list[int] = []
    try:
        for index, part in enumerate(parts):
            current = join(current, part)
            try:
                info = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as err:
                raise CommandPathError(
                    path_error("lstat", current, err), missing=is_not_exist(err)
                ) from err
            if stat.S_ISLNK(info.st_mode):
                raise CommandPathError(
                    f"managed runtime path {quote(target)} contains symlink {quote(current)}"
                )
            if index == len(parts) - 1:
                if stat.S_ISDIR(info.st_mode):
                    raise CommandPathError(f"{quote(target)} is a directory")
                break
            try:
                dir_fd = os.open(part, DIR_FLAGS, dir_fd=dir_fd)
            except OSError as err:
                shown = join(current, parts[index + 1])
                raise CommandPathError(path_error("lstat", shown, err)) from err
            opened.append(dir_fd)
    finally:
        for fd in opened:
            os.close(fd)
    return target


def file_digests_at(root_fd: int, root: str, *, skip_manifest: bool = False) -> dict[str, str]:
    """Digest of every non-directory below the open `root`, keyed by `/`-separated relative
    path, in Go WalkDir order (names sorted, depth first). Symlinks are recorded by their
    target text and never followed; the walk is iterative and reaches every level through
    its parent's descriptor."""
    digests: dict[str, str] = {}
    stack: DirStack[tuple[str, list[str]]] = DirStack(DIR_FLAGS)
    try:
        stack.push(os.dup(root_fd), ("", _sorted_names(root_fd, root)))
        while len(stack):
            fd, (prefix, names) = stack.top()
            if not names:
                stack.pop()
                continue
            name = names.pop()
            relative = f"{prefix}/{name}" if prefix else name
            if skip_manifest and relative == MANIFEST_NAME:
                continue
            path = join(root, relative)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as err:
                raise InvalidInput(path_error("lstat", path, err)) from err
            if stat.S_ISDIR(info.st_mode):
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    raise InvalidInput(path_error("open", path, err)) from err
                stack.push(child, (relative, _sorted_names(child, path)))
            elif stat.S_ISLNK(info.st_mode):
                target = os.readlink(name, dir_fd=fd)
                try:
                    check_symlink_target(relative, target)
                except ArchiveError as err:
                    raise InvalidInput(str(err)) from err
                digests[relative] = _sha256(b"symlink:" + target.encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(info.st_mode):
                digests[relative] = _file_sha256(fd, name, path)
            else:
                raise InvalidInput(f"managed runtime path {quote(path)} is not a regular file")
    except DirectoryMoved:
        raise InvalidInput(f"managed runtime path {quote(root)} changed during the walk") from None
    finally:
        stack.close()
    return digests


def _sorted_names(fd: int, shown: str) -> list[str]:
    """Entry names, last first (the walk pops from the end)."""
    try:
        names = os.listdir(fd)
    except OSError as err:
        raise InvalidInput(path_error("open", shown, err)) from err
    return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"), reverse=True)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_sha256(dir_fd: int, name: str, path: str) -> str:
    digest = hashlib.sha256()
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError as err:
        raise InvalidInput(path_error("open", path, err)) from err
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
