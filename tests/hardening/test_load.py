"""Load: 256 concurrent requests through one plugin, with random cancellations.

The mix: cheap methods (each answer compared with the one it gets alone), probes against fake
tools (some hang past their timeout), and real runs on podman and docker with the fixtures'
busybox image. Random `$/cancelRequest`s target earlier ids. Every request must be answered
exactly once; a request no cancel targeted must not be cancelled; memory must stay bounded;
no container and no env file may be left.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.run_backends import TOOLS
from tests.fixtures.runtime_state import leftover_paths
from tests.fixtures.sandbox_images import ensure_image
from tests.operations.probe_fakes import FakeTool, install

from .leftovers import containers_under, env_files_under
from .plugin_process import PeakRss, PluginProcess, id_key, rss_kib
from .valid_requests import command_run_params, valid_requests

REQUESTS = 256
RUNS_PER_TOOL = 12
PROBES = 24
CANCEL_PROBABILITY = 0.2
WAIT_SECONDS = 300.0
# RSS bounds (KiB), measured from the process after warm-up: growth while serving the load
# and what may remain once every answer is in. Generous: they catch unbounded growth
# (leaked requests, unbounded buffers), not allocator noise.
PEAK_GROWTH_KIB = 64 * 1024
RETAINED_GROWTH_KIB = 48 * 1024


def outcome(answer: dict[str, Any]) -> str:
    return "result" if "result" in answer else str(answer["error"]["code"])


def probe_params(tmp: Path, kind: str) -> dict[str, Any]:
    tool = FakeTool("podman", version_hangs=kind == "hang")
    path = install(tmp / f"fake-{kind}", tool, tmp / f"fake-{kind}.log")
    return {
        "probes": [
            {
                "backend_id": f"load-{kind}",
                "family": "podman",
                "tool": "podman",
                "command": str(path),
                "isolation_mode": "user-namespace",
                "runtime_profiles": ["sandboxed-oci-v1"],
            }
        ],
        "conformance_image": "localhost/probe:1",
        "timeout_ms": 1000 if kind == "hang" else 20000,
        "generated_at": "2026-06-09T00:00:00Z",
    }


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_256_concurrent_requests_with_random_cancellations(tmp_path: Path) -> None:
    images = {tool: ensure_image(tool, "workload") for tool in TOOLS}
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()

    cheap = valid_requests(tmp_path)
    probes = [("runtime.probe", probe_params(tmp_path, kind)) for kind in ("ok", "hang")]
    plan: list[tuple[str, dict[str, Any], str]] = []  # method, params, kind
    for tool in TOOLS:
        for index in range(RUNS_PER_TOOL):
            workspace = tmp_path / f"run-{tool}-{index}"
            workspace.mkdir()
            seconds = rng.choice(["0", "0.3", "1", "4"])
            script = f"echo ran-{index}; sleep {seconds}"
            params = command_run_params(
                workspace, tool, images[tool], ["sh", "-c", script], {"TOKEN": "t"}
            )
            plan.append(("command.run", params, f"run:{index}"))
    for index in range(PROBES):
        method, params = probes[index % 2]
        plan.append((method, params, "probe"))
    while len(plan) < REQUESTS:
        method, params = cheap[len(plan) % len(cheap)]
        plan.append((method, params, "cheap"))
    rng.shuffle(plan)

    plugin = PluginProcess(env={"TMPDIR": str(private_tmp)}, cwd=tmp_path)
    try:
        plugin.initialize()
        # Warm-up: each cheap and probe request alone, for its reference outcome and so the
        # RSS baseline includes imports and schema validators.
        reference: dict[str, str] = {}
        for index, (method, params) in enumerate([*cheap, *probes]):
            plugin.request(f"warm-{index}", method, params)
            reference[json.dumps([method, params], sort_keys=True)] = outcome(
                plugin.wait_answer(f"warm-{index}", 60)
            )
        baseline = rss_kib(plugin.pid)
        sampler = PeakRss(plugin.pid)

        cancelled: set[int] = set()
        cancels_sent = 0
        for msg_id, (method, params, kind) in enumerate(plan):
            plugin.request(msg_id, method, params)
            targets = []
            if msg_id and rng.random() < CANCEL_PROBABILITY:
                targets.append(rng.randrange(msg_id + 1))
            if kind.startswith("run:") and rng.random() < 0.5:
                targets.append(msg_id)  # a run cancelled while it is being set up or started
            for target in targets:
                cancelled.add(target)
                cancels_sent += 1
                plugin.send(
                    json.dumps(
                        {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": target}}
                    ).encode()
                    + b"\n"
                )
        plugin.wait_answers(list(range(REQUESTS)), WAIT_SECONDS)
        peak = sampler.stop()
        retained = rss_kib(plugin.pid)
        status = plugin.finish()
    finally:
        plugin.kill()

    context = f"(seed {seed})" + plugin.tail()
    assert status == 0, context
    assert not plugin.bad_lines, plugin.bad_lines[:3]
    counts = {msg_id: plugin.answers[id_key(msg_id)] for msg_id in range(REQUESTS)}
    assert all(count == 1 for count in counts.values()), (
        {k: v for k, v in counts.items() if v != 1},
        context,
    )
    cancelled_answers = 0
    for msg_id, (method, params, kind) in enumerate(plan):
        answer = plugin.by_id[id_key(msg_id)]
        got = outcome(answer)
        if got == "-32800":
            assert msg_id in cancelled, f"request {msg_id} ({kind}) cancelled unasked {context}"
            cancelled_answers += 1
            continue
        if kind.startswith("run:"):
            assert got == "result", (answer, context)
            expected = f"ran-{kind.split(':')[1]}\n".encode()
            assert base64.b64decode(answer["result"]["stdout"]) == expected, answer
        else:
            key = json.dumps([method, params], sort_keys=True)
            assert got == reference[key], (msg_id, method, answer, context)
    assert cancels_sent > 0
    assert peak - baseline <= PEAK_GROWTH_KIB, (baseline, peak)
    assert retained - baseline <= RETAINED_GROWTH_KIB, (baseline, retained)
    for tool in TOOLS:
        assert containers_under(tool, tmp_path) == [], (tool, context)
    assert env_files_under(private_tmp) == []
    left = sorted(str(p.relative_to(private_tmp)) for p in leftover_paths(private_tmp))
    assert left == [], (left, context)
    print(
        f"load: {REQUESTS} requests, {cancels_sent} cancels, {cancelled_answers} cancelled, "
        f"RSS baseline {baseline} KiB peak {peak} KiB after {retained} KiB (seed {seed})"
    )
