"""Where one plugin process keeps what its runs create, so that nothing outlives it unfound.

Every plugin process that runs a container gets one *instance directory* under a private state
root (``$WFCOMPUTE_STATE_DIR``, else ``<TMPDIR>/wfcompute-state-<euid>``, mode 0700, owned by
us). It holds, for as long as the process lives:

* ``lock``: an exclusive ``flock`` held for the life of the process. The kernel drops it when
  the process dies however it dies, so "can I take the lock?" is the liveness test, immune to
  pid reuse. A live instance's directory is never touched by anyone else.
* ``owner.json``: pid, the pid's start time (clock ticks since boot, from /proc) and the id.
* ``runtimes.jsonl``: one line per container tool (and nerdctl namespace) this instance
  started a container with, written before the first such start. Every container carries the
  labels in ``container_labels``, so the reaper finds them by label, even half-created ones.
* ``modes-*.jsonl``: a journal of workspace mode relaxations; each entry (path components,
  device, inode, old mode) is written before its chmod. Removed once the modes are restored.
* env-file directories (``wfcompute-sandbox-*``) and tool scratch directories
  (``wfcompute-tool-*``), removed by the run that made them.

On a clean exit the directory is removed. After a crash it stays, unlocked, until the next
start of any plugin on the host reaps it (operations.reaper).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..goparity.dirs import temp_dir

STATE_DIR_ENV = "WFCOMPUTE_STATE_DIR"
STATE_ROOT_PREFIX = "wfcompute-state-"
LOCK_NAME = "lock"
OWNER_NAME = "owner.json"
RUNTIMES_NAME = "runtimes.jsonl"
MODE_JOURNAL_PREFIX = "modes-"
MODE_JOURNAL_SUFFIX = ".jsonl"

LABEL_INSTANCE = "io.wfcompute.instance"
LABEL_OWNER_PID = "io.wfcompute.owner-pid"
LABEL_OWNER_START = "io.wfcompute.owner-start"
LABEL_DEADLINE = "io.wfcompute.deadline"
"""Unix time (seconds) after which the run is past its deadline."""


class StateDirError(Exception):
    """The state root cannot be used safely; the text says why and what to do."""


def state_root() -> str:
    """The state root path (not created)."""
    configured = os.environ.get(STATE_DIR_ENV, "")
    if configured:
        return os.path.abspath(configured)
    return os.path.join(temp_dir(), f"{STATE_ROOT_PREFIX}{os.geteuid()}")


def ensure_private_root(root: str) -> None:
    """Create ``root`` (0700) or check that it is ours and private; never follow a symlink.

    A shared /tmp lets another user create our root first, as a symlink or a world-writable
    directory, to read our env files or plant journals: refused with a clear error.
    """
    try:
        os.mkdir(root, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateDirError(
            f"cannot create plugin state directory {root}: {exc.strerror or exc}"
        ) from exc
    try:
        info = os.lstat(root)
    except OSError as exc:
        raise StateDirError(f"cannot stat plugin state directory {root}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(
            f"plugin state directory {root} is not a directory (a symlink or file is in the way);"
            f" remove it or set {STATE_DIR_ENV}"
        )
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise StateDirError(
            f"plugin state directory {root} is not private to uid {os.geteuid()} (owner uid"
            f" {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}); remove it or set"
            f" {STATE_DIR_ENV}"
        )


def process_start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last ')'. Field 3 is then the first, so field 22 is index 19.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def owner_alive(pid: int, start_ticks: int) -> bool:
    """Whether process ``pid`` still is the one that started at ``start_ticks``."""
    return pid > 0 and process_start_ticks(pid) == start_ticks


def try_lock(path: str) -> int | None:
    """An fd holding the exclusive lock on ``path`` (no-follow), or None when it is held."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # EWOULDBLOCK: a live owner holds it
        return None
    return fd


@dataclass(frozen=True)
class RuntimeScope:
    tool: str
    scope_args: tuple[str, ...] = ()


