"""Probe flow with fake tools on PATH: every branch, every report valid, nothing leaked."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from wfcompute_container.core.backends import RuntimeBackendReport
from wfcompute_container.goparity.platform import go_arch, go_os
from wfcompute_container.operations import probes, sandbox
from wfcompute_container.operations.probes import (
    DEFAULT_CONFORMANCE_IMAGE,
    ProbeOptions,
    default_probes,
    probe_all,
)

from .probe_fakes import (
    FACT_DETAILS,
    FULL_EVIDENCE,
    GENERATED_AT,
    FakeTool,
    calls,
    install,
    probe,
    run_call,
    run_workspace,
)

SECRET_MARKERS = ("/home/", ".sock", "token", "credential", "secret", "auth", "password")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


def podman_options(**changes: object) -> ProbeOptions:
    return replace(default_probes(GENERATED_AT)[0], **changes)  # type: ignore[arg-type]


def assert_not_leaking(text: str) -> None:
    lowered = text.lower()
    for marker in SECRET_MARKERS:
        assert marker not in lowered, text


def assert_no_claims(report: RuntimeBackendReport) -> None:
    assert report.executor_providers is None
    assert report.executors is None
    assert report.evidence.is_zero()


# --- pure helpers: worked examples of the reference --------------------------------------------


def test_evidence_digest_matches_reference_worked_examples() -> None:
    report = RuntimeBackendReport(
        backend_id="podman-rootless",
        family="podman",
        tool="podman",
        version="5.0.0",
        runtime_profiles=["sandboxed-oci-v1", "container-build-v1"],
        conformance_profiles=["distroless-static-v1"],
    )
    assert probes.evidence_digest(report) == (
        "sha256:3db120bd7fa0c7f28658a667f7649cf3dc7fcb2e1abb77f42884f790d9f7f3f3"
    )
    report.runtime_profiles = ["sandboxed-oci-v1"]
    assert probes.evidence_digest(report) == (
        "sha256:aa1d6840b6ef2ee0a058147c7d33ac238fb761fe366a54ad40bc4e6f680f615c"
    )


@pytest.mark.parametrize(
    ("parts", "digest"),
    [
        (
            ("sandboxed-command", "5.0.0", "command", "image"),
            "e778f9797ce1c52b461e06542c3128c10d769d2d3000fcc889904f0748e7a84a",
        ),
        (
            ("sandboxed-command", "5.0.0", "command", "rootfs"),
            "e695911d5cfa8f6f09935b2c47e909549f53aff0be99dba3127bafd67bbdd347",
        ),
        (
            ("sandboxed-container-build", "5.0.0", "container-build", "image"),
            "e345fa222bde462c4d5c88f13d0912e42e844498451a7c9f47e01b529dbe5a2a",
        ),
        (
            ("sandboxed-container-build", "5.0.0", "container-build", "rootfs"),
            "39b226b1f31deb31185246438b0a68c16002b884479cdea94ba9f7a05f3c190e",
        ),
        (
            ("sandboxed-command", "unknown", "command", "image"),
            "ceaf81d13253da8058b08e3761bd4807b82eaf5b928edc5746457c56b914d7a5",
        ),
        (
            ("sandboxed-command", "v2.3.1", "command", "image"),
            "0800555973768e0ac84330caeb71404b39dd103d2ca0544d12b7d838d5c501ba",
        ),
        (
            ("sandboxed-container-build", "v2.3.1", "container-build", "rootfs"),
            "10d50ad0281ed1b4b3ca43809d004f99bb7e0e188fc1f122c9f4d5480fc0a86d",
        ),
    ],
)
def test_claim_digest_matches_reference_worked_examples(
    parts: tuple[str, ...], digest: str
) -> None:
    assert probes.claim_digest(*parts) == "sha256:" + digest


def test_managed_scope_name_matches_reference() -> None:
    assert (
        probes.managed_runtime_scope_name("managed-containerd-linux-amd64", "distroless-static-v1")
        == "wfcompute-06d10e1aef1733a0"
    )
    assert (
        probes.managed_runtime_scope_name("managed-containerd", "distroless-static-v1")
        == "wfcompute-2fa49bfd91559a97"
    )


def test_executor_claims_follow_requested_profiles_in_order() -> None:
    providers, executors = probes.executor_claims(
        ["container-build-v1", "service-oci-v1", "sandboxed-oci-v1", "container-build-v1"], ""
    )
    assert providers == [
        "sandboxed-container-build",
        "sandboxed-command",
        "sandboxed-container-build",
    ]
    assert [e.version for e in executors] == ["unknown"] * 3
    # The digest uses the version as is (empty), not the "unknown" display value.
    assert executors[1].image_digest == probes.claim_digest(
        "sandboxed-command", "", "command", "image"
    )
    assert executors[1].to_wire()["execution_security_tier"] == "sandboxed-container"
    assert executors[1].proof_tier == "artifact-hash"
    assert probes.executor_claims(["service-oci-v1"], "1") == ([], [])


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        (b"5.0.0\n", "5.0.0"),
        (b"Docker version 24", "Docker"),
        (b"  \n", "unknown"),
        (b"\x00\x00", "unknown"),
        (b"4.3\x00.1 extra", "4.3.1"),
        (b"\xff1.0", "\udcff1.0"),
        (b"1.0\xe2\x82", "1.0\udce2\udc82"),
    ],
)
def test_sanitize_runtime_version(raw: bytes, version: str) -> None:
    assert probes.sanitize_runtime_version(raw) == version


def test_invalid_version_bytes_reach_the_wire_one_fffd_each_and_digests_hash_raw_bytes() -> None:
    import hashlib

    from wfcompute_container.goparity.jsonenc import marshal

    version = probes.sanitize_runtime_version(b"1.0\xe2\x82 build")
    assert marshal(version) == '"1.0\\ufffd\\ufffd"'
    assert probes.claim_digest("p", version) == (
        "sha256:" + hashlib.sha256(b"p\x001.0\xe2\x82").hexdigest()
    )
    _, executors = probes.executor_claims(["sandboxed-oci-v1"], version)
    provider = executors[0].provider
    assert executors[0].image_digest != probes.claim_digest(
        provider, "1.0\ufffd\ufffd", "", "image"
    )
    assert marshal(executors[0].version) == '"1.0\\ufffd\\ufffd"'


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "runtime version probe failed: runtime unavailable at /home/example/podman.sock",
            "runtime probe failed; details redacted",
        ),
        (
            "runtime conformance probe failed: registry credential token rejected",
            "runtime probe failed; details redacted",
        ),
        (
            "runtime version probe failed: authentication required",
            "runtime probe failed; details redacted",
        ),
        ("RUNTIME PROBE: Bearer x", "runtime probe failed; details redacted"),
        # Go lower-cases U+0130 to a plain "i" (Python adds a combining dot), so these match.
        (
            "runtime conformance workspace failed: mkdir /proc/credent\u0130al: no such file",
            "runtime probe failed; details redacted",
        ),
        ("x: AUTHENT\u0130CATION", "runtime probe failed; details redacted"),
        ("x: author\u0130zation", "runtime probe failed; details redacted"),
        ("x: unauthor\u0130zed", "runtime probe failed; details redacted"),
        ("x: cook\u0130e", "runtime probe failed; details redacted"),
        ("x: \u0130stanbul", "x: \u0130stanbul"),
        (
            "runtime version probe failed: exit status 1",
            "runtime version probe failed: exit status 1",
        ),
        ("  a\r\nb\x00c  ", "a  bc"),
        (" \x00 ", "runtime probe failed"),
    ],
)
def test_redact_probe_detail(message: str, reason: str) -> None:
    assert probes.redact_probe_detail(message) == reason


def test_go_platform_names() -> None:
    assert go_os() == "linux"
    assert go_arch() in ("amd64", "arm64", "386", "arm", "ppc64le", "s390x", "riscv64")


def test_default_probes_are_the_reference_three_then_the_real_cases() -> None:
    rows = [
        (p.backend_id, p.family, p.tool, p.command, p.isolation_mode, p.install_burden)
        for p in default_probes()
    ]
    assert rows == [
        ("podman-rootless", "podman", "podman", "podman", "user-namespace", "system-installed"),
        ("docker-desktop", "docker", "docker", "docker", "vm-backed-container", "desktop-managed"),
        (
            "nerdctl-containerd",
            "nerdctl",
            "nerdctl",
            "nerdctl",
            "shared-kernel-container",
            "system-installed",
        ),
        (
            "podman-rootful",
            "podman",
            "podman",
            "podman",
            "shared-kernel-container",
            "system-installed",
        ),
        (
            "docker-engine",
            "docker",
            "docker",
            "docker",
            "shared-kernel-container",
            "system-installed",
        ),
        ("podman-gvisor", "podman", "podman", "podman", "vm-backed-container", "system-installed"),
        ("docker-gvisor", "docker", "docker", "docker", "vm-backed-container", "system-installed"),
    ]
    assert [p.expected_identity for p in default_probes()] == [
        "podman-rootless",
        "docker-desktop",
        "",
        "podman-rootful",
        "docker-engine",
        "",
        "",
    ]
    # Only the gVisor backends name an OCI runtime, and the plugin chose it.
    assert [p.runtime_name for p in default_probes()] == ["", "", "", "", "", "runsc", "runsc"]
    for options in default_probes():
        assert options.version_args == ("version", "--format", "{{.Client.Version}}")
        assert options.conformance_image == DEFAULT_CONFORMANCE_IMAGE
        assert options.conformance_command == ("/usr/local/bin/wfcompute-sandbox-probe",)
        assert options.runtime_profiles == ("sandboxed-oci-v1", "container-build-v1")
        assert options.conformance_profiles == ("distroless-static-v1",)


# --- the flow ----------------------------------------------------------------------------------


def test_missing_executable_is_unsupported(fake_bin: Path) -> None:
    report = probe(podman_options())
    assert report.status == "unsupported"
    assert report.reason == "runtime executable is unavailable"
    assert report.os == "linux" and report.protocol_version == "compute.v1alpha1"
    assert report.version == ""
    assert_no_claims(report)


def test_supported_with_full_evidence(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman"), log)
    report = probe(podman_options())
    assert report.status == "supported", report.reason
    assert report.reason == ""
    assert report.version == "5.0.0"
    assert report.executor_providers == ["sandboxed-command", "sandboxed-container-build"]
    assert report.executors is not None and len(report.executors) == 2
    assert report.executors[0].image_digest == (
        "sha256:e778f9797ce1c52b461e06542c3128c10d769d2d3000fcc889904f0748e7a84a"
    )
    assert report.executors[1].rootfs_digest == (
        "sha256:39b226b1f31deb31185246438b0a68c16002b884479cdea94ba9f7a05f3c190e"
    )
    evidence = report.evidence
    assert (evidence.workspace, evidence.network, evidence.env, evidence.proof) == (True,) * 4
    assert evidence.cleanup
    assert evidence.digest == (
        "sha256:3db120bd7fa0c7f28658a667f7649cf3dc7fcb2e1abb77f42884f790d9f7f3f3"
    )
    details = evidence.details or []
    assert details[: len(FACT_DETAILS)] == FACT_DETAILS
    assert details[len(FACT_DETAILS) :] == [
        "identity:podman-rootless",
        "runtime-seccomp:on",
        "claim:env:held",
        "claim:loopback-only:held",
        "claim:workspace:held",
        "claim:read-only-root:held",
        "claim:run-user:held",
        "claim:no-capabilities:held",
        "claim:no-new-privileges:held",
        "claim:seccomp:held",
        "claim:user-namespace:held",
        "claim:pids-limit:held",
        "claim:memory-limit:held",
        "claim:tmp-noexec-nosuid-nodev:held",
        "claim:user-space-kernel:not-required",
        "claim:cleanup:held",
    ]
    assert report.generated_at == GENERATED_AT


def test_conformance_argv_is_command_runs_hardened_argv(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman"), log)
    probe(podman_options())
    recorded = calls(log)
    assert recorded[:3] == [
        "--version",
        "version --format {{.Client.Version}}",
        "info --format {{.Host.Security.Rootless}}|{{.Host.Security.SECCOMPEnabled}}",
    ]
    argv = run_call(log)
    assert argv[:3] == ["run", "--rm", "--name"]
    assert argv[3].startswith("wfcompute-probe-") and len(argv[3]) == len("wfcompute-probe-") + 16
    workspace = run_workspace(argv)
    # What sandbox.prepare gives command.run, with the probe's name, env and workspace.
    expected = sandbox.prepare(
        sandbox.Runtime(tool="podman"),
        probes.conformance_request(podman_options(), workspace),
        dry_run=True,
    ).args
    expected[3] = argv[3]
    env_file = argv[argv.index("--env-file") + 1]
    expected[expected.index("--env-file") + 1] = env_file
    labels = [i for i, word in enumerate(argv) if word == "--label"]
    assert labels, "probe containers carry the instance labels the reaper looks for"
    without_labels = [
        word for i, word in enumerate(argv) if i not in labels and i - 1 not in labels
    ]
    timeout = without_labels.index("--timeout")
    assert without_labels[timeout + 1] == "25"  # the probe's 20 s deadline plus podman's grace
    del without_labels[timeout : timeout + 2]
    assert without_labels == expected
    for flags in (
        ["--cap-drop", "ALL"],
        ["--security-opt", "no-new-privileges"],
        ["--pids-limit", "256"],
        ["--network", "none"],
        ["--memory", str(256 * 1024 * 1024)],
        ["--user", f"{os.getuid()}:{os.getgid()}"],
        ["--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=64m"],
        ["--", DEFAULT_CONFORMANCE_IMAGE, "/usr/local/bin/wfcompute-sandbox-probe"],
    ):
        start = argv.index(flags[0])
        assert argv[start : start + len(flags)] == flags
    assert "--read-only" in argv
    assert os.path.basename(workspace).startswith("wfcompute-runtime-probe-")
    assert not os.path.exists(workspace), "temporary workspace must be removed"
    assert not os.path.exists(env_file), "the probe's env file must be removed"
    assert len(recorded) == 4


def test_only_requested_profiles_are_advertised(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman"), log)
    report = probe(podman_options(runtime_profiles=("sandboxed-oci-v1",)))
    assert report.status == "supported"
    assert report.executor_providers == ["sandboxed-command"]
    assert report.executors is not None and len(report.executors) == 1
    assert report.evidence.digest == (
        "sha256:aa1d6840b6ef2ee0a058147c7d33ac238fb761fe366a54ad40bc4e6f680f615c"
    )


def test_version_failure_with_secret_stderr_is_degraded_without_leak(
    fake_bin: Path, log: Path
) -> None:
    install(
        fake_bin,
        FakeTool(
            "podman",
            version_exit=125,
            version_stderr="Error: cannot reach /home/example/.local/podman.sock token=abc\n",
        ),
        log,
    )
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == "runtime version probe failed: exit status 125"
    assert_not_leaking(report.to_json())
    assert_no_claims(report)


def test_version_failure_quotes_clean_stderr_error_line(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool(
            "docker",
            version_exit=1,
            version_stdout="28.2.2\n",
            version_stderr="Error response from daemon: daemon is not running\n\nSee --help\n",
        ),
        log,
    )
    report = probe(default_probes(GENERATED_AT)[1])
    assert report.status == "degraded"
    assert report.reason == (
        "runtime version probe failed: exit status 1: "
        "Error response from daemon: daemon is not running"
    )


def test_version_failure_whose_own_text_is_unsafe_is_redacted(fake_bin: Path, log: Path) -> None:
    # A stderr line that is clean by itself but makes no difference: the whole message is
    # checked, so a marker anywhere redacts it all.
    install(
        fake_bin, FakeTool("podman", version_exit=3, version_stderr="Error: unauthorized\n"), log
    )
    report = probe(podman_options())
    assert report.reason == "runtime version probe failed: exit status 3"


def test_unshippable_version_output_is_degraded(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman", version_stdout="/home/alice/bin/podman-5"), log)
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.version == ""
    assert report.reason == "runtime version probe failed: version output is not shippable text"
    assert_not_leaking(report.to_json())


def test_conformance_failure_with_credential_stderr_is_redacted(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool(
            "podman", run_exit=125, run_stdout="", run_stderr="registry credential token rejected\n"
        ),
        log,
    )
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == "runtime conformance probe failed: exit status 125"
    assert report.version == "5.0.0"
    assert_not_leaking(report.to_json())
    assert_no_claims(report)


def test_stderr_line_with_dotted_capital_i_marker_is_not_quoted(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool("podman", run_exit=1, run_stdout="", run_stderr="registry credent\u0130al bad\n"),
        log,
    )
    report = probe(podman_options())
    assert report.reason == "runtime conformance probe failed: exit status 1"


def test_missing_cleanup_evidence_is_degraded(fake_bin: Path, log: Path) -> None:
    evidence = json.dumps({"workspace": True, "network": True, "env": True, "proof": True})
    install(fake_bin, FakeTool("podman", run_stdout=evidence), log)
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == "runtime conformance evidence incomplete: missing cleanup"
    assert_no_claims(report)


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        ("", "decode evidence JSON: unexpected end of JSON input"),
        ("   \n", "decode evidence JSON: unexpected end of JSON input"),
        ("xyz", "decode evidence JSON: invalid character 'x' looking for beginning of value"),
        ('{"workspace":true', "decode evidence JSON: unexpected end of JSON input"),
        ("{}", "missing workspace,network,env,proof,cleanup"),
        ("null", "missing workspace,network,env,proof,cleanup"),
        (
            '{"workspace":"yes"}',
            "decode evidence JSON: json: cannot unmarshal string into Go struct field "
            "RuntimeBackendEvidence.workspace of type bool",
        ),
        (
            "[1]",
            "decode evidence JSON: "
            "json: cannot unmarshal array into Go value of type protocol.RuntimeBackendEvidence",
        ),
    ],
)
def test_garbage_or_partial_evidence_is_degraded(
    fake_bin: Path, log: Path, stdout: str, reason: str
) -> None:
    install(fake_bin, FakeTool("podman", run_stdout=stdout), log)
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == "runtime conformance evidence incomplete: " + reason
    assert_no_claims(report)


def test_evidence_keys_match_case_insensitively_and_unknown_keys_are_ignored(
    fake_bin: Path, log: Path
) -> None:
    evidence = (
        '{"WORKSPACE":true,"Network":true,"env":false,"env":true,"proof":true,'
        '"cleanUp":true,"extra":{"x":[1]},"Details":'
        + json.dumps(["probe-v1", *FACT_DETAILS[1:]])
        + ',"digest":""}'
    )
    install(fake_bin, FakeTool("podman", run_stdout="\n" + evidence + "\n"), log)
    report = probe(podman_options())
    assert report.status == "supported", report.reason
    assert (report.evidence.details or [])[0] == "probe-v1"
    assert report.evidence.digest.startswith("sha256:")


def test_evidence_digest_from_image_is_kept(fake_bin: Path, log: Path) -> None:
    digest = "sha256:" + "ab" * 32
    evidence = json.loads(FULL_EVIDENCE) | {"digest": digest}
    install(fake_bin, FakeTool("podman", run_stdout=json.dumps(evidence)), log)
    assert probe(podman_options()).evidence.digest == digest


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (
            {"details": ["found /home/alice/.config"]},
            "runtime conformance evidence incomplete: "
            "evidence.details[0] contains non-shippable runtime evidence",
        ),
        (
            {"digest": "sha256:NOT-HEX"},
            "runtime conformance evidence incomplete: "
            "evidence.digest must be sha256:<64 lowercase hex chars>",
        ),
    ],
)
def test_unshippable_evidence_is_degraded_not_invalid(
    fake_bin: Path, log: Path, extra: dict[str, object], reason: str
) -> None:
    evidence = json.loads(FULL_EVIDENCE) | extra
    install(fake_bin, FakeTool("podman", run_stdout=json.dumps(evidence)), log)
    report = probe(podman_options())
    assert report.status == "degraded"
    assert report.reason == reason
    assert_no_claims(report)


def test_docker_command_that_is_really_podman_is_not_advertised(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("docker", self_report="podman version 4.3.1"), log)
    report = probe(default_probes(GENERATED_AT)[1])
    assert report.status == "degraded"
    assert report.reason == 'runtime identity mismatch: "docker" command reports itself as podman'
    assert_no_claims(report)
    assert calls(log) == ["--version"], "nothing else runs once the identity is wrong"


def test_docker_client_talking_to_a_podman_engine_is_not_advertised(
    fake_bin: Path, log: Path
) -> None:
    install(
        fake_bin,
        FakeTool(
            "docker",
            self_report="Docker version 28.2.2, build e6534b4",
            server_components="Podman Engine Conmon OCI Runtime (runc) ",
        ),
        log,
    )
    report = probe(default_probes(GENERATED_AT)[1])
    assert report.status == "degraded"
    assert report.reason == 'runtime identity mismatch: "docker" engine reports itself as podman'
    assert report.version == "5.0.0"
    assert calls(log)[2] == "version --format {{range .Server.Components}}{{.Name}} {{end}}"
    assert len(calls(log)) == 3, "no conformance run for a misidentified engine"


def test_docker_engine_naming_itself_passes(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool("docker", server_components="Engine containerd runc docker-init "),
        log,
    )
    assert probe(default_probes(GENERATED_AT)[1]).status == "supported"


def test_self_report_naming_the_tool_itself_passes(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("docker", self_report="Docker version 20.10.24, build 297e128"), log)
    assert probe(default_probes(GENERATED_AT)[1]).status == "supported"


def test_hanging_version_times_out(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman", version_hangs=True), log)
    report = probe(podman_options(), timeout_ms=400)
    assert report.status == "degraded"
    assert report.reason == "runtime probe timed out"
    assert_no_claims(report)


def test_hanging_conformance_times_out_and_removes_its_container(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman", run_hangs=True), log)
    report = probe(podman_options(), timeout_ms=600)
    assert report.status == "degraded"
    assert report.reason == "runtime probe timed out"
    recorded = calls(log)
    name = run_call(log)[3]
    assert name.startswith("wfcompute-probe-")
    assert f"rm -f {name}" in recorded
    workspace = run_workspace(run_call(log))
    assert not os.path.exists(workspace)


def test_temporary_workspace_is_exactly_0703_during_the_run(fake_bin: Path, log: Path) -> None:
    install(
        fake_bin,
        FakeTool("podman", run_extra='/usr/bin/stat -c "mode=%a" "$workspace" >> "$0.modes"'),
        log,
    )
    assert probe(podman_options()).status == "supported"
    assert (fake_bin / "podman.modes").read_text().split() == ["mode=703"]


def test_configured_workspace_mode_is_relaxed_then_restored(
    fake_bin: Path, log: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    os.chmod(workspace, 0o750)
    install(
        fake_bin,
        FakeTool("podman", run_extra='/usr/bin/stat -c "mode=%a" "$workspace" >> "$0.modes"'),
        log,
    )
    report = probe(podman_options(conformance_workspace=f" {workspace} "))
    assert report.status == "supported"
    assert (fake_bin / "podman.modes").read_text().split() == ["mode=753"]
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o750
    assert workspace.exists(), "a configured workspace is kept"


def test_configured_workspace_keeps_special_bits(fake_bin: Path, log: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "sticky"
    workspace.mkdir()
    os.chmod(workspace, 0o1700)
    install(fake_bin, FakeTool("podman"), log)
    probe(podman_options(conformance_workspace=str(workspace)))
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o1700


def test_relative_configured_workspace_is_created_absolute(
    fake_bin: Path, log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    install(
        fake_bin,
        FakeTool("podman", run_extra='/usr/bin/stat -c "mode=%a" "$workspace" >> "$0.modes"'),
        log,
    )
    created = tmp_path / "nested" / "probe-ws"
    assert not (tmp_path / "nested").exists()
    report = probe(podman_options(conformance_workspace="nested/./probe-ws"))
    assert report.status == "supported"
    assert created.is_dir()
    assert f"-v {created}:/workspace:rw,nosuid,nodev" in " ".join(run_call(log))
    # Created 0700 (as Go's MkdirAll(path, 0o700)), 0703 only while the probe runs.
    assert (fake_bin / "podman.modes").read_text().split() == ["mode=703"]
    assert stat.S_IMODE(created.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "nested").stat().st_mode) == 0o700


def test_configured_workspace_that_is_a_file_is_degraded(
    fake_bin: Path, log: Path, tmp_path: Path
) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    install(fake_bin, FakeTool("podman"), log)
    report = probe(podman_options(conformance_workspace=str(path)))
    assert report.status == "degraded"
    assert report.reason == f"runtime conformance workspace failed: mkdir {path}: not a directory"
    assert path.read_text() == "x"


def test_probe_all_runs_concurrently_keeps_order_and_shares_a_workspace(
    fake_bin: Path, log: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "shared"
    workspace.mkdir()
    os.chmod(workspace, 0o700)
    # Each conformance run waits until all three have started: only concurrent probes finish.
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    wait_for_all = (
        f'/usr/bin/touch {barrier}/$(/usr/bin/basename "$0"); '
        f'while [ "$(/bin/ls {barrier} | /usr/bin/wc -l)" -lt 3 ]; do /bin/sleep 0.05; done'
    )
    install(fake_bin, FakeTool("podman", run_extra=wait_for_all), log)
    install(fake_bin, FakeTool("docker", run_extra=wait_for_all), log)
    install(fake_bin, FakeTool("nerdctl", run_extra=wait_for_all), log)
    chosen = default_probes(GENERATED_AT, conformance_workspace=str(workspace))
    chosen = [chosen[2], chosen[0], chosen[1]]
    results = anyio.run(lambda: probe_all(chosen, timeout_ms=20_000))
    assert [r.backend_id for r in results.reports] == [
        "nerdctl-containerd",
        "podman-rootless",
        "docker-desktop",
    ]
    assert [r.status for r in results.reports] == ["supported"] * 3
    assert len(results.supported_executors) == 6
    assert [c.provider for c in results.provider_capabilities] == [
        "sandboxed-command",
        "sandboxed-container-build",
    ]
    assert all(c.status == "supported" for c in results.provider_capabilities)
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700


def test_probe_all_mixes_outcomes(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("docker", version_exit=1), log)
    results = anyio.run(lambda: probe_all(default_probes(GENERATED_AT), timeout_ms=20_000))
    assert [r.status for r in results.reports] == [
        "unsupported",
        "degraded",
        "unsupported",
        "unsupported",
        "degraded",
        "unsupported",
        "degraded",
    ]
    assert results.supported_executors == []
    assert results.provider_capabilities == []
    for report in results.reports:
        assert report.validate_at(GENERATED_AT) is None


def test_custom_version_args_default_and_empty(fake_bin: Path, log: Path) -> None:
    install(fake_bin, FakeTool("podman"), log)
    probe(podman_options(version_args=None))
    assert calls(log)[1] == "version"
    log.unlink()
    # An empty (non-nil) list stays empty: the command runs with no arguments (answers `run`).
    probe(podman_options(version_args=()))
    assert calls(log)[1] == ""


def test_tool_without_a_sandbox_profile_is_degraded(fake_bin: Path, log: Path) -> None:
    # command.run cannot run apple-container: nothing proves its sandbox, so no claims.
    install(fake_bin, FakeTool("container", self_report="podman"), log)
    options = podman_options(
        backend_id="apple",
        family="apple-container",
        tool="apple-container",
        command="container",
        expected_identity="",
    )
    report = probe(options)
    assert report.status == "degraded"
    assert report.reason == (
        'runtime conformance probe failed: tool "apple-container" has no sandbox run profile'
    )
    assert not calls(log)[0].startswith("--version")
    assert not any(" run " in f" {line} " for line in calls(log))
    assert_no_claims(report)
