"""Sandbox argv planning, validation texts, env file and root workspace modes (Go plugin)."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.fixtures.runtime_state import leftover_paths
from wfcompute_container.errors import InvalidInput
from wfcompute_container.operations.sandbox import (
    BUILD_TMPFS,
    CONTAINER_NAME_PREFIX,
    Runtime,
    SandboxRunRequest,
    availability_error,
    enrich_error,
    format_cpus,
    plan,
    prepare,
    redact_tool_detail,
)

UID_GID = f"{os.getuid()}:{os.getgid()}"
BASE = [
    "run",
    "--rm",
    "--name",
    "<container-name>",
    "--network",
    "none",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--pids-limit",
    "256",
    "--tmpfs",
    "/tmp:rw,noexec,nosuid,nodev,size=64m",
]


def request(**fields: Any) -> SandboxRunRequest:
    data: dict[str, Any] = {"image": "img", "command": ["./build.sh"], "workspace": "/ws"}
    data.update(fields)
    return SandboxRunRequest.model_validate(data)


def user_flags(tool: str) -> list[str]:
    keep_id = ["--userns", "keep-id"] if tool == "podman" and os.getuid() != 0 else []
    return [*keep_id, "--user", UID_GID]


def test_docker_reference_example_with_runtime_and_limits() -> None:
    argv = plan(
        Runtime(tool="docker", runtime_name="runsc"),
        request(limits={"memory_bytes": 268435456, "cpu_percent": 50}),
    )
    assert argv == [
        "docker",
        *BASE,
        "--read-only",
        "--user",
        UID_GID,
        "--runtime",
        "runsc",
        "--memory",
        "268435456",
        "--cpus",
        "0.50",
        "-v",
        "/ws:/workspace:rw",
        "-w",
        "/workspace",
        "--",
        "img",
        "./build.sh",
    ]


def test_podman_with_stdin_and_working_dir() -> None:
    argv = plan(
        Runtime(tool="podman"),
        request(stdin="aGk=", working_dir="work", command=["sh", "-c", "cat"]),
    )
    assert argv == [
        "podman",
        *BASE,
        "-i",
        "--read-only",
        *user_flags("podman"),
        "-v",
        "/ws:/workspace:rw,nosuid,nodev",
        "-w",
        "/workspace/work",
        "--",
        "img",
        "sh",
        "-c",
        "cat",
    ]


def test_builder_profile() -> None:
    argv = plan(
        Runtime(tool="docker"),
        request(
            image="builder-image",
            command=["/usr/local/bin/wfcompute-container-builder"],
            run_as_root=True,
            writable_rootfs=True,
            add_capabilities=["CHOWN", "FOWNER"],
            extra_tmpfs=[BUILD_TMPFS],
            env={"WORKFLOW_COMPUTE_BUILD_TAG": "example:test"},
        ),
    )
    assert argv == [
        "docker",
        *BASE,
        "--cap-add",
        "CHOWN",
        "--cap-add",
        "FOWNER",
        "--tmpfs",
        BUILD_TMPFS,
        "-v",
        "/ws:/workspace:rw",
        "-w",
        "/workspace",
        "--env-file",
        "<env-file>",
        "--",
        "builder-image",
        "/usr/local/bin/wfcompute-container-builder",
    ]
    assert "example:test" not in " ".join(argv)


def test_nerdctl_scope_goes_before_run() -> None:
    argv = plan(Runtime(tool="nerdctl", scope=["--namespace", "wfcompute-x"]), request())
    assert argv[:7] == [
        "nerdctl",
        "--namespace",
        "wfcompute-x",
        "run",
        "--rm",
        "--name",
        "<container-name>",
    ]


def test_entrypoint_override_clears_the_entrypoint_before_the_image() -> None:
    argv = plan(Runtime(tool="docker"), request(entrypoint_override=True, command=["/bin/x", "a"]))
    assert argv[-6:] == ["--entrypoint", "", "--", "img", "/bin/x", "a"]
    assert "--entrypoint" not in plan(Runtime(tool="docker"), request())


@pytest.mark.parametrize("command", [[], [""], ["  "]])
def test_entrypoint_override_requires_a_command(command: list[str]) -> None:
    with pytest.raises(InvalidInput, match=r"^entrypoint override requires a command$"):
        plan(Runtime(tool="docker"), request(entrypoint_override=True, command=command))


@pytest.mark.parametrize(
    ("percent", "text"),
    [
        (50, "0.50"),
        (150, "1.50"),
        (1, "0.01"),
        (333, "3.33"),
        (100, "1.00"),
        # Go converts to float64 before dividing: beyond 2**53 the integer itself rounds.
        (9007199254740993, "90071992547409.92"),
        (12345678901234567, "123456789012345.69"),
    ],
)
def test_cpus_has_two_decimals(percent: int, text: str) -> None:
    assert format_cpus(percent) == text


@pytest.mark.parametrize(
    ("network", "flag"),
    [
        ("", "none"),
        ("none", "none"),
        ("bridge", "bridge"),
        ("wfcompute-", "wfcompute-"),
        ("wfcompute-a.b_c-1", "wfcompute-a.b_c-1"),
    ],
)
def test_accepted_networks(network: str, flag: str) -> None:
    argv = plan(Runtime(tool="docker"), request(network=network))
    assert argv[argv.index("--network") + 1] == flag


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"workspace": " "}, "workspace is required for sandboxed-command"),
        ({"network": "host"}, 'unsupported sandbox network "host"'),
        ({"network": "wfcompute-a/b"}, 'unsupported sandbox network "wfcompute-a/b"'),
        ({"add_capabilities": [""]}, "docker capability cannot be empty"),
        ({"add_capabilities": ["sys_admin"]}, 'invalid docker capability "sys_admin"'),
        (
            {"add_capabilities": ["CHOWN"]},
            'docker capability "CHOWN" is not allowed for this sandbox profile',
        ),
        (
            {"add_capabilities": ["SYS_ADMIN"], "run_as_root": True},
            'docker capability "SYS_ADMIN" is not allowed for this sandbox profile',
        ),
        ({"extra_tmpfs": ["relative"]}, 'invalid docker tmpfs "relative"'),
        ({"extra_tmpfs": ["/x\n"]}, 'invalid docker tmpfs "/x\\n"'),
        (
            {"extra_tmpfs": [BUILD_TMPFS]},
            f'docker tmpfs "{BUILD_TMPFS}" is not allowed for this sandbox profile',
        ),
        (
            {"extra_tmpfs": ["/var/run:rw,size=1g"], "run_as_root": True},
            'docker tmpfs "/var/run:rw,size=1g" is not allowed for this sandbox profile',
        ),
        ({"working_dir": "../outside"}, "working_dir escapes workspace"),
        ({"working_dir": "/abs"}, "working_dir is invalid"),
        ({"env": {"1BAD": "x"}}, 'sandbox env name "1BAD" is invalid'),
        ({"env": {"": "x"}}, "sandbox env name is required"),
        ({"env": {"OK": "a\nb"}}, 'sandbox env "OK" contains unsupported newline or NUL'),
        ({"env": {"OK": "a\x00b"}}, 'sandbox env "OK" contains unsupported newline or NUL'),
        (
            {"data_mounts": [{"host_path": " ", "container_path": "/d"}]},
            "sandbox mount host and container paths are required",
        ),
        (
            {
                "data_mounts": [
                    {"host_path": "/srv/x", "container_path": "/d", "required_prefix": "/data"}
                ]
            },
            'sandbox mount "/srv/x" escapes required prefix',
        ),
        (
            {"data_mounts": [{"host_path": "/data/x", "container_path": "d"}]},
            'sandbox mount container path "d" is invalid',
        ),
        (
            {"data_mounts": [{"host_path": "/data/x", "container_path": "/d/../etc"}]},
            'sandbox mount container path "/d/../etc" is invalid',
        ),
    ],
)
def test_validation_texts(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan(Runtime(tool="docker"), request(**fields))
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("tool", "scope", "message"),
    [
        ("docker", ["--namespace", "x"], "runtime scope args are only supported for nerdctl"),
        ("podman", ["--namespace", "x"], "runtime scope args are only supported for nerdctl"),
        (
            "nerdctl",
            ["--address", "/run/containerd.sock"],
            "runtime scope must be --namespace <name>",
        ),
        ("nerdctl", ["--namespace"], "runtime scope must be --namespace <name>"),
        ("nerdctl", ["--namespace", " "], "runtime scope must be --namespace <name>"),
        ("nerdctl", ["--namespace", "a/b"], "runtime scope namespace is invalid"),
        ("nerdctl", ["--namespace", "-x"], "runtime scope namespace is invalid"),
    ],
)
def test_runtime_scope_texts(tool: str, scope: list[str], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        plan(Runtime.model_validate({"tool": tool, "scope": scope}), request())
    assert caught.value.message == message


def test_mounts_at_required_prefix_and_read_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = plan(
        Runtime(tool="docker"),
        request(
            data_mounts=[
                {"host_path": str(data), "container_path": "/data/", "required_prefix": str(data)},
                {"host_path": f"{data}/sub/../in", "container_path": "/in", "read_only": True},
            ]
        ),
    )
    volumes = [argv[i + 1] for i, flag in enumerate(argv) if flag == "-v"]
    assert volumes == ["/ws:/workspace:rw", f"{data}:/data:rw", f"{data}/in:/in:ro"]


def test_relative_workspace_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = plan(Runtime(tool="docker"), request(workspace="ws/./a/.."))
    assert f"{tmp_path}/ws:/workspace:rw" in argv


def test_real_prepare_names_the_container_and_writes_a_private_env_file(tmp_path: Path) -> None:
    secret = "canary-value-9f2"
    prepared = prepare(
        Runtime(tool="docker"),
        request(workspace=str(tmp_path), env={"B": secret, "A": "1"}),
        dry_run=False,
    )
    try:
        argv = prepared.argv
        assert argv[1:5] == ["run", "--rm", "--name", prepared.container_name]
        assert prepared.container_name.startswith(CONTAINER_NAME_PREFIX)
        env_path = argv[argv.index("--env-file") + 1]
        assert secret not in " ".join(argv)
        assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(env_path)).st_mode) == 0o700
        assert os.path.basename(env_path).startswith("wfcompute-sandbox-env-")
        assert Path(env_path).read_text() == f"A=1\nB={secret}\n"
    finally:
        prepared.cleanup()
    assert not os.path.exists(env_path)
    assert not os.path.exists(os.path.dirname(env_path))
    prepared.cleanup()  # idempotent


def test_two_runs_get_different_names(tmp_path: Path) -> None:
    names = {
        prepare(
            Runtime(tool="docker"), request(workspace=str(tmp_path)), dry_run=False
        ).container_name
        for _ in range(5)
    }
    assert len(names) == 5


def test_error_after_the_env_file_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(InvalidInput, match="runtime scope args are only supported for nerdctl"):
        prepare(
            Runtime(tool="docker", scope=["--namespace", "x"]),
            request(workspace=str(tmp_path), env={"A": "1"}),
            dry_run=False,
        )
    # Only this process's instance directory remains, holding its lock and owner record.
    (root,) = (tmp_path / "tmp").iterdir()
    assert root.name == f"wfcompute-state-{os.geteuid()}"
    (instance,) = root.iterdir()
    assert sorted(path.name for path in instance.iterdir()) == ["lock", "owner.json"]


def test_plan_has_no_side_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir(mode=0o700)
    workspace.chmod(0o700)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    plan(
        Runtime(tool="docker"), request(workspace=str(workspace), run_as_root=True, env={"A": "1"})
    )
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
    assert leftover_paths(tmp_path / "tmp") == []


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def make_tree(root: Path) -> dict[str, Path]:
    root.mkdir(mode=0o700)
    root.chmod(0o700)
    nested = root / "nested"
    nested.mkdir()
    nested.chmod(0o700)
    data = nested / "data.txt"
    data.write_text("d")
    data.chmod(0o600)
    tool = root / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o700)
    setuid = root / "setuid"
    setuid.write_text("s")
    setuid.chmod(0o4700)
    sticky = root / "shared"
    sticky.mkdir()
    sticky.chmod(0o1700)
    return {
        "root": root,
        "nested": nested,
        "data": data,
        "tool": tool,
        "setuid": setuid,
        "sticky": sticky,
    }


def test_root_profile_relaxes_and_restores_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "ws")
    prepared = prepare(
        Runtime(tool="docker"),
        request(workspace=str(tree["root"]), run_as_root=True),
        dry_run=False,
    )
    assert mode(tree["root"]) == 0o755
    assert mode(tree["nested"]) == 0o755
    assert mode(tree["data"]) == 0o644
    assert mode(tree["tool"]) == 0o755
    assert mode(tree["setuid"]) == 0o755
    assert mode(tree["sticky"]) == 0o755
    prepared.cleanup()
    assert mode(tree["root"]) == 0o700
    assert mode(tree["nested"]) == 0o700
    assert mode(tree["data"]) == 0o600
    assert mode(tree["tool"]) == 0o700
    assert mode(tree["setuid"]) == 0o4700
    assert mode(tree["sticky"]) == 0o1700


def test_relaxation_never_follows_symlinks(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "ws")
    outside_file = tmp_path / "outside.txt"
    outside_file.write_text("o")
    outside_file.chmod(0o600)
    outside_dir = tmp_path / "outside-dir"
    outside_dir.mkdir()
    outside_dir.chmod(0o700)
    (tree["root"] / "link-file").symlink_to(outside_file)
    (tree["root"] / "link-dir").symlink_to(outside_dir)
    prepared = prepare(
        Runtime(tool="docker"),
        request(workspace=str(tree["root"]), run_as_root=True),
        dry_run=False,
    )
    assert mode(outside_file) == 0o600
    assert mode(outside_dir) == 0o700
    prepared.cleanup()
    assert mode(outside_file) == 0o600
    assert mode(outside_dir) == 0o700


def test_restore_ignores_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "ws")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "data.txt").write_text("x")
    (decoy / "data.txt").chmod(0o666)
    prepared = prepare(
        Runtime(tool="docker"),
        request(workspace=str(tree["root"]), run_as_root=True),
        dry_run=False,
    )
    # What a root workload could do during the run: replace a directory with a link.
    os.rename(tree["nested"], tmp_path / "moved")
    os.symlink(decoy, tree["nested"])
    prepared.cleanup()
    assert mode(decoy / "data.txt") == 0o666
    assert mode(tree["root"]) == 0o700


def test_prepare_error_after_relaxation_restores_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "ws")
    with pytest.raises(InvalidInput, match="unsupported sandbox network"):
        prepare(
            Runtime(tool="docker"),
            request(workspace=str(tree["root"]), run_as_root=True, network="host"),
            dry_run=False,
        )
    assert mode(tree["root"]) == 0o700
    assert mode(tree["data"]) == 0o600


def test_relaxation_of_a_missing_workspace_reports_lstat(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(InvalidInput) as caught:
        prepare(
            Runtime(tool="docker"), request(workspace=str(missing), run_as_root=True), dry_run=False
        )
    assert caught.value.message == f"lstat {missing}: no such file or directory"


def test_enrich_error_uses_raw_lengths() -> None:
    assert enrich_error("exit status 125", b"", b"  boom \n") == "exit status 125: boom"
    assert enrich_error("exit status 125", b"out", b" ") == "exit status 125: "
    assert enrich_error("exit status 125", b" out ", b"") == "exit status 125: out"
    assert enrich_error("signal: killed", b"", b"") == "signal: killed"


def test_tool_detail_redaction_hides_sockets_and_homes() -> None:
    text = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is it running?"
    redacted = redact_tool_detail(text)
    assert "docker.sock" not in redacted and "unix://" not in redacted
    assert redacted.startswith("Cannot connect to the Docker daemon at ")
    assert "/home/alice" not in redact_tool_detail("config /home/alice/.config/x unreadable")


@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        (
            "",
            "Cannot connect to runtime socket\n",
            "exit status 1: Cannot connect to runtime socket",
        ),
        ("daemon unavailable\n", " \n", "exit status 1: daemon unavailable"),
        ("daemon unavailable", "stderr wins", "exit status 1: stderr wins"),
        (" \n", "\n", "exit status 1"),
    ],
)
def test_availability_error_adds_stderr_then_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: str, stderr: str, message: str
) -> None:
    """`docker version` failing: its trimmed stderr, else its stdout, else no detail (no `:`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f"printf '%s' {shlex.quote(stdout)}\n"
        f"printf '%s' {shlex.quote(stderr)} >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert anyio.run(availability_error, Runtime(tool="docker")) == message


def test_availability_error_is_none_when_the_tool_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text("#!/bin/sh\nprintf 'Server: fake\\n'\nprintf 'warning\\n' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert anyio.run(availability_error, Runtime(tool="docker")) is None


@pytest.mark.parametrize(
    ("tool", "runtime_name", "network", "flags"),
    [
        ("podman", "runsc", "", ["--runtime-flag", "network=none"]),
        ("podman", "runsc", "none", ["--runtime-flag", "network=none"]),
        ("podman", "runsc", "bridge", []),
        ("podman", "crun", "", []),
        ("docker", "runsc", "", []),
    ],
)
def test_gvisor_network_flag_is_chosen_by_the_plugin(
    tool: Any, runtime_name: str, network: str, flags: list[str]
) -> None:
    argv = plan(Runtime(tool=tool, runtime_name=runtime_name), request(network=network))
    assert argv[1 : 1 + len(flags)] == flags
    assert argv[1 + len(flags)] == "run"
    assert argv.count("--runtime-flag") == len(flags) // 2
