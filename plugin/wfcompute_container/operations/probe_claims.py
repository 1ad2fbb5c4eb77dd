"""What a conformance run must have proved, judged from the facts the probe image reported.

The probe image reports facts (``pids-limit:256``, ``capeff:0000000000000000``) in its
evidence ``details``; the host decides here whether each claim of the backend held, against
what the run asked for (the sandbox argv of command.run) and what the runtime itself says it
applies (seccomp). The image never judges the host's expectations: a fact that is missing,
unreadable or different fails its claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CLAIM_HELD = "held"
CLAIM_FAILED = "failed"
CLAIM_NOT_REQUIRED = "not-required"
# The first line of gVisor's kernel log as the probe image quotes it (safe characters).
GVISOR_KERNEL_LOG = "Starting_gVisor"
# The host process that runs gVisor's kernel for one container (operations.probe_host).
GVISOR_SANDBOX_PROCESS = "runsc-sandbox"


@dataclass(frozen=True)
class ClaimPlan:
    """What the conformance run asked for and which claims the backend makes."""

    uid: int
    gid: int
    pids_limit: int
    memory_bytes: int
    user_namespace: bool
    seccomp: bool
    gvisor: bool = False
    """A gVisor backend: the workload must be under gVisor's kernel, and the claims its
    kernel cannot show from inside are judged on the host's ``host-*`` facts."""
    host_kernel_release: str = ""
    """The host's ``uname -r``: a gVisor workload must see another kernel."""


@dataclass(frozen=True)
class ClaimResult:
    name: str
    outcome: str
    fact: str
    """The image's fact that decided it (``<key>:<value>``), or ``<key>:missing``."""


def _facts(details: Sequence[str]) -> dict[str, str]:
    """First value per key of ``key:value`` details (the image writes each key once)."""
    facts: dict[str, str] = {}
    for detail in details:
        key, sep, value = detail.partition(":")
        if sep and key not in facts:
            facts[key] = value
    return facts


_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
_FACT_LIMIT = 64


def safe_fact(value: str) -> str:
    """A fact's value as reported or quoted in a reason: safe characters only, cut short."""
    return "".join(c if c in _SAFE_CHARS else "_" for c in value[:_FACT_LIMIT]) or "empty"


def judge_claims(details: Sequence[str], plan: ClaimPlan) -> list[ClaimResult]:
    """Every claim in a fixed order, each held, failed or not required."""
    facts = _facts(details)
    present = set(details)
    results: list[ClaimResult] = []

    def fact(key: str) -> str:
        return f"{key}:{safe_fact(facts[key])}" if key in facts else f"{key}:missing"

    def claim(name: str, key: str, held: bool, required: bool = True) -> None:
        outcome = CLAIM_HELD if held else CLAIM_FAILED
        if not required:
            outcome = CLAIM_NOT_REQUIRED
        results.append(ClaimResult(name, outcome, fact(key)))

    user_ok = facts.get("uid") == str(plan.uid) and facts.get("gid") == str(plan.gid)
    capeff = facts.get("capeff", "")
    caps_ok = len(capeff) == 16 and all(c == "0" for c in capeff)
    tmp_flags = set(facts.get("tmp-mount", "").split("+"))

    claim("env", "env", facts.get("env") == "ok")
    claim("loopback-only", "network", facts.get("network") == "loopback-only")
    claim("workspace", "workspace", facts.get("workspace") == "ok")
    claim("read-only-root", "rootfs", "rootfs:read-only" in present)
    claim("run-user", "uid", user_ok)
    claim("no-capabilities", "capeff", caps_ok)
    nonewprivs = facts.get("nonewprivs") == "1"
    if plan.gvisor:
        # gVisor's kernel says no_new_privs from inside; the host says what guards the host:
        # the sandbox process has no_new_privs and gVisor's seccomp filter.
        claim(
            "no-new-privileges", "host-nonewprivs", nonewprivs and _host(facts, "nonewprivs", "1")
        )
        claim("seccomp", "host-seccomp", _host(facts, "seccomp", "2"))
    else:
        claim("no-new-privileges", "nonewprivs", nonewprivs)
        claim("seccomp", "seccomp", facts.get("seccomp") == "2", required=plan.seccomp)
    claim(
        "user-namespace",
        "userns",
        facts.get("userns") == "mapped",
        required=plan.user_namespace,
    )
    # Under gVisor the limits are the host cgroup's: they bound the sandbox's host threads.
    limit = "host-" if plan.gvisor else ""
    claim(
        "pids-limit",
        limit + "pids-limit",
        facts.get(limit + "pids-limit") == str(plan.pids_limit),
    )
    claim(
        "memory-limit",
        limit + "memory-limit",
        facts.get(limit + "memory-limit") == str(plan.memory_bytes),
        required=plan.memory_bytes > 0,
    )
    tmp_ok = {"noexec", "nosuid", "nodev"} <= tmp_flags
    if plan.gvisor and not tmp_ok:
        # gVisor's mountinfo shows noexec only. nosuid and nodev add nothing for a workload
        # with no_new_privs (a setuid bit grants nothing) and no capabilities (no mknod).
        tmp_ok = "noexec" in tmp_flags and nonewprivs and caps_ok
    claim("tmp-noexec-nosuid-nodev", "tmp-mount", tmp_ok)
    kernel_log = facts.get("kernel-log", "")
    user_space_kernel = (
        kernel_log.startswith(GVISOR_KERNEL_LOG)
        and facts.get("kernel-release", plan.host_kernel_release) != plan.host_kernel_release
        and facts.get("host-process") == GVISOR_SANDBOX_PROCESS
    )
    claim("user-space-kernel", "kernel-log", user_space_kernel, required=plan.gvisor)
    claim("cleanup", "cleanup", facts.get("cleanup") == "ok")
    return results


def _host(facts: dict[str, str], key: str, expected: str) -> bool:
    return facts.get("host-" + key) == expected


def claim_details(results: Sequence[ClaimResult]) -> list[str]:
    """``claim:<name>:<outcome>`` per claim, for the report's evidence details."""
    return [f"claim:{r.name}:{r.outcome}" for r in results]


def failed_claims(results: Sequence[ClaimResult]) -> list[ClaimResult]:
    return [r for r in results if r.outcome == CLAIM_FAILED]


def failure_reason(failed: Sequence[ClaimResult]) -> str:
    """``runtime conformance claims failed: pids-limit (pids-limit:max), ...``."""
    named = ", ".join(f"{r.name} ({r.fact})" for r in failed)
    return f"runtime conformance claims failed: {named}"
