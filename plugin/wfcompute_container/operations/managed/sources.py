"""Where a bundle's objects come from: HTTP(S) downloads and a local mirror, both size-capped.

Local sources (``file://`` URLs and absolute paths) are confined to the mirror directory the
operator configures (``WFCOMPUTE_MANAGED_MIRROR``); without one they are refused. A catalog
naming ``file:///etc`` and ``shadow`` would otherwise make the plugin read any file it can and
quote the file's digest in the mismatch error. Inside the mirror, every component is opened
without following a link, and the object must be a regular file.

Downloads run in a worker thread (urllib blocks), so a cancelled request stops waiting at once;
the abandoned thread ends at the next read or at the total timeout.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread

from ...goparity.oserror import path_error
from ...goparity.paths import clean, escapes, rel
from ...goparity.text import quote, trim_space
from ...redaction import redact_secrets
from ...workspace.paths import DIR_LIST_FLAGS as DIR_FLAGS
from ...workspace.paths import FileTooLarge, read_regular_file

MAX_OBJECT_BYTES = 512 * 1024 * 1024
MIRROR_ENV = "WFCOMPUTE_MANAGED_MIRROR"
"""The directory local object sources must be in (absolute); unset: no local sources."""
HTTP_TOTAL_TIMEOUT_SECONDS = 15 * 60.0
_CHUNK = 1024 * 1024


class ObjectFetchError(Exception):
    """An object could not be fetched; the text is safe to show.

    Its text quotes the URL and the transport's reason, so it is redacted here, once: a
    source URL may carry user-info (``https://user:token@host/...``) or a token parameter.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact_secrets(message))


@dataclass(frozen=True)
class ObjectRequest:
    bundle_id: str
    kind: str
    """`artifact`, `checksum`, `signature` or `trust root`."""
    name: str
    url: str


class ObjectSource(Protocol):
    async def fetch(self, request: ObjectRequest) -> bytes: ...


Opener = Callable[[urllib.request.Request, float], object]
"""Opens a request with a per-operation timeout and returns a urllib response."""


def _default_opener(request: urllib.request.Request, timeout: float) -> object:
    return urllib.request.urlopen(request, timeout=timeout)


class DefaultObjectSource:
    """HTTP(S) URLs through urllib; `file://` URLs and absolute paths from the local disk."""

    def __init__(
        self,
        *,
        opener: Opener | None = None,
        timeout_seconds: float = HTTP_TOTAL_TIMEOUT_SECONDS,
        max_bytes: int = MAX_OBJECT_BYTES,
        mirror_dir: str | None = None,
    ) -> None:
        self._opener = opener or _default_opener
        self._mirror = mirror_dir if mirror_dir is not None else os.environ.get(MIRROR_ENV, "")
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes

    async def fetch(self, request: ObjectRequest) -> bytes:
        url = trim_space(request.url)
        if url == "":
            raise ObjectFetchError("managed runtime object URL is required")
        stop = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                self._fetch_blocking, request.name, url, stop, abandon_on_cancel=True
            )
        finally:
            # An abandoned download stops at its next chunk instead of running on.
            stop.set()

    def _fetch_blocking(self, name: str, url: str, stop: threading.Event) -> bytes:
        if url.startswith("/"):
            return self._read_local(name, url)
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme.lower()
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ObjectFetchError(f"file URL {quote(url)} must not name a host")
            return self._read_local(name, urllib.parse.unquote(parsed.path))
        if scheme not in ("http", "https"):
            raise ObjectFetchError(f'Get {quote(url)}: unsupported protocol scheme "{scheme}"')
        return self._download(name, url, stop)

    def _read_local(self, name: str, path: str) -> bytes:
        if self._mirror == "" or not self._mirror.startswith("/"):
            raise ObjectFetchError(
                f"local managed runtime object {quote(path)} refused: local sources need a "
                f"mirror directory ({MIRROR_ENV}, absolute)"
            )
        mirror = clean(self._mirror)
        wanted = clean(path)
        relative = rel(mirror, wanted) if wanted.startswith("/") else ".."
        if relative == "." or escapes(relative):
            raise ObjectFetchError(
                f"local managed runtime object {quote(path)} is outside the mirror directory"
            )
        parts = relative.split("/")
        fds: list[int] = []
        try:
            try:
                fds.append(os.open(mirror, DIR_FLAGS))
                for part in parts[:-1]:
                    fds.append(os.open(part, DIR_FLAGS, dir_fd=fds[-1]))
            except OSError as err:
                raise ObjectFetchError(path_error("open", path, err)) from err
            try:
                return read_regular_file(parts[-1], self._max_bytes, dir_fd=fds[-1], path=path)
            except FileTooLarge as err:
                raise ObjectFetchError(
                    f"managed runtime object {quote(name)} is too large"
                ) from err
            except OSError as err:
                raise ObjectFetchError(str(err)) from err
        finally:
            for fd in fds:
                os.close(fd)

    def _download(self, name: str, url: str, stop: threading.Event) -> bytes:
        deadline = time.monotonic() + self._timeout
        request = urllib.request.Request(url, method="GET")
        try:
            response = self._opener(request, self._timeout)
        except urllib.error.HTTPError as err:
            raise ObjectFetchError(
                f"fetch managed runtime object {quote(name)}: {err.code} {err.reason}"
            ) from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ObjectFetchError(f"Get {quote(url)}: {_transport_reason(err)}") from err
        try:
            status = int(getattr(response, "status", 200))
            if not 200 <= status <= 299:
                reason = getattr(response, "reason", "")
                raise ObjectFetchError(
                    f"fetch managed runtime object {quote(name)}: {status} {reason}"
                )
            chunks: list[bytes] = []
            total = 0
            read = response.read  # type: ignore[attr-defined]
            while True:
                if stop.is_set():
                    raise ObjectFetchError(f"Get {quote(url)}: context canceled")
                if time.monotonic() > deadline:
                    raise ObjectFetchError(
                        f"Get {quote(url)}: total timeout exceeded while reading body"
                    )
                chunk: bytes = read(min(_CHUNK, self._max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > self._max_bytes:
                    raise ObjectFetchError(f"managed runtime object {quote(name)} is too large")
            return b"".join(chunks)
        except (urllib.error.URLError, OSError) as err:
            raise ObjectFetchError(f"Get {quote(url)}: {_transport_reason(err)}") from err
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()


def is_local_url(url: str) -> bool:
    """An absolute path or a file:// URL: read from the local mirror."""
    text = trim_space(url)
    return text.startswith("/") or urllib.parse.urlsplit(text).scheme.lower() == "file"


def _transport_reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        reason = err.reason
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror[:1].lower() + reason.strerror[1:]
        return str(reason)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[:1].lower() + err.strerror[1:]
    return str(err) or type(err).__name__
