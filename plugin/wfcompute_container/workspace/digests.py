"""Build digests (as in the Go plugin): the `sha256:<64 lowercase hex>` form, the stdout marker
line and the digest file a builder leaves in the workspace."""

from __future__ import annotations

import os
import stat

from ..core.rules import valid_sha256_digest
from ..errors import InvalidInput
from ..goparity.oserror import os_error_of
from ..goparity.text import quote, trim_space
from .paths import FILE_READ_FLAGS, open_checked, os_error

BUILD_DIGEST_MARKER = "WORKFLOW_COMPUTE_BUILD_DIGEST="
BUILD_DIGEST_FILE_NAME = ".wfcompute-container-build-digest"
# A digest file is ~72 bytes. The file sits in a workload-written workspace, so reading is
# bounded; a longer file is refused as invalid (the message never quotes the content).
MAX_DIGEST_FILE_BYTES = 4096

__all__ = [
    "BUILD_DIGEST_FILE_NAME",
    "BUILD_DIGEST_MARKER",
    "parse_build_digest_marker",
    "read_build_digest",
    "remove_planted_digest_file",
    "valid_sha256_digest",
]


def parse_build_digest_marker(output: bytes | str) -> str:
    """The digest named by the last `WORKFLOW_COMPUTE_BUILD_DIGEST=` line, or "".

    A later marker line with an invalid value clears an earlier valid one; a marker that does
    not start its (trimmed) line is ignored.
    """
    text = output.decode("utf-8", errors="surrogateescape") if isinstance(output, bytes) else output
    digest = ""
    for line in text.split("\n"):
        trimmed = trim_space(line)
        if not trimmed.startswith(BUILD_DIGEST_MARKER):
            continue
        value = trimmed[len(BUILD_DIGEST_MARKER) :]
        digest = value if valid_sha256_digest(value) else ""
    return digest


def read_build_digest(path: str) -> str:
    """The trimmed digest in a regular file at path, opened without following links."""
    try:
        found = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError) as exc:
        raise os_error("lstat", path, os_error_of(exc)) from None
    if not stat.S_ISREG(found.st_mode):
        raise InvalidInput("sandboxed container-build digest path must be regular file")
    changed = InvalidInput("sandboxed container-build digest path changed while opening")
    fd = open_checked(path, None, path, found, FILE_READ_FLAGS, changed)
    with open(fd, "rb", buffering=0, closefd=True) as stream:
        try:
            data = stream.read(MAX_DIGEST_FILE_BYTES + 1)
        except OSError as exc:
            raise os_error("read", path, exc) from None
    # The file's content is never quoted: the path may name any file (`/proc/self/environ`).
    if len(data) > MAX_DIGEST_FILE_BYTES:
        raise InvalidInput(
            f"invalid sandboxed container-build digest in {quote(path)}: the file is larger"
            f" than {MAX_DIGEST_FILE_BYTES} bytes"
        )
    value = trim_space(data.decode("utf-8", errors="surrogateescape"))
    if not valid_sha256_digest(value):
        raise InvalidInput(
            f"invalid sandboxed container-build digest in {quote(path)}: not a sha256 digest"
            f" (sha256: and 64 lower-case hex digits; the file holds {len(data)} bytes)"
        )
    return value


def remove_planted_digest_file(workspace: str) -> None:
    """Remove a digest file that is in the workspace before a build (the tenant's, not ours).

    Only a file this build writes may name its digest. A symlink is removed, never followed;
    a directory of that name stays (the digest read refuses anything but a regular file).
    """
    path = os.path.join(workspace, BUILD_DIGEST_FILE_NAME)
    try:
        found = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise os_error("lstat", path, os_error_of(exc)) from None
    if stat.S_ISDIR(found.st_mode):
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidInput(
            f"remove the build digest file planted before the build: {exc.strerror}"
        ) from None
