"""Valid requests for every method (cheap ones: no real runtime, no network).

The fuzzer mutates them, the canary test sends them with secret values, the load test mixes
them. Runs name `nerdctl`, which is not installed here (a quick -32011); the real-run
requests are built by `command_run_params`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures.run_backends import RunBackend
from tests.golden.test_golden import parse_case


def runtime_params(tool: str | RunBackend) -> dict[str, Any]:
    """A run's ``runtime`` params: a tool name, or a backend with its OCI runtime."""
    return tool.params if isinstance(tool, RunBackend) else {"tool": tool}


GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
DIGEST = "sha256:" + "d" * 64
DESCRIPTOR = {
    "name": "",
    "version": "v1.0.0",
    "execution_security_tier": "sandboxed-container",
    "proof_tier": "artifact-hash",
    "image_digest": "sha256:" + "a" * 64,
    "rootfs_digest": "sha256:" + "b" * 64,
}
# Methods that would end the session or its ability to serve: never fuzzed with an id.
SESSION_METHODS = frozenset({"initialize", "shutdown", "exit"})


def prepare_workspace(tmp: Path) -> Path:
    """A workspace with an artifact and a digest file (what the requests below point at)."""
    workspace = tmp / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "out.txt").write_text("artifact\n")
    (workspace / "app").mkdir(exist_ok=True)
    (workspace / "app" / "Dockerfile").write_text("FROM scratch\n")
    (workspace / ".wfcompute-container-build-digest").write_text(DIGEST + "\n")
    return workspace


def invocation_request(
    kind: str, workload: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "protocol_version": "compute.v1alpha1",
        "task_id": "task-1",
        "lease_id": "lease-1",
        "workload_kind": kind,
        "operation": "run-sandboxed-command" if kind == "command" else "build-sandboxed-container",
        "input": workload,
    }
    if env is not None:
        request["env"] = env
    return request


def command_run_params(
    workspace: Path,
    tool: str | RunBackend,
    image: str,
    args: list[str],
    env: dict[str, str] | None = None,
    timeout_ms: int = 120000,
) -> dict[str, Any]:
    return {
        "invocation": {
            "request": invocation_request("command", {"args": args}, env),
            "image": image,
            "workspace": str(workspace),
            "network": "none",
            "timeout_ms": timeout_ms,
            "timeout_limit_hit": "timeout",
        },
        "runtime": runtime_params(tool),
    }


def build_run_params(
    workspace: Path, tool: str | RunBackend, image: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "invocation": {
            "request": invocation_request(
                "container-build", {"context_directory": "app", "tags": ["example:test"]}, env
            ),
            "image": image,
            "workspace": str(workspace),
            "network": "none",
            "timeout_ms": 120000,
            "timeout_limit_hit": "timeout",
        },
        "runtime": runtime_params(tool),
    }


def valid_requests(tmp: Path, secret: str = "s3cret-value") -> list[tuple[str, dict[str, Any]]]:
    """(method, params) for every method but the lifecycle ones; ``secret`` in every env."""
    workspace = prepare_workspace(tmp)
    missing_catalog = str(tmp / "no-catalog.json")
    return [
        ("plugin.manifest", {}),
        ("adapters.catalog", {}),
        ("adapters.contract", {"adapter_id": "sandboxed-command", "descriptor": DESCRIPTOR}),
        (
            "env.resolve",
            {
                "workload_kind": "command",
                "env": [
                    {"name": "TOKEN", "secret_ref": "secret:token"},
                    {"name": "MODE", "value_ref": "config:mode"},
                ],
                "resolved": {"secret:token": secret, "config:mode": "fast"},
            },
        ),
        (
            "invocation.command",
            {
                "task_id": "task-1",
                "lease_id": "lease-1",
                "image": "example/image:1",
                "workspace": str(workspace),
                "workload": {
                    "args": ["sh", "-c", "true"],
                    "env": [{"name": "TOKEN", "secret_ref": "secret:token"}],
                    "artifact_allowlist": ["out.txt"],
                },
                "resolved_env": {"secret:token": secret},
            },
        ),
        (
            "invocation.container_build",
            {
                "task_id": "task-1",
                "lease_id": "lease-1",
                "image": "builder:1",
                "workspace": str(workspace),
                "workload": {
                    "context_directory": "app",
                    "tags": ["example:test"],
                    "env": [{"name": "TOKEN", "secret_ref": "secret:token"}],
                },
                "resolved_env": {"secret:token": secret},
            },
        ),
        (
            "build.resolve_paths",
            {
                "workspace": str(workspace),
                "workload": {"context_directory": "app", "tags": ["a:1"]},
            },
        ),
        (
            "sandbox.plan",
            {
                "runtime": {"tool": "podman"},
                "request": {
                    "image": "busybox",
                    "command": ["sh", "-c", "true"],
                    "workspace": str(workspace),
                    "env": {"TOKEN": secret},
                },
            },
        ),
        (
            "command.run",
            command_run_params(workspace, "nerdctl", "busybox", ["true"], {"TOKEN": secret}),
        ),
        ("container_build.run", build_run_params(workspace, "nerdctl", "builder", {"T": secret})),
        ("artifacts.hash", {"workspace": str(workspace), "allowlist": ["out.txt"]}),
        ("digest.validate", {"digest": DIGEST}),
        ("digest.parse_marker", {"output": f"x\nWORKFLOW_COMPUTE_BUILD_DIGEST={DIGEST}\n"}),
        ("digest.read_file", {"path": str(workspace / ".wfcompute-container-build-digest")}),
        (
            "runtime.probe",
            {
                "probes": [
                    {
                        "backend_id": "fuzz-missing",
                        "family": "nerdctl",
                        "tool": "nerdctl",
                        "command": "nerdctl",
                        "isolation_mode": "user-namespace",
                        "runtime_profiles": ["sandboxed-oci-v1"],
                    }
                ],
                "timeout_ms": 5000,
            },
        ),
        (
            "managed_runtime.doctor",
            {
                "catalog": missing_catalog,
                "install_root": str(tmp / "root"),
                "bundle_id": "managed-containerd-linux-amd64",
            },
        ),
        (
            "managed_runtime.install",
            {
                "catalog": missing_catalog,
                "install_root": str(tmp / "root"),
                "bundle_id": "managed-containerd-linux-amd64",
            },
        ),
        (
            "managed_runtime.uninstall",
            {"install_root": str(tmp / "root"), "bundle_id": "managed-containerd-linux-amd64"},
        ),
    ]


def golden_requests(tmp: Path) -> list[str]:
    """Every `>` line of every golden transcript (after substitution), as text."""
    subst = {"TMP": str(tmp), "CWD": str(tmp), "UID": "0", "GID": "0", "REPO": str(tmp)}
    lines: list[str] = []
    for path in sorted(GOLDEN_DIR.rglob("*.golden")):
        case = parse_case(path, subst)
        lines.extend(step.value for step in case.steps if step.kind == "send")
    return lines
