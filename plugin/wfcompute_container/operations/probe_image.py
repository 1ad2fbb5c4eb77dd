"""The conformance probe image: built offline, checks the sandbox from the inside.

The reference's default conformance image (distroless) has no probe program, so nothing could
ever reach "supported". This image carries a static busybox and
``/usr/local/bin/wfcompute-sandbox-probe``, a shell script that checks each evidence item
itself and prints RuntimeBackendEvidence JSON. A failed check leaves its field false and says
why in ``details``; the script always exits 0 so the host reports *which* evidence is missing.

Checks, and the field each one decides:
* ``workspace``: the working directory is /workspace, a file written there reads back
  byte-identical, and a write to the image root (/) fails (the root is read-only).
* ``network``: no network interface but ``lo`` (/sys/class/net, else /proc/net/dev).
* ``env``: WFCOMPUTE_RUNTIME_PROBE=1 is set.
* ``proof``: sha256sum of the written file equals the hash of the bytes meant to be written.
* ``cleanup``: the written file is removed and gone afterwards.

Facts for the host to judge (operations.probe_claims), one ``key:value`` detail each: ``uid``
and ``gid`` of the run, ``userns`` (``mapped`` unless /proc/self/uid_map is the identity map),
``capeff``, ``nonewprivs`` and ``seccomp`` from /proc/self/status, ``pids-limit`` and
``memory-limit`` (cgroup v2 ``pids.max``/``memory.max``, else v1 ``pids/pids.max`` and
``memory/memory.limit_in_bytes``), and ``tmp-mount`` (which of noexec, nosuid, nodev /tmp
is mounted with, from /proc/self/mountinfo).

The image is a root filesystem (operations.images: static busybox, its applets, the script)
loaded with ``<tool> import``: no registry, no Dockerfile, no network.
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass

from ..errors import InvalidInput
from ..goparity.text import quote, trim_space
from .images import BUSYBOX_CANDIDATES, build_rootfs_image
from .probes import DEFAULT_CONFORMANCE_COMMAND

DEFAULT_PROBE_IMAGE_TAG = "localhost/wfcompute-sandbox-probe:v1"
PROBE_IMAGE_TOOLS = ("podman", "docker")
PROBE_SCRIPT_PATH = DEFAULT_CONFORMANCE_COMMAND[0]

PROBE_SCRIPT = r"""#!/bin/sh
# wfcompute-sandbox-probe: checks the sandbox it runs in, prints RuntimeBackendEvidence JSON.
# Every check decides one field; a failed check leaves it false and adds a detail saying why.
PATH=/bin
export PATH

workspace=false
network=false
env=false
proof=false
cleanup=false
details='"wfcompute-sandbox-probe-v1"'
note() { details="$details,\"$1\""; }
# Detail text is limited to safe characters so it stays one shippable JSON string.
safe() { printf '%s' "$1" | tr -c 'a-zA-Z0-9._-' '_' | head -c 64; }

token=$(cat /proc/sys/kernel/random/uuid 2>/dev/null | tr -cd 'a-f0-9')
if [ -z "$token" ]; then
  token=$(od -An -N8 -tx1 /dev/urandom 2>/dev/null | tr -cd 'a-f0-9')
fi
token="${token:-$$}"

# env
if [ "${WFCOMPUTE_RUNTIME_PROBE:-}" = "1" ]; then
  env=true
  note "env:ok"
else
  note "env:probe-variable-missing"
fi

# network: only the loopback interface may exist.
interfaces=""
if [ -d /sys/class/net ]; then
  interfaces=$(ls /sys/class/net 2>/dev/null)
fi
if [ -z "$interfaces" ] && [ -r /proc/net/dev ]; then
  interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')
fi
if [ -z "$interfaces" ]; then
  note "network:interfaces-unreadable"
