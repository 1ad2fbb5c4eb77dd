"""Build small OCI images offline: static busybox plus the given files, imported as a tarball.

No registry is reachable where the plugin's tests and probes run, so images are made from a
root filesystem (``<tool> import - localhost/NAME:TAG``). Used by the conformance probe image
and by the tests' workload images.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Mapping, Sequence

from ..errors import InvalidInput, RuntimeFailure, RuntimeUnavailable
from ..goparity.text import trim_space
from ..runtime_io.exec_errors import ToolNotFound
from ..runtime_io.tool_process import run_tool
from .image_ref import validate_image

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
IMPORT_TIMEOUT_SECONDS = 120.0

_BASE_DIRECTORIES = (
    "bin",
    "dev",
    "etc",
    "proc",
    "root",
    "sys",
    "tmp",
    "usr",
    "usr/local",
    "usr/local/bin",
    "workspace",
)
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def find_busybox() -> str:
    """A busybox binary to copy into images (busybox-static on Debian)."""
    for candidate in BUSYBOX_CANDIDATES:
        if shutil.which(candidate):
            return candidate
    found = shutil.which("busybox")
    if found is None:
        raise InvalidInput("busybox is required to build images offline (install busybox-static)")
    return found


async def busybox_applets(busybox: str) -> list[str]:
    listing = await run_tool([busybox, "--list"], timeout=30.0, output_limit=1 << 20)
    if listing.error is not None:
        raise RuntimeFailure(f"list busybox applets: {listing.error}")
    return [name for name in listing.stdout.decode().split() if name and "/" not in name]


def rootfs_tarball(
    busybox_binary: bytes, applets: Sequence[str], files: Mapping[str, tuple[bytes, int]]
) -> bytes:
    """A root filesystem tar: base directories, /bin/busybox and its applets, then ``files``.

    ``files`` maps absolute in-image paths to (content, mode); parents are created 0755.
    """
    buffer = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(path: str) -> None:
            if path in seen or path == "":
                return
            parent = path.rpartition("/")[0]
            add_dir(parent)
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if path == "tmp" else 0o755
            tar.addfile(info)
            seen.add(path)

        def add_file(path: str, content: bytes, mode: int) -> None:
            add_dir(path.rpartition("/")[0])
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = mode
            tar.addfile(info, io.BytesIO(content))
            seen.add(path)

        for directory in _BASE_DIRECTORIES:
            add_dir(directory)
        add_file("bin/busybox", busybox_binary, 0o755)
        add_file("etc/passwd", _PASSWD, 0o644)
        add_file("etc/group", _GROUP, 0o644)
        for applet in applets:
            link_path = f"bin/{applet}"
            if link_path in seen:
                continue
            info = tarfile.TarInfo(link_path)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
            seen.add(link_path)
        for raw_path, (content, mode) in files.items():
            path = raw_path.strip("/")
            if path == "" or ".." in path.split("/"):
                raise InvalidInput(f"image file path {raw_path!r} is invalid")
            add_file(path, content, mode)
    return buffer.getvalue()


async def build_rootfs_image(
    tool: str,
    tag: str,
    files: Mapping[str, tuple[bytes, int]],
    *,
    changes: Sequence[str] = (),
    busybox: str | None = None,
) -> str:
    """Import a busybox image holding ``files`` into ``tool`` as ``tag``; return its id.

    ``changes`` are Dockerfile instructions for ``import --change`` (e.g. an ENTRYPOINT).
    """
    validate_image(tag, "image tag")
    busybox_path = busybox or find_busybox()
    with open(busybox_path, "rb") as handle:
        binary = handle.read()
    tarball = rootfs_tarball(binary, await busybox_applets(busybox_path), files)
    argv = [tool, "import"]
    for change in changes:
        argv.extend(("--change", change))
    argv.extend(("-", tag))
    imported = await run_tool(
        argv, stdin=tarball, timeout=IMPORT_TIMEOUT_SECONDS, output_limit=16 << 20
    )
    if isinstance(imported.error, ToolNotFound):
        raise RuntimeUnavailable(f"import image {tag}: {imported.error}")
    if imported.error is not None or imported.stop_reason != "exited":
        detail = trim_space(imported.stderr.decode("utf-8", "replace"))
        message = f"import image {tag}: {imported.error or 'timed out'}"
        raise RuntimeFailure(f"{message}: {detail}" if detail else message)
    lines = trim_space(imported.stdout.decode("utf-8", "replace")).splitlines()
    return trim_space(lines[-1]) if lines else ""
