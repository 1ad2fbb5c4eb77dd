"""Run one container-tool process with stdin, bounded output, a deadline and clean removal.

The container a tool starts outlives the tool's client process when that is killed, so every
abnormal end (deadline, output limit, cancellation, a failed start) also removes the
container by name, in a shielded clean-up with its own deadline.

Each tool process also gets a scratch TMPDIR of its own, in the plugin instance directory
(runtime_io.instance_state, so a killed plugin's are reaped), removed once it is
reaped: podman writes short-lived temporary files there (image metadata, build layers), and a
client killed by a cancellation or a deadline cannot remove them itself.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import anyio
import anyio.abc
import anyio.to_thread
from anyio.lowlevel import RunVar

from ..goparity.oserror import path_error
from .exec_errors import ExecError, StartError, ToolNotFound, error_for_returncode
from .instance_state import StateDirError, current_instance
from .tool_lookup import look_path

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_LIMIT = 64 * 1024 * 1024
"""Bytes of stdout plus stderr kept from one run when the request sets no output limit."""

CLEANUP_TIMEOUT_SECONDS = 30.0
"""How long clean-up (killing the client, removing the container) may take in total."""

GENTLE_STOP_SECONDS = 1.0
"""How long a container client gets after SIGTERM before SIGKILL (see run_tool)."""

_PIPE_DRAIN_GRACE_SECONDS = 2.0
# A helper the client started may keep our pipes open after the client exits; what is already
# in the pipes is read, but we do not wait for an EOF that may never come.

_READ_CHUNK = 65536

SCRATCH_PREFIX = "wfcompute-tool-"
"""Name prefix of the per-process scratch TMPDIR (inside the plugin's own TMPDIR)."""

StopReason = Literal["exited", "timeout", "output_limit"]


@dataclass(frozen=True)
class ContainerRef:
    """The container a run starts: how to address it with its tool for removal."""

    tool: str
    name: str
    scope_args: tuple[str, ...] = ()


@dataclass
class ToolRun:
    """What one tool process did. ``error`` is Go's exec error (None for exit status 0)."""

    stdout: bytes = b""
    stderr: bytes = b""
    returncode: int | None = None
    error: ExecError | None = None
    started: bool = True
    stop_reason: StopReason = "exited"
    container_removed: bool = False

    @property
    def exit_code(self) -> int:
        """Go's ExitCode(): the status, or -1 when killed by a signal or never started."""
        if self.error is None:
            return 0
        return self.error.exit_code


class _Spool:
    """One output stream, kept in an anonymous file (no name: nothing to leave behind).

    Should the disk refuse (full, read-only), what is left of the stream is kept in memory
    instead: still bounded by the run's output limit, and the run is not failed for it.
    """

    def __init__(self) -> None:
        self.size = 0
        self._file: BinaryIO | None = None
        self._memory: bytearray | None = None

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._memory is None:
            try:
                if self._file is None:
                    self._file = _anonymous_file()
                # To the page cache, on the event loop: a 64 KiB write costs microseconds, a
                # thread hand-off per chunk would cost more.
                self._file.write(chunk)
                self.size += len(chunk)
                return
            except OSError as exc:
                log.warning("output spool unavailable, keeping output in memory: %s", exc)
                self._memory = bytearray(self._read_file())
        self._memory.extend(chunk)
        self.size += len(chunk)

    def _read_file(self) -> bytes:
        if self._file is None:
            return b""
        try:
            self._file.seek(0)
            return self._file.read(self.size)
        except OSError:
            return b""

    def read(self) -> bytes:
        if self._memory is not None:
            return bytes(self._memory)
        return self._read_file()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = None


def _anonymous_file() -> BinaryIO:
    try:
        directory: str | None = current_instance().directory
    except StateDirError:
        directory = None
    # O_TMPFILE where the file system has it: the file never has a name.
    return tempfile.TemporaryFile(dir=directory, buffering=0)


class _Capture:
    """stdout and stderr of one process, spooled to disk up to ``limit`` bytes together.

    The plugin's memory does not grow with a workload's output: chunks go to anonymous files
    as they arrive and are read back once, when the run is over.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.stdout = _Spool()
        self.stderr = _Spool()
        self.limit_hit = False

    @property
    def total(self) -> int:
        return self.stdout.size + self.stderr.size

    def add(self, target: _Spool, chunk: bytes) -> bool:
        """Keep ``chunk``; False when that takes the total past the limit (the rest is dropped)."""
        if self.limit is None:
            target.write(chunk)
            return True
        room = self.limit - self.total
        if len(chunk) > room:
            target.write(chunk[: max(room, 0)])
            self.limit_hit = True
            return False
        target.write(chunk)
        return True

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


async def run_tool(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    timeout: float | None = None,
    output_limit: int | None = DEFAULT_OUTPUT_LIMIT,
    container: ContainerRef | None = None,
    cleanup_timeout: float = CLEANUP_TIMEOUT_SECONDS,
    after_client: Callable[[], Awaitable[None]] | None = None,
    reserve_output: Callable[[int], Awaitable[None]] | None = None,
) -> ToolRun:
    """Run ``argv`` (``argv[0]`` looked up on PATH) to completion, deadline or output limit.

    stdin is fed only when non-empty (otherwise the null device, as Go's runner does). On
    cancellation the process is killed and the container removed before Cancelled propagates.
    ``after_client`` runs once the client process is gone and before any container removal:
    what it undoes (secret env files, relaxed modes) then does not wait on a daemon that may
    hang. Output is spooled to disk while the process runs; ``reserve_output(n)`` is awaited
    before its ``n`` bytes are read back into memory (the server bounds answer memory by it).
    """
    try:
        executable = look_path(argv[0])
    except ToolNotFound as missing:
        return ToolRun(error=missing, started=False)
    scratch = _make_scratch_dir()
    try:
        # Shielded: a cancellation landing mid-spawn would kill the client half-way without
        # removing the container it was creating; deferred, it reaches the clean-up below.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(
                [executable, *argv[1:]],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=None if scratch is None else {**os.environ, "TMPDIR": scratch},
                # Its own session: a terminal's Ctrl-C reaches us, not the client; we clean up.
                start_new_session=True,
            )
    except OSError as exc:
        await _remove_scratch_dir(scratch)
        return ToolRun(error=StartError(_start_error_text(executable, exc)), started=False)

    capture = _Capture(output_limit)
    run = ToolRun()
    finished_normally = False
    try:
        with anyio.move_on_after(timeout) as deadline:
            await _drive(process, stdin, capture)
        if deadline.cancelled_caught:
            run.stop_reason = "timeout"
        elif capture.limit_hit:
            run.stop_reason = "output_limit"
        finished_normally = True
    finally:
        with anyio.CancelScope(shield=True):
            # podman (and nerdctl) create the container inside the client: a SIGKILL landing
            # mid-create leaves conmon and `runc init` alive, unknown to `podman ps -a`.
            # Told to stop, the client finishes or undoes the create first.
            gentle = container is not None and container.tool != "docker"
            await _kill_and_reap(process, cleanup_timeout, gentle=gentle)
            if after_client is not None:
                await after_client()
            returncode = process.returncode
            tool_failed = returncode is None or returncode < 0 or returncode >= 125
            if container is not None and (
                not finished_normally or run.stop_reason != "exited" or tool_failed
            ):
                run.container_removed = await remove_container(container, cleanup_timeout)
            await process.aclose()
            await _remove_scratch_dir(scratch)
    try:
        if reserve_output is not None:
            # Wait for the plugin's answer memory before the output comes back into it.
            await reserve_output(capture.total)
        run.stdout = capture.stdout.read()
        run.stderr = capture.stderr.read()
    finally:
        capture.close()
    run.returncode = process.returncode
    run.error = error_for_returncode(process.returncode if process.returncode is not None else -9)
    return run


def _make_scratch_dir() -> str | None:
    """A fresh private TMPDIR for one tool process, or None to let it inherit ours.

    None when rootless podman would derive its runtime directory from TMPDIR (no
    XDG_RUNTIME_DIR and no usable /run/user/UID): a per-process TMPDIR would then give each
    call its own container state. None also when the directory cannot be made (TMPDIR full or
    missing): the tool may not need it, and its own error is clearer than ours.
    """
    if not _runtime_dir_independent_of_tmpdir():
        return None
    try:
        return current_instance().private_dir(SCRATCH_PREFIX)
    except StateDirError as exc:
        log.debug("no scratch TMPDIR for a tool process: %s", exc)
        return None
    except OSError as exc:
        log.debug("no scratch TMPDIR for a tool process: %s", exc.strerror or exc)
        return None


def _runtime_dir_independent_of_tmpdir() -> bool:
    if os.environ.get("XDG_RUNTIME_DIR") or os.geteuid() == 0:
        return True
    try:
        info = os.stat(f"/run/user/{os.geteuid()}")
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


async def _remove_scratch_dir(scratch: str | None) -> None:
    if scratch is None:
        return
    try:
        os.rmdir(scratch)  # the common case: the tool cleaned up after itself
    except FileNotFoundError:
        return
    except OSError:
        # Left by a killed client; may be large (build layers): off the event loop.
        await anyio.to_thread.run_sync(shutil.rmtree, scratch, True)


async def _drive(process: anyio.abc.Process, stdin: bytes, capture: _Capture) -> None:
    out_done = anyio.Event()
    err_done = anyio.Event()
    async with anyio.create_task_group() as group:
        if stdin and process.stdin is not None:
            group.start_soon(_feed, process.stdin, stdin)
        assert process.stdout is not None and process.stderr is not None
        group.start_soon(_pump, process.stdout, capture, capture.stdout, out_done, group)
        group.start_soon(_pump, process.stderr, capture, capture.stderr, err_done, group)
        await process.wait()
        with anyio.move_on_after(_PIPE_DRAIN_GRACE_SECONDS):
            await out_done.wait()
            await err_done.wait()
        group.cancel_scope.cancel()


async def _feed(stream: anyio.abc.ByteSendStream, data: bytes) -> None:
    try:
        await stream.send(data)
        await stream.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
        # The workload need not read its stdin.
        pass


async def _pump(
    stream: anyio.abc.ByteReceiveStream,
    capture: _Capture,
    target: _Spool,
    done: anyio.Event,
    group: anyio.abc.TaskGroup,
) -> None:
    try:
        while True:
            try:
                chunk = await stream.receive(_READ_CHUNK)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            if not capture.add(target, chunk):
                group.cancel_scope.cancel()
                return
    finally:
        done.set()


async def _kill_and_reap(
    process: anyio.abc.Process, cleanup_timeout: float, *, gentle: bool = False
) -> None:
    """End the client: with ``gentle``, SIGTERM first and up to ``GENTLE_STOP_SECONDS`` for it
    to go by itself, then SIGKILL to its whole process group."""
    if gentle and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with anyio.move_on_after(GENTLE_STOP_SECONDS):
            await process.wait()
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:
            process.kill()
    with anyio.move_on_after(cleanup_timeout):
        await process.wait()


# Per event-loop run: the removals in progress and the latest end a stop allows them.
_removal_scopes: RunVar[set[anyio.CancelScope]] = RunVar("wfcompute_removal_scopes")
_removal_deadline: RunVar[float] = RunVar("wfcompute_removal_deadline", default=math.inf)


def _scopes() -> set[anyio.CancelScope]:
    try:
        return _removal_scopes.get()
    except LookupError:
        scopes: set[anyio.CancelScope] = set()
        _removal_scopes.set(scopes)
        return scopes


def limit_cleanup(seconds: float) -> None:
    """The plugin is stopping: every container removal, running or to come, ends within
    ``seconds``. What a hung runtime keeps is left to the next start's reaper, and the
    cancelled requests get their answers before the process ends."""
    deadline = min(_removal_deadline.get(), anyio.current_time() + seconds)
    _removal_deadline.set(deadline)
    for scope in _scopes():
        scope.deadline = min(scope.deadline, deadline)


async def remove_container(container: ContainerRef, cleanup_timeout: float) -> bool:
    """Force-remove the container by name until the tool no longer lists it.

    A killed client may leave the daemon still creating the container, so removal is checked
    and retried within ``cleanup_timeout`` (shortened by ``limit_cleanup``). Returns True
    when the name is gone.
    """
    base = [container.tool, *container.scope_args]
    with anyio.move_on_after(cleanup_timeout) as scope:
        scope.deadline = min(scope.deadline, _removal_deadline.get())
        _scopes().add(scope)
        try:
            return await _remove_until_gone(container, base)
        finally:
            _scopes().discard(scope)
    log.warning(
        "container %s could not be removed within %ss; left for the next start's reaper",
        container.name,
        cleanup_timeout,
    )
    with contextlib.suppress(StateDirError):
        current_instance().mark_unclean()
    return False


async def _remove_until_gone(container: ContainerRef, base: list[str]) -> bool:
    while True:
        # kill first: `podman rm -f` would give the workload its 10 s stop grace period.
        await run_tool([*base, "kill", container.name], output_limit=1 << 20)
        await run_tool([*base, "rm", "-f", container.name], output_limit=1 << 20)
        listing = await run_tool(
            [*base, "ps", "-a", "--format", "{{.Names}}"], output_limit=16 << 20
        )
        if listing.error is None and not _lists_name(listing.stdout, container.name):
            return True
        if listing.error is not None and not listing.started:
            return False
        await anyio.sleep(0.2)


def _lists_name(listing: bytes, name: str) -> bool:
    wanted = name.encode()
    return any(line.strip().lstrip(b"/") == wanted for line in listing.splitlines())


def _start_error_text(executable: str, exc: OSError) -> str:
    # Go: fork/exec <path>: <strerror, lower-case>.
    return path_error("fork/exec", executable, exc)