else
  others=""
  for interface in $interfaces; do
    if [ "$interface" != "lo" ]; then
      others="$others+$(safe "$interface")"
    fi
  done
  if [ -z "$others" ]; then
    network=true
    note "network:loopback-only"
  else
    note "network:interfaces${others}"
  fi
fi

# workspace: write and read back in /workspace; the image root must refuse writes.
written=""
file=".wfcompute-sandbox-probe-$token"
content="wfcompute-sandbox-probe $token"
if [ "$(pwd)" != "/workspace" ]; then
  note "workspace:working-directory-not-workspace"
elif ! printf '%s\n' "$content" > "/workspace/$file" 2>/dev/null; then
  note "workspace:write-failed"
else
  written="/workspace/$file"
  readback=$(cat "$written" 2>/dev/null)
  if [ "$readback" != "$content" ]; then
    note "workspace:read-back-mismatch"
  else
    rootfs_probe="/.wfcompute-rootfs-probe-$token"
    if ( : > "$rootfs_probe" ) 2>/dev/null; then
      rm -f "$rootfs_probe"
      note "workspace:rootfs-writable"
    else
      workspace=true
      note "workspace:ok"
      note "rootfs:read-only"
    fi
  fi
fi

# proof: the hash of the file on disk equals the hash of what was meant to be written.
if [ -n "$written" ]; then
  on_disk=$(sha256sum "$written" 2>/dev/null | cut -d' ' -f1)
  intended=$(printf '%s\n' "$content" | sha256sum | cut -d' ' -f1)
  if [ "${#on_disk}" -eq 64 ] && [ "$on_disk" = "$intended" ]; then
    proof=true
    note "proof:sha256:$on_disk"
  else
    note "proof:hash-mismatch"
  fi
else
  note "proof:nothing-written"
fi

# cleanup: what was written is removed and gone.
if [ -n "$written" ]; then
  rm -f "$written" 2>/dev/null
  if [ -e "$written" ]; then
    note "cleanup:file-left-behind"
  else
    cleanup=true
    note "cleanup:ok"
  fi
else
  note "cleanup:nothing-written"
fi

# Facts about the sandbox itself; the host judges them against what the run asked for.
# The run's user (it wrote and read back the workspace file above).
note "uid:$(safe "$(id -u 2>/dev/null)")"
note "gid:$(safe "$(id -g 2>/dev/null)")"

# User namespace: the identity map "0 0 4294967295" means none.
uid_map=$(tr -s ' \t' ' ' < /proc/self/uid_map 2>/dev/null | sed 's/^ //; s/ $//')
if [ -z "$uid_map" ]; then
  note "userns:unreadable"
elif [ "$uid_map" = "0 0 4294967295" ]; then
  note "userns:identity"
else
  note "userns:mapped"
fi

# /proc/self/status: effective capabilities, no_new_privs, seccomp mode (2 = filter).
status_field() { sed -n "s/^$1:[[:space:]]*//p" /proc/self/status 2>/dev/null | head -n 1; }
capeff=$(status_field CapEff)
note "capeff:$(safe "${capeff:-unreadable}")"
nonewprivs=$(status_field NoNewPrivs)
if [ -z "$nonewprivs" ]; then
  # gVisor's /proc/self/status has no NoNewPrivs line; prctl still answers (setpriv -d).
  nonewprivs=$(setpriv -d 2>/dev/null | sed -n 's/^no_new_privs:[[:space:]]*//p' | head -n 1)
fi
note "nonewprivs:$(safe "${nonewprivs:-unreadable}")"
seccomp=$(status_field Seccomp)
note "seccomp:$(safe "${seccomp:-unreadable}")"

# cgroup limits: v2 files at the cgroup root, else the v1 controllers.
first_readable() {
  for candidate in "$@"; do
    if [ -r "$candidate" ]; then
      head -n 1 "$candidate" 2>/dev/null
      return 0
    fi
  done
  return 1
}
pids=$(first_readable /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max)
note "pids-limit:$(safe "${pids:-unreadable}")"
memory=$(first_readable /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes)
note "memory-limit:$(safe "${memory:-unreadable}")"