def read_runtimes(directory: str) -> list[RuntimeScope]:
    """The tools (and scopes) an instance recorded; unreadable lines are skipped."""
    found: list[RuntimeScope] = []
    try:
        with open(os.path.join(directory, RUNTIMES_NAME), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            entry = json.loads(line)
            tool = entry["tool"]
            scope = tuple(entry.get("scope") or ())
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(tool, str) and all(isinstance(part, str) for part in scope):
            candidate = RuntimeScope(tool, scope)
            if candidate not in found:
                found.append(candidate)
    return found


class ModeJournal:
    """Append-only record of one relaxation, written entry by entry before each chmod."""

    def __init__(self, path: str, workspace: str) -> None:
        self.path = path
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        self._write({"workspace": workspace})

    def _write(self, entry: object) -> None:
        if self._fd is None:
            return
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode("utf-8")
        # One write(2) per entry: in the kernel's page cache before the chmod it describes,
        # so it survives the death of this process (not a power cut, which also ends the run).
        os.write(self._fd, line)

    def record(self, parts: Sequence[str], device: int, inode: int, mode: int) -> None:
        self._write({"p": list(parts), "d": device, "i": inode, "m": mode})

    def remove(self) -> None:
        """Close and delete the journal (the modes are back). Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass(frozen=True)
class JournalEntry:
    parts: tuple[str, ...]
    device: int
    inode: int
    mode: int


def read_mode_journal(path: str) -> tuple[str, list[JournalEntry]] | None:
    """(workspace, entries) of a journal, or None when it has no readable header."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    try:
        header = json.loads(lines[0])
        workspace = header["workspace"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(workspace, str) or not workspace.startswith("/"):
        return None
    entries: list[JournalEntry] = []
    for line in lines[1:]:
        try:
            raw = json.loads(line)
            entry = JournalEntry(
                tuple(str(part) for part in raw["p"]), int(raw["d"]), int(raw["i"]), int(raw["m"])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the crash: its chmod never happened
        entries.append(entry)
    return workspace, entries


class Instance:
    """This process's instance directory (see the module text); made on first use."""

    def __init__(self, root: str) -> None:
        ensure_private_root(root)
        self.root = root
        self.pid = os.getpid()
        start = process_start_ticks(self.pid)
        self.start_ticks = start if start is not None else 0
        self._lock = threading.Lock()
        self._runtimes: set[RuntimeScope] = set()
        self._unclean = False
        self._released = False
        for _ in range(8):
            self.id = secrets.token_hex(8)
            directory = os.path.join(root, self.id)
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                continue
            try:
                fd = os.open(
                    os.path.join(directory, LOCK_NAME),
                    os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                )
            except FileNotFoundError:
                continue  # a reaper removed the empty directory between our two steps
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.directory = directory
            self._lock_fd = fd
            break
        else:  # pragma: no cover - eight random collisions
            raise StateDirError(f"cannot create an instance directory in {root}")
        owner = {"id": self.id, "pid": self.pid, "start_ticks": self.start_ticks}
        with open(os.path.join(directory, OWNER_NAME), "w", encoding="utf-8") as handle:
            json.dump(owner, handle)

    def private_dir(self, prefix: str) -> str:
        """A fresh 0700 directory inside the instance directory."""
        return tempfile.mkdtemp(prefix=prefix, dir=self.directory)

    def record_runtime(self, tool: str, scope_args: Sequence[str]) -> None:
        """Note ``tool`` (and its nerdctl scope) before the first container it starts."""
        key = RuntimeScope(tool, tuple(scope_args))
        with self._lock:
            if key in self._runtimes:
                return
            line = json.dumps({"tool": tool, "scope": list(scope_args)}) + "\n"
            with open(os.path.join(self.directory, RUNTIMES_NAME), "a", encoding="utf-8") as out:
                out.write(line)
            self._runtimes.add(key)

    def mode_journal(self, workspace: str) -> ModeJournal:
        name = f"{MODE_JOURNAL_PREFIX}{secrets.token_hex(8)}{MODE_JOURNAL_SUFFIX}"
        return ModeJournal(os.path.join(self.directory, name), workspace)

    def container_labels(self, deadline_seconds: float | None) -> list[str]:
        """``--label`` options naming this instance (and the run's deadline) on a container."""
        labels = [
            f"{LABEL_INSTANCE}={self.id}",
            f"{LABEL_OWNER_PID}={self.pid}",
            f"{LABEL_OWNER_START}={self.start_ticks}",
        ]
        if deadline_seconds is not None:
            labels.append(f"{LABEL_DEADLINE}={int(time.time() + deadline_seconds) + 1}")
        args: list[str] = []
        for label in labels:
            args.extend(("--label", label))
        return args

    def mark_unclean(self) -> None:
        """Something this instance made could not be removed: keep the directory for a reaper."""
        self._unclean = True

    def release(self) -> None:
        """At exit: remove the directory when everything was cleaned; drop the lock."""
        if self._released:
            return
        self._released = True
        if not self._unclean and not _holds_leftovers(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)
        os.close(self._lock_fd)


def _holds_leftovers(directory: str) -> bool:
    """Whether a clean exit still finds journals, env files or scratch directories."""
    keep = {LOCK_NAME, OWNER_NAME, RUNTIMES_NAME}
    try:
        return any(name not in keep for name in os.listdir(directory))
    except OSError:
        return False


_current: Instance | None = None
_current_lock = threading.Lock()


def current_instance() -> Instance:
    """This process's instance (created, and its exit hook registered, on first call).

    A new one is made when the state root changed (``TMPDIR`` or ``WFCOMPUTE_STATE_DIR`` set
    anew, as tests do), its directory vanished, or after a fork.
    """
    global _current
    root = state_root()
    with _current_lock:
        stale = (
            _current is None
            or _current.pid != os.getpid()
            or _current.root != root
            or not os.path.isdir(_current.directory)
        )
        if stale:
            if _current is not None and _current.pid == os.getpid():
                _current.release()
            _current = Instance(root)
            atexit.register(_current.release)
        assert _current is not None
        return _current
