"""The host's own view of a gVisor sandbox, read while the conformance run holds it open.

Inside gVisor the workload sees gVisor's kernel, not the host's: its /proc/self/status has
no NoNewPrivs line, its Seccomp reads 0 and it has no cgroup files. What protects the host
lives outside: the ``runsc-sandbox`` process that runs gVisor's kernel carries the seccomp
filter and no_new_privs, and sits in the container's cgroups, whose limits bound every host
thread the workload can make. So for a gVisor backend the probe asks the image to hold
(``WFCOMPUTE_PROBE_HOLD=1``); once the image has created the ready file in the workspace,
the host asks the runtime for the container's host pid, reads that process, then creates the
release file. The facts are ``host-<key>:<value>`` details the claims are judged on.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence

import anyio

from ..goparity.text import trim_space
from .probe_claims import safe_fact
from .probe_runner import ProbeRunner

HOLD_ENV_NAME = "WFCOMPUTE_PROBE_HOLD"
READY_FILE = ".wfcompute-probe-ready"
RELEASE_FILE = ".wfcompute-probe-release"
PID_ARGS = ("inspect", "--format", "{{.State.Pid}}")

_POLL_SECONDS = 0.05
_READ_LIMIT = 64 * 1024
_CGROUP_ROOT = "/sys/fs/cgroup"
# (fact, cgroup v1 controller and file, cgroup v2 file)
_LIMIT_FILES = (
    ("host-pids-limit", "pids", "pids.max", "pids.max"),
    ("host-memory-limit", "memory", "memory.limit_in_bytes", "memory.max"),
)


def _read_small(path: str) -> str | None:
    """A /proc or cgroup file's text, or None; never follows a symlink at the last step."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, _READ_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _status_field(status: str, name: str) -> str | None:
    for line in status.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return trim_space(value)
    return None


def _cgroup_paths(text: str) -> tuple[dict[str, str], str | None]:
    """Controller -> path for cgroup v1 lines, and the v2 (``0::``) path."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/") or "/../" in path + "/":
            continue
        if hierarchy == "0" and controllers == "":
            v2 = path
        for controller in controllers.split(","):
            v1.setdefault(controller, path)
    return v1, v2


def read_process_facts(pid: int, cgroup_root: str = _CGROUP_ROOT) -> list[str]:
    """``host-*`` facts of one host process: what it is, its no_new_privs and seccomp mode,
    and its cgroup's pids and memory limits (v1 controllers first, else the v2 group)."""
    proc = f"/proc/{pid}"
    cmdline = _read_small(f"{proc}/cmdline")
    program = os.path.basename(cmdline.split("\0", 1)[0]) if cmdline else ""
    facts = [f"host-process:{safe_fact(program) if program else 'unreadable'}"]
    status = _read_small(f"{proc}/status") or ""
    for fact, field in (("host-nonewprivs", "NoNewPrivs"), ("host-seccomp", "Seccomp")):
        value = _status_field(status, field)
        facts.append(f"{fact}:{safe_fact(value) if value else 'unreadable'}")
    return [*facts, *cgroup_limit_facts(_read_small(f"{proc}/cgroup") or "", cgroup_root)]


def cgroup_limit_facts(cgroup: str, cgroup_root: str = _CGROUP_ROOT) -> list[str]:
    """The pids and memory limits of the cgroups a /proc/<pid>/cgroup text names."""
    facts: list[str] = []
    v1, v2 = _cgroup_paths(cgroup)
    for fact, controller, v1_file, v2_file in _LIMIT_FILES:
        if controller in v1:
            path = os.path.join(cgroup_root, controller, v1[controller].lstrip("/"), v1_file)
        elif v2 is not None:
            path = os.path.join(cgroup_root, v2.lstrip("/"), v2_file)
        else:
            path = ""
        value = trim_space(_read_small(path) or "") if path else ""
        facts.append(f"{fact}:{safe_fact(value) if value else 'unreadable'}")
    return facts


@contextlib.contextmanager
def _workspace_dir(workspace: str) -> Iterator[int | None]:
    """The workspace directory's descriptor (None when it cannot be opened as one)."""
    try:
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def release(workspace: str) -> None:
    """Create the release file (never through a link the workload planted)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with _workspace_dir(workspace) as fd, contextlib.suppress(OSError):
        if fd is not None:
            os.close(os.open(RELEASE_FILE, flags, 0o644, dir_fd=fd))


def clear_hold_files(workspace: str) -> None:
    """Remove the hold files the run may have left (a configured workspace keeps nothing);
    unlinking a planted link removes the link, never its target."""
    with _workspace_dir(workspace) as fd:
        if fd is None:
            return
        for name in (READY_FILE, RELEASE_FILE):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                os.unlink(name, dir_fd=fd)


def _ready(workspace: str) -> bool:
    try:
        os.lstat(os.path.join(workspace, READY_FILE))
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
        return False
    return True


async def observe_held_sandbox(
    runner: ProbeRunner,
    command: str,
    scope_args: Sequence[str],
    container_name: str,
    workspace: str,
) -> list[str]:
    """Wait for the held probe, read its sandbox process from the host, then release it.

    Runs beside the conformance run, which cancels it when the run ends first. Once the
    image is ready, the release file is created on every way out so the image never waits
    longer than it must; the prober clears what is left after the run (``clear_hold_files``).
    """
    while not await anyio.to_thread.run_sync(_ready, workspace):
        await anyio.sleep(_POLL_SECONDS)
    try:
        outcome = await runner.run([command, *scope_args, *PID_ARGS, container_name])
        text = trim_space(outcome.stdout.decode("ascii", errors="replace"))
        if outcome.error is not None or not text.isdigit() or int(text) <= 0:
            return ["host-process:unknown"]
        return await anyio.to_thread.run_sync(read_process_facts, int(text))
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(release, workspace)