# /tmp: a separate mount with noexec, nosuid and nodev (/proc/self/mountinfo field 6).
tmp_options=$(awk '$5 == "/tmp" { print $6 }' /proc/self/mountinfo 2>/dev/null | tail -n 1)
if [ -z "$tmp_options" ]; then
  note "tmp-mount:not-mounted"
else
  tmp_flags=""
  for flag in noexec nosuid nodev; do
    case ",$tmp_options," in
      *",$flag,"*) tmp_flags="${tmp_flags:+$tmp_flags+}$flag" ;;
    esac
  done
  note "tmp-mount:${tmp_flags:-none}"
fi

# The kernel the workload talks to: its release and the first line of its log. Under
# gVisor both come from gVisor's own kernel (4.4.0, "Starting gVisor..."); the host compares
# the release with its own.
note "kernel-release:$(safe "$(uname -r 2>/dev/null)")"
kernel_log=$(dmesg 2>/dev/null | head -n 1 | sed 's/^\[[^]]*\][[:space:]]*//')
note "kernel-log:$(safe "${kernel_log:-unreadable}")"

# Asked to hold (WFCOMPUTE_PROBE_HOLD=1), the probe stays alive until the host has read the
# sandbox from outside: it creates the ready file and waits, at most 20 s, for the release.
if [ "${WFCOMPUTE_PROBE_HOLD:-}" = "1" ]; then
  : > /workspace/.wfcompute-probe-ready 2>/dev/null
  waited=0
  while [ ! -e /workspace/.wfcompute-probe-release ] && [ "$waited" -lt 200 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f /workspace/.wfcompute-probe-ready /workspace/.wfcompute-probe-release 2>/dev/null
fi

printf '{"workspace":%s,"network":%s,"env":%s,"proof":%s,"cleanup":%s,"details":[%s]}\n' \
  "$workspace" "$network" "$env" "$proof" "$cleanup" "$details"
"""


@dataclass(frozen=True)
class ProbeImageBuild:
    tool: str
    tag: str
    image_id: str


def find_static_busybox() -> str:
    """A statically linked busybox on this machine (busybox-static), or InvalidInput."""
    for candidate in BUSYBOX_CANDIDATES:
        if os.path.isfile(candidate) and is_static_elf(candidate):
            return candidate
    found = shutil.which("busybox")
    if found is not None and is_static_elf(found):
        return found
    raise InvalidInput(
        "a statically linked busybox is required to build the probe image "
        "(install the busybox-static package)"
    )


def is_static_elf(path: str) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF":
                return False
            is64 = header[4] == 2
            order = "<" if header[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack_from(order + "Q", header, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
            else:
                (phoff,) = struct.unpack_from(order + "I", header, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", header, 42)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return False
    for index in range(phnum):
        (kind,) = struct.unpack_from(order + "I", table, index * phentsize)
        if kind == 3:  # PT_INTERP: needs a dynamic loader the image does not have
            return False
    return True


async def build_probe_image(tool: str, tag: str = DEFAULT_PROBE_IMAGE_TAG) -> ProbeImageBuild:
    """Import the probe image into ``tool``'s local store under ``tag`` (no registry)."""
    if tool not in PROBE_IMAGE_TOOLS:
        raise InvalidInput(f"probe image tool {quote(tool)} is unsupported (use podman or docker)")
    if trim_space(tag) == "" or any(ch.isspace() for ch in tag):
        raise InvalidInput(f"probe image tag {quote(tag)} is invalid")
    image_id = await build_rootfs_image(
        tool,
        tag,
        {PROBE_SCRIPT_PATH: (PROBE_SCRIPT.encode("utf-8"), 0o755)},
        changes=[f'CMD ["{PROBE_SCRIPT_PATH}"]'],
        busybox=find_static_busybox(),
    )
    return ProbeImageBuild(tool=tool, tag=tag, image_id=image_id)
