"""Judging a conformance run's claims from the probe image's facts, and the runtime's own word
on its mode: every claim fails on every kind of wrong fact, alone, and is named in the reason."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from wfcompute_container.core.backends import RuntimeBackendReport
from wfcompute_container.operations.probe_claims import (
    CLAIM_FAILED,
    CLAIM_HELD,
    CLAIM_NOT_REQUIRED,
    ClaimPlan,
    claim_details,
    failed_claims,
    failure_reason,
    judge_claims,
)
from wfcompute_container.operations.probes import (
    ProbeOptions,
    default_probes,
    docker_identity,
    podman_identity,
    redact_probe_detail,
)

from .probe_fakes import (
    FACT_DETAILS,
    GENERATED_AT,
    GVISOR_HOST_FACTS,
    GVISOR_INSIDE_FACTS,
    FakeTool,
    claim_outcomes,
    evidence_with,
    install,
    probe,
)

PLAN = ClaimPlan(
    uid=os.getuid(),
    gid=os.getgid(),
    pids_limit=256,
    memory_bytes=256 * 1024 * 1024,
    user_namespace=True,
    seccomp=True,
)
ALL_CLAIMS = [
    "env",
    "loopback-only",
    "workspace",
    "read-only-root",
    "run-user",
    "no-capabilities",
    "no-new-privileges",
    "seccomp",
    "user-namespace",
    "pids-limit",
    "memory-limit",
    "tmp-noexec-nosuid-nodev",
    "user-space-kernel",
    "cleanup",
]
# Claims only a gVisor backend makes.
GVISOR_ONLY = {"user-space-kernel"}
# Per claim: the fact that decides it and the kinds of wrong value the image can report
# (None: the fact is missing). Each kind must fail that claim and no other.
WRONG_FACTS: dict[str, tuple[str, list[str | None]]] = {
    "env": ("env", [None, "probe-variable-missing", "", "OK"]),
    "loopback-only": ("network", [None, "interfaces+eth0", "interfaces-unreadable"]),
    "workspace": (
        "workspace",
        [None, "write-failed", "read-back-mismatch", "working-directory-not-workspace"],
    ),
    "read-only-root": ("rootfs", [None, "writable"]),
    "run-user": ("uid", [None, str(os.getuid() + 1), "unreadable", f"{os.getuid()}x"]),
    "no-capabilities": (
        "capeff",
        [None, "0000000000000001", "000000000000000", "000000a80425fb00", "unreadable", ""],
    ),
    "no-new-privileges": ("nonewprivs", [None, "0", "unreadable", "10"]),
    "seccomp": ("seccomp", [None, "0", "1", "unreadable"]),
    "user-namespace": ("userns", [None, "identity", "unreadable"]),
    "pids-limit": ("pids-limit", [None, "max", "unreadable", "255", "2560", "0256", ""]),
    "memory-limit": (
        "memory-limit",
        [None, "max", "9223372036854771712", str(256 * 1024 * 1024 - 4096), "unreadable"],
    ),
    "tmp-noexec-nosuid-nodev": (
        "tmp-mount",
        [None, "not-mounted", "none", "nosuid+nodev", "noexec+nodev", "noexec+nosuid"],
    ),
    "cleanup": ("cleanup", [None, "file-left-behind", "nothing-written"]),
}
WRONG_CASES = [
    (claim, key, value) for claim, (key, values) in WRONG_FACTS.items() for value in values
]


def facts_with(key: str, value: str | None) -> list[str]:
    """FACT_DETAILS with ``key`` replaced by ``value`` (None: dropped)."""
    details = [d for d in FACT_DETAILS if d.partition(":")[0] != key]
    if value is not None:
        details.append(f"{key}:{value}")
    return details


def outcomes(details: list[str], plan: ClaimPlan = PLAN) -> dict[str, str]:
    return {r.name: r.outcome for r in judge_claims(details, plan)}


def test_the_facts_of_a_hardened_run_hold_every_claim() -> None:
    expected = dict.fromkeys(ALL_CLAIMS, CLAIM_HELD) | dict.fromkeys(
        GVISOR_ONLY, CLAIM_NOT_REQUIRED
    )
    assert outcomes(FACT_DETAILS) == expected
    assert set(WRONG_FACTS) == set(ALL_CLAIMS) - GVISOR_ONLY, "every claim has its wrong facts"


@pytest.mark.parametrize(("claim", "key", "value"), WRONG_CASES)
def test_each_wrong_fact_fails_its_claim_alone(claim: str, key: str, value: str | None) -> None:
    results = judge_claims(facts_with(key, value), PLAN)
    failed = failed_claims(results)
    assert [r.name for r in failed] == [claim]
    expected_fact = f"{key}:missing" if value is None else f"{key}:{value or 'empty'}"
    assert failed[0].fact == expected_fact
    assert failure_reason(failed) == (
        f"runtime conformance claims failed: {claim} ({expected_fact})"
    )
    assert f"claim:{claim}:failed" in claim_details(results)


def test_gid_decides_the_run_user_too() -> None:
    (failed,) = failed_claims(judge_claims(facts_with("gid", str(os.getgid() + 1)), PLAN))
    assert failed.name == "run-user"


def test_every_failed_claim_is_named_in_order() -> None:
    details = [d for d in FACT_DETAILS if d.partition(":")[0] not in ("pids-limit", "userns")]
    failed = failed_claims(judge_claims([*details, "pids-limit:max", "userns:identity"], PLAN))
    assert failure_reason(failed) == (
        "runtime conformance claims failed: user-namespace (userns:identity), "
        "pids-limit (pids-limit:max)"
    )


def test_nothing_reported_fails_every_required_claim() -> None:
    failed = [r.name for r in failed_claims(judge_claims([], PLAN))]
    assert failed == [c for c in ALL_CLAIMS if c not in GVISOR_ONLY]
    gvisor = [r.name for r in failed_claims(judge_claims([], GVISOR_PLAN))]
    assert gvisor == [c for c in ALL_CLAIMS if c != "user-namespace"]


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"user_namespace": False}, "user-namespace"),
        ({"seccomp": False}, "seccomp"),
        ({"memory_bytes": 0}, "memory-limit"),
    ],
)
def test_claims_the_backend_does_not_make_are_not_required(
    change: dict[str, object], claim: str
) -> None:
    plan = replace(PLAN, **change)  # type: ignore[arg-type]
    key = WRONG_FACTS[claim][0]
    for value in WRONG_FACTS[claim][1]:
        result = outcomes(facts_with(key, value), plan)
        assert result[claim] == CLAIM_NOT_REQUIRED
        assert CLAIM_FAILED not in result.values()


# --- gVisor: the user-space kernel from inside, the host's view of its sandbox ---------------

HOST_RELEASE = "6.1.0-host"
GVISOR_PLAN = replace(PLAN, user_namespace=False, gvisor=True, host_kernel_release=HOST_RELEASE)
# A hardened run under runsc: gVisor's kernel inside, the host's view of its sandbox.
GVISOR_FACTS = [*GVISOR_INSIDE_FACTS, *GVISOR_HOST_FACTS]
GVISOR_WRONG: list[tuple[str, str, str | None]] = [
    # Markers an image can print under runc do not make a user-space kernel: the release
    # must differ from the host's and the host must see runsc's sandbox process.
    ("user-space-kernel", "kernel-log", None),
    ("user-space-kernel", "kernel-log", "unreadable"),
    ("user-space-kernel", "kernel-log", "Linux_version_6.1.0"),
    ("user-space-kernel", "kernel-release", HOST_RELEASE),
    ("user-space-kernel", "kernel-release", None),
    ("user-space-kernel", "host-process", None),
    ("user-space-kernel", "host-process", "unknown"),
    ("user-space-kernel", "host-process", "runc"),
    ("user-space-kernel", "host-process", "python3"),
    ("no-new-privileges", "host-nonewprivs", None),
    ("no-new-privileges", "host-nonewprivs", "0"),
    ("no-new-privileges", "host-nonewprivs", "unreadable"),
    ("seccomp", "host-seccomp", None),
    ("seccomp", "host-seccomp", "0"),
    ("seccomp", "host-seccomp", "1"),
    ("pids-limit", "host-pids-limit", None),
    ("pids-limit", "host-pids-limit", "max"),
    ("pids-limit", "host-pids-limit", "255"),
    ("memory-limit", "host-memory-limit", None),
    ("memory-limit", "host-memory-limit", "max"),
    ("memory-limit", "host-memory-limit", "9223372036854771712"),
    ("tmp-noexec-nosuid-nodev", "tmp-mount", None),
    ("tmp-noexec-nosuid-nodev", "tmp-mount", "none"),
    ("tmp-noexec-nosuid-nodev", "tmp-mount", "nosuid+nodev"),
]


def gvisor_facts_with(key: str, value: str | None) -> list[str]:
    details = [d for d in GVISOR_FACTS if d.partition(":")[0] != key]
    return details if value is None else [*details, f"{key}:{value}"]


def test_a_hardened_gvisor_run_holds_every_claim() -> None:
    result = outcomes(GVISOR_FACTS, GVISOR_PLAN)
    assert result == dict.fromkeys(ALL_CLAIMS, CLAIM_HELD) | {"user-namespace": CLAIM_NOT_REQUIRED}
    # The same facts judged as a shared-kernel backend fail what gVisor hides from inside.
    shared = failed_claims(judge_claims(GVISOR_FACTS, replace(GVISOR_PLAN, gvisor=False)))
    assert [r.name for r in shared] == [
        "seccomp",
        "pids-limit",
        "memory-limit",
        "tmp-noexec-nosuid-nodev",
    ]


@pytest.mark.parametrize(("claim", "key", "value"), GVISOR_WRONG)
def test_each_wrong_gvisor_fact_fails_its_claim_alone(
    claim: str, key: str, value: str | None
) -> None:
    failed = failed_claims(judge_claims(gvisor_facts_with(key, value), GVISOR_PLAN))
    assert [r.name for r in failed] == [claim]


@pytest.mark.parametrize("key", ["nonewprivs", "seccomp", "pids-limit", "memory-limit"])
def test_inside_facts_never_stand_in_for_the_hosts(key: str) -> None:
    """A gVisor claim the host must see fails without the host fact, whatever the image says."""
    good = {"nonewprivs": "1", "seccomp": "2", "pids-limit": "256", "memory-limit": str(256 << 20)}
    details = [*gvisor_facts_with(f"host-{key}", None), f"{key}:{good[key]}"]
    details = [d for d in details if d != f"{key}:unreadable" and d != "seccomp:0"] + (
        [] if key == "seccomp" else ["seccomp:0"]
    )
    failed = failed_claims(judge_claims(details, GVISOR_PLAN))
    assert len(failed) == 1 and failed[0].fact == f"host-{key}:missing"


def test_gvisor_tmp_without_nosuid_nodev_needs_no_new_privs_and_no_capabilities() -> None:
    """nosuid and nodev are implied only while no_new_privs and an empty CapEff hold."""
    no_nnp = failed_claims(judge_claims(gvisor_facts_with("nonewprivs", "0"), GVISOR_PLAN))
    assert [r.name for r in no_nnp] == ["no-new-privileges", "tmp-noexec-nosuid-nodev"]
    caps = failed_claims(judge_claims(gvisor_facts_with("capeff", "0000000000000400"), GVISOR_PLAN))
    assert [r.name for r in caps] == ["no-capabilities", "tmp-noexec-nosuid-nodev"]


def test_a_fact_is_judged_by_its_first_report() -> None:
    details = [*facts_with("pids-limit", "max"), "pids-limit:256"]
    assert outcomes(details)["pids-limit"] == CLAIM_FAILED


def test_quoted_facts_are_cut_to_safe_text() -> None:
    (failed,) = failed_claims(judge_claims(facts_with("pids-limit", 'a"b c/' + "9" * 100), PLAN))
    assert failed.fact == "pids-limit:a_b_c_" + "9" * 58
    assert redact_probe_detail(failure_reason([failed])) == failure_reason([failed])


# --- the runtime's own word ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "mode", "seccomp"),
    [
        ("true|true\n", "podman-rootless", True),
        ("false|true", "podman-rootful", True),
        ("false|false", "podman-rootful", False),
        ("true", "podman-rootless", False),
        ("", "", False),
        ("yes|true", "", False),
        ("Error: no such format", "", False),
    ],
)
def test_podman_identity(info: str, mode: str, seccomp: bool) -> None:
    identity = podman_identity(info)
    assert (identity.mode, identity.seccomp) == (mode, seccomp)
    assert (identity.problem == "") == (mode != "")


@pytest.mark.parametrize(
    ("info", "mode", "seccomp"),
    [
        ("Docker Desktop|[name=seccomp,profile=default name=cgroupns]", "docker-desktop", True),
        ("Debian GNU/Linux 12 (bookworm)|[name=seccomp,profile=default]", "docker-engine", True),
        (
            "Ubuntu 24.04 LTS|[name=seccomp,profile=builtin name=rootless name=cgroupns]",
            "docker-engine-rootless",
            True,
        ),
        ("Fedora Linux 40|[name=seccomp,profile=unconfined]", "docker-engine", False),
        ("Alpine Linux|[]", "docker-engine", False),
        ("", "", False),
        ("|[name=seccomp,profile=default]", "", False),
        ("no separator", "", False),
    ],
)
def test_docker_identity(info: str, mode: str, seccomp: bool) -> None:
    identity = docker_identity(info)
    assert (identity.mode, identity.seccomp) == (mode, seccomp)


# --- the flow: identity and claims decide the report -----------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


def builtin(backend_id: str, **changes: object) -> ProbeOptions:
    (options,) = [p for p in default_probes(GENERATED_AT) if p.backend_id == backend_id]
    return replace(options, **changes)  # type: ignore[arg-type]


def claims_listed(report: RuntimeBackendReport) -> dict[str, str]:
    return claim_outcomes(report.evidence.details or [])


@pytest.mark.parametrize(
    ("backend_id", "tool", "info", "reason"),
    [
        (
            "podman-rootless",
            "podman",
            "false|true",
            "runtime identity mismatch: podman-rootless needs rootless podman, "
            "podman info reports rootful podman",
        ),
        (
            "podman-rootful",
            "podman",
            "true|true",
            "runtime identity mismatch: podman-rootful needs rootful podman, "
            "podman info reports rootless podman",
        ),
        (
            "docker-desktop",
            "docker",
            "Debian GNU/Linux 12 (bookworm)|[name=seccomp,profile=default]",
            "runtime identity mismatch: docker-desktop needs Docker Desktop, "
            "docker info reports Docker Engine",
        ),
        (
            "docker-engine",
            "docker",
            "Docker Desktop|[name=seccomp,profile=default]",
            "runtime identity mismatch: docker-engine needs Docker Engine, "
            "docker info reports Docker Desktop",
        ),
        (
            "podman-rootless",
            "podman",
            "",
            "runtime identity unknown: podman info does not say whether it is rootless",
        ),
        (
            "docker-engine",
            "docker",
            "",
            "runtime identity unknown: docker info does not name its operating system",
        ),
    ],
)
def test_identity_mismatch_is_degraded_though_every_claim_held(
    fake_bin: Path, log: Path, backend_id: str, tool: str, info: str, reason: str
) -> None:
    install(fake_bin, FakeTool(tool, info_stdout=info), log)
    report = probe(builtin(backend_id))
    assert report.status == "degraded"
    assert report.reason == reason
    assert report.executors is None and report.executor_providers is None
    # The run still happened: what it measured is listed.
    listed = claims_listed(report)
    assert list(listed) == ALL_CLAIMS
    assert CLAIM_FAILED not in listed.values()


def test_failed_info_is_an_unknown_identity(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman", info_exit=1), log)
    report = probe(builtin("podman-rootless"))
    assert report.status == "degraded"
    assert report.reason == "runtime identity unknown: podman info failed: exit status 1"


def test_identity_and_failed_claims_are_both_named(fake_bin: Path, log: Path) -> None:
    evidence = evidence_with(userns="identity", pids_limit="max")
    install(fake_bin, FakeTool("podman", info_stdout="false|true", run_stdout=evidence), log)
    report = probe(builtin("podman-rootless"))
    assert report.reason == (
        "runtime identity mismatch: podman-rootless needs rootless podman, podman info reports "
        "rootful podman; runtime conformance claims failed: user-namespace (userns:identity), "
        "pids-limit (pids-limit:max)"
    )


@pytest.mark.parametrize(("claim", "key", "value"), WRONG_CASES)
def test_a_failed_claim_degrades_the_report_and_is_named(
    fake_bin: Path, log: Path, claim: str, key: str, value: str | None
) -> None:
    details = facts_with(key, value)
    evidence = json.dumps(
        {"workspace": True, "network": True, "env": True, "proof": True, "cleanup": True}
        | {"details": details}
    )
    install(fake_bin, FakeTool("podman", run_stdout=evidence), log)
    report = probe(builtin("podman-rootless"))
    assert report.status == "degraded"
    assert report.reason.startswith(f"runtime conformance claims failed: {claim} ({key}:")
    assert report.executors is None and report.executor_providers is None
    listed = claims_listed(report)
    assert [name for name, outcome in listed.items() if outcome == CLAIM_FAILED] == [claim]


def test_seccomp_is_required_only_where_the_runtime_says_it_applies_it(
    fake_bin: Path, log: Path
) -> None:
    install(
        fake_bin,
        FakeTool("podman", info_stdout="true|false", run_stdout=evidence_with(seccomp="0")),
        log,
    )
    report = probe(builtin("podman-rootless"))
    assert report.status == "supported", report.reason
    assert claims_listed(report)["seccomp"] == CLAIM_NOT_REQUIRED
    assert "runtime-seccomp:off" in (report.evidence.details or [])


def test_shared_kernel_backends_do_not_need_a_user_namespace(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool("podman", info_stdout="false|true", run_stdout=evidence_with(userns="identity")),
        log,
    )
    report = probe(builtin("podman-rootful"))
    assert report.status == "supported", report.reason
    assert report.isolation_mode == "shared-kernel-container"
    assert claims_listed(report)["user-namespace"] == CLAIM_NOT_REQUIRED
    assert "identity:podman-rootful" in (report.evidence.details or [])


def test_rootless_docker_engine_is_a_docker_engine(fake_bin: Path, log: Path) -> None:
    info = "Ubuntu 24.04 LTS|[name=seccomp,profile=builtin name=rootless]"
    install(fake_bin, FakeTool("docker", info_stdout=info), log)
    report = probe(builtin("docker-engine"))
    assert report.status == "supported", report.reason
    assert "identity:docker-engine-rootless" in (report.evidence.details or [])
