"""Tool texts carrying credentials reach no answer and no log line (issue 10 item 7).

Fake podman/docker/nerdctl on a PATH print URL user-info, ``API_KEY=...``, an
``Authorization`` header, token shapes and a PEM key to stderr (and into probe evidence);
the real server is driven through command.run, container_build.run and runtime.probe at
``--log-level debug``. The canaries carry no marker word, so the older word-based checks
let them through. A workload's own stdout/stderr in a result (base64) is the tenant's data
and is not redacted, so the ``stdout``/``stderr`` fields of a result are not searched.
A real runtime is also asked to run an image that does not exist: its error stays useful.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import require_runtime
from tests.operations.probe_fakes import FACT_DETAILS
from wfcompute_container.operations.managed.sources import (
    DefaultObjectSource,
    ObjectFetchError,
    ObjectRequest,
)

from .plugin_process import PluginProcess, id_key
from .valid_requests import build_run_params, command_run_params

pytest_plugins = ["tests.fixtures.sandbox_images"]

GHP = "ghp_" + "C4n4ry00" * 4 + "Zz99"
CANARIES = {
    "url-user": "c4n4ryuser",
    "url-password": "c4n4rypass-9d1",
    "key-value": "c4n4ry-apikey-51e",
    "header": "c4n4ry-bearer-77a",
    "github": GHP,
    "github-pat": "github_pat_11C4N4RY0abcdefghij_0123456789",
    "gitlab": "glpat-C4n4ryC4n4ry01234567",
    "aws": "AKIAC4N4RY0123456789"[:20],
    "slack": "xoxb-123456789-C4n4ryXoxb",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJjNG40cnkiOjF9.c4n4rysig",
    "openai": "sk-C4n4ryC4n4ryC4n4ry0123",
    "pem": "YzRuNHJ5LXBlbS1ib2R5",
}
SECRET_LINES = [
    f"Error: pull https://{CANARIES['url-user']}:{CANARIES['url-password']}@registry.example/v2/",
    f"Error: upstream said API_KEY={CANARIES['key-value']} is invalid",
    f"Error: sent Authorization: Bearer {CANARIES['header']}",
    f"Error: keys {GHP} {CANARIES['github-pat']} {CANARIES['gitlab']} {CANARIES['aws']}",
    f"Error: more {CANARIES['slack']} {CANARIES['jwt']} {CANARIES['openai']}",
    "-----BEGIN EC PRIVATE KEY-----",
    CANARIES["pem"],
    "-----END EC PRIVATE KEY-----",
    # the last line alone is what probes quote: it must carry a canary too
    f"Error: pull https://{CANARIES['url-user']}:{CANARIES['url-password']}@r.example/ {GHP}",
]
SECRET_STDERR = "\n".join(SECRET_LINES) + "\n"


def fake_tool(bin_dir: Path, name: str, branches: str) -> None:
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\ncase "$1" in\n{branches}\n  *) exit 0 ;;\nesac\n')
    path.chmod(0o755)


def shout(exit_code: int) -> str:
    return f"printf '%s' {shlex.quote(SECRET_STDERR)} >&2; exit {exit_code}"


def evidence_with_secret_details() -> str:
    document = {
        "workspace": True,
        "network": True,
        "env": True,
        "proof": True,
        "cleanup": True,
        # The facts every claim needs (the report is supported), after the secret-bearing ones.
        "details": [f"mirror {GHP}", "plain-detail", *FACT_DETAILS[1:]],
    }
    return json.dumps(document)


def strings_outside_output(value: Any) -> Iterator[str]:
    """Every string of a message except a result's captured ``stdout``/``stderr``."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("stdout", "stderr") and isinstance(item, str):
                continue
            yield from strings_outside_output(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_outside_output(item)


def assert_no_canary(plugin: PluginProcess) -> None:
    for message in plugin.messages:
        for text in strings_outside_output(message):
            for name, canary in CANARIES.items():
                assert canary not in text, f"{name} canary in an answer: {text[:400]}"
    log = plugin.stderr_text
    for name, canary in CANARIES.items():
        assert canary not in log, f"{name} canary in the log: {log[-2000:]}"


def send_all(plugin: PluginProcess, requests: list[tuple[str, dict[str, Any]]]) -> None:
    try:
        plugin.initialize()
        for index, (method, params) in enumerate(requests):
            line = json.dumps({"jsonrpc": "2.0", "id": index, "method": method, "params": params})
            plugin.send(line.encode() + b"\n")
        plugin.wait_answers(list(range(len(requests))), 60)
        status = plugin.finish()
    finally:
        plugin.kill()
    assert status == 0
    assert not plugin.bad_lines, plugin.bad_lines[:3]


def test_tool_stderr_with_credentials_reaches_no_answer_or_log(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # podman answers `version` but every run fails with 125 (a tool error: enrich_error)
    fake_tool(
        bin_dir,
        "podman",
        '  --version) echo "podman version 5.0.0" ;;\n'
        "  version) echo 5.0.0 ;;\n"
        '  info) echo "true|true" ;;\n'
        f"  run|build) {shout(125)} ;;",
    )
    # docker's `version` fails (availability error, probe version reason)
    fake_tool(
        bin_dir,
        "docker",
        f'  --version) echo "Docker version 28.2.2" ;;\n  version) {shout(1)} ;;',
    )
    # nerdctl passes, publishing evidence whose details hold a token
    evidence = shlex.quote(evidence_with_secret_details())
    fake_tool(
        bin_dir,
        "nerdctl",
        '  --version) echo "nerdctl version 2.0.0" ;;\n'
        "  version) echo 2.0.0 ;;\n"
        f"  run) printf '%s' {evidence}; printf '%s' {shlex.quote(SECRET_STDERR)} >&2 ;;",
    )
    workspaces = {name: tmp_path / name for name in ("run", "build", "docker")}
    for workspace in workspaces.values():
        workspace.mkdir()
    (workspaces["build"] / "app").mkdir()
    (workspaces["build"] / "app" / "Dockerfile").write_text("FROM scratch\n")
    requests: list[tuple[str, dict[str, Any]]] = [
        ("command.run", command_run_params(workspaces["run"], "podman", "img", ["true"])),
        ("container_build.run", build_run_params(workspaces["build"], "podman", "img")),
        ("command.run", command_run_params(workspaces["docker"], "docker", "img", ["true"])),
        (
            "runtime.probe",
            {
                "backends": ["podman-rootless", "docker-desktop", "nerdctl-containerd"],
                "conformance_image": "localhost/probe:1",
                "timeout_ms": 10000,
            },
        ),
    ]
    plugin = PluginProcess("--log-level", "debug", env={"PATH": str(bin_dir)}, cwd=tmp_path)
    send_all(plugin, requests)
    assert_no_canary(plugin)

    # the tools' text was in play, and what is not a credential survives
    run_error = plugin.by_id[id_key(0)]["error"]
    assert run_error["message"].startswith("exit status 125: Error: pull https://<redacted>@"), (
        run_error
    )
    assert "registry.example/v2/" in run_error["message"]
    assert "API_KEY=<redacted> is invalid" in run_error["message"]
    assert "Authorization: Bearer <redacted>" in run_error["message"]
    build_error = plugin.by_id[id_key(1)]["error"]
    assert build_error["message"].startswith("exit status 125: "), build_error
    unavailable = plugin.by_id[id_key(2)]["error"]
    assert unavailable["code"] == -32011, unavailable
    assert unavailable["message"].startswith("sandbox runtime unavailable: exit status 1: Error:")
    reports = {r["tool"]: r for r in plugin.by_id[id_key(3)]["result"]["reports"]}
    assert reports["podman"]["status"] == "degraded"
    assert reports["podman"]["reason"] == "runtime conformance probe failed: exit status 125"
    assert reports["docker"]["reason"] == "runtime version probe failed: exit status 1"
    nerdctl = reports["nerdctl"]
    assert nerdctl["status"] == "supported", nerdctl
    assert nerdctl["evidence"]["details"][:2] == ["mirror <redacted>", "plain-detail"]


def test_managed_object_fetch_error_hides_url_credentials(tmp_path: Path) -> None:
    url = f"file://{CANARIES['url-user']}:{CANARIES['url-password']}@files.example/b.tar"

    async def fetch() -> None:
        await DefaultObjectSource().fetch(
            ObjectRequest(bundle_id="b", kind="archive", name="b.tar", url=url)
        )

    with pytest.raises(ObjectFetchError) as raised:
        anyio.run(fetch)
    text = str(raised.value)
    assert CANARIES["url-user"] not in text and CANARIES["url-password"] not in text
    assert "<redacted>@files.example/b.tar" in text
    assert "must not name a host" in text


@pytest.mark.parametrize("tool", ["podman", "docker"])
def test_real_runtime_missing_image_error_stays_useful(tool: str, tmp_path: Path) -> None:
    require_runtime(tool)
    image = "localhost/wfcompute-redaction-missing:0"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    plugin = PluginProcess("--log-level", "debug", cwd=tmp_path)
    send_all(plugin, [("command.run", command_run_params(workspace, tool, image, ["true"]))])
    error = plugin.by_id[id_key(0)]["error"]
    message = error["message"]
    assert message.startswith("exit status 125: "), error
    assert "wfcompute-redaction-missing" in message, message
    assert "<redacted>" not in message, message
