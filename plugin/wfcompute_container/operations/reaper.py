"""Find and remove what dead plugin instances left: secrets first, then modes, then containers.

An instance directory (runtime_io.instance_state) whose lock can be taken belongs to a dead
process. For each, under its lock (so two reapers never work on one instance):

1. env-file directories are removed: they hold tenant secrets;
2. every journalled workspace relaxation is put back (only the very inodes that were relaxed,
   never through a symlink) and setuid/setgid bits the workload may have planted are taken off;
3. every container labelled with the instance, for each tool (and nerdctl namespace) it
   recorded, is killed and removed, checked by listing;
4. scratch directories go, and then the directory itself, unless a container could not be
   removed (the runtime is down): then the directory stays for the next reaper.

Live instances are never touched. ``orphan_containers`` also looks, on request, for labelled
containers whose instance directory is gone (another state root, a wiped /tmp) and whose owner
process no longer exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field

import anyio
import anyio.to_thread

from ..runtime_io.instance_state import (
    LABEL_DEADLINE,
    LABEL_INSTANCE,
    LABEL_OWNER_PID,
    LABEL_OWNER_START,
    LOCK_NAME,
    MODE_JOURNAL_PREFIX,
    OWNER_NAME,
    RuntimeScope,
    StateDirError,
    ensure_private_root,
    owner_alive,
    read_mode_journal,
    read_runtimes,
    state_root,
    try_lock,
)
from ..runtime_io.tool_lookup import look_path
from ..runtime_io.tool_process import SCRATCH_PREFIX, ContainerRef, remove_container, run_tool
from .sandbox_env_file import ENV_DIR_PREFIX
from .sandbox_workspace_modes import restore_journalled, strip_setid_bits

log = logging.getLogger(__name__)

LIST_TIMEOUT_SECONDS = 30.0
KNOWN_TOOLS = ("podman", "docker", "nerdctl")


@dataclass
class InstanceLeftovers:
    """What one dead instance left, and (after a reap) what became of it."""

    id: str
    env_dirs: int = 0
    scratch_dirs: int = 0
    mode_journals: int = 0
    runtimes: list[RuntimeScope] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    containers_left: list[str] = field(default_factory=list)
    removed: bool = False


@dataclass
class OrphanContainer:
    tool: str
    scope_args: tuple[str, ...]
    name: str
    instance: str
    owner_pid: int
    deadline: str
    removed: bool = False


@dataclass
class ReapReport:
    instances: list[InstanceLeftovers] = field(default_factory=list)
    orphans: list[OrphanContainer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.instances and not self.orphans


def _entries(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


async def labelled_containers(runtime: RuntimeScope, label_filter: str) -> list[str] | None:
    """Names of the containers (any state) matching ``label=<label_filter>``; None on error."""
    base = [runtime.tool, *runtime.scope_args]
    with anyio.move_on_after(LIST_TIMEOUT_SECONDS):
        listing = await run_tool(
            [*base, "ps", "-a", "--filter", f"label={label_filter}", "--format", "{{.Names}}"],
            output_limit=16 << 20,
        )
        if listing.error is not None:
            return None
        names = (line.strip().lstrip("/") for line in listing.stdout.decode().splitlines())
        return [name for name in names if name]
    return None


def _survey(directory: str, instance_id: str) -> InstanceLeftovers:
    found = InstanceLeftovers(instance_id)
    for name in _entries(directory):
        if name.startswith(ENV_DIR_PREFIX):
            found.env_dirs += 1
        elif name.startswith(SCRATCH_PREFIX):
            found.scratch_dirs += 1
        elif name.startswith(MODE_JOURNAL_PREFIX):
            found.mode_journals += 1
    found.runtimes = read_runtimes(directory)
    return found


def _remove_secrets_and_restore(directory: str) -> None:
    """Steps 1 and 2: env files, then journalled modes (and planted setid bits)."""
    for name in _entries(directory):
        if name.startswith(ENV_DIR_PREFIX):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    for name in _entries(directory):
        if not name.startswith(MODE_JOURNAL_PREFIX):
            continue
        path = os.path.join(directory, name)
        journal = read_mode_journal(path)
        if journal is not None:
            workspace, entries = journal
            restore_journalled(workspace, [(e.parts, e.device, e.inode, e.mode) for e in entries])
            strip_setid_bits(workspace)
        os.unlink(path)


async def _reap_instance(directory: str, found: InstanceLeftovers) -> None:
    await anyio.to_thread.run_sync(_remove_secrets_and_restore, directory)
    complete = True
    for runtime in found.runtimes:
        names = await labelled_containers(runtime, f"{LABEL_INSTANCE}={found.id}")
        if names is None:
            complete = False  # the runtime did not answer: try again next start
            continue
        for name in names:
            found.containers.append(name)
            ref = ContainerRef(runtime.tool, name, runtime.scope_args)
            if not await remove_container(ref, LIST_TIMEOUT_SECONDS):
                found.containers_left.append(name)
                complete = False
    for name in _entries(directory):
        if name.startswith(SCRATCH_PREFIX):
            await anyio.to_thread.run_sync(shutil.rmtree, os.path.join(directory, name), True)
    if complete:
        await anyio.to_thread.run_sync(shutil.rmtree, directory, True)
        found.removed = True


async def dead_instances(root: str | None = None, *, reap: bool) -> ReapReport:
    """Every dead instance under the state root; with ``reap``, its leftovers removed."""
    report = ReapReport()
    root = root or state_root()
    if not os.path.isdir(root):
        return report
    try:
        ensure_private_root(root)
    except StateDirError as exc:
        report.errors.append(str(exc))
        return report
    for name in _entries(root):
        directory = os.path.join(root, name)
        if not os.path.isdir(directory) or os.path.islink(directory):
            continue
        lock_path = os.path.join(directory, LOCK_NAME)
        if not os.path.exists(lock_path):
            # Made by an instance that died before its lock (or is making it now): an empty
            # directory goes; anything else waits until it has a lock.
            with contextlib.suppress(OSError):
                os.rmdir(directory)
            continue
        fd = try_lock(lock_path)
        if fd is None:
            continue  # alive
        try:
            found = _survey(directory, name)
            report.instances.append(found)
            if reap:
                await _reap_instance(directory, found)
        finally:
            os.close(fd)
    return report


async def orphan_containers(
    tools: tuple[str, ...] = KNOWN_TOOLS,
    *,
    scopes: tuple[tuple[str, ...], ...] = (),
    reap: bool,
    root: str | None = None,
) -> list[OrphanContainer]:
    """Labelled containers whose owner process is gone and whose instance has no directory.

    The owner check compares the pid's start time (labels) with /proc, so a reused pid does
    not keep an orphan alive; a container whose owner runs in another pid namespace cannot be
    told apart from an orphan, which is why this runs only when asked (``leftovers``).
    """
    root = root or state_root()
    orphans: list[OrphanContainer] = []
    for tool in tools:
        try:
            look_path(tool)
        except Exception:
            continue
        for scope in (*scopes, ()) if tool == "nerdctl" else ((),):
            runtime = RuntimeScope(tool, scope)
            names = await labelled_containers(runtime, LABEL_INSTANCE)
            for name in names or []:
                orphan = await _orphan(runtime, name, root)
                if orphan is None:
                    continue
                if reap:
                    ref = ContainerRef(tool, name, scope)
                    orphan.removed = await remove_container(ref, LIST_TIMEOUT_SECONDS)
                orphans.append(orphan)
    return orphans


async def _orphan(runtime: RuntimeScope, name: str, root: str) -> OrphanContainer | None:
    labels = (LABEL_INSTANCE, LABEL_OWNER_PID, LABEL_OWNER_START, LABEL_DEADLINE)
    template = "|".join(f'{{{{index .Config.Labels "{label}"}}}}' for label in labels)
    inspect = await run_tool(
        [runtime.tool, *runtime.scope_args, "inspect", "--format", template, "--", name],
        output_limit=1 << 20,
        timeout=LIST_TIMEOUT_SECONDS,
    )
    if inspect.error is not None:
        return None  # gone meanwhile
    values = inspect.stdout.decode(errors="replace").strip().split("|")
    if len(values) != len(labels):
        return None
    instance, pid_text, start_text, deadline = values
    try:
        pid, start = int(pid_text), int(start_text)
    except ValueError:
        return None
    if not instance or os.path.exists(os.path.join(root, instance, OWNER_NAME)):
        return None  # the instance directory is there: dead_instances owns it
    if owner_alive(pid, start) or (os.path.exists(f"/proc/{pid}") and start == 0):
        return None
    return OrphanContainer(runtime.tool, runtime.scope_args, name, instance, pid, deadline)


async def reap_at_start() -> None:
    """What every start of the plugin does: reap dead instances, log what was found."""
    report = await dead_instances(reap=True)
    for error in report.errors:
        log.error("reaper: %s", error)
    for found in report.instances:
        log.warning(
            "reaped dead plugin instance %s: %d env file(s), %d scratch dir(s), %d mode"
            " journal(s), %d container(s)%s",
            found.id,
            found.env_dirs,
            found.scratch_dirs,
            found.mode_journals,
            len(found.containers),
            f"; left for later: {', '.join(found.containers_left)}"
            if found.containers_left
            else "",
        )
