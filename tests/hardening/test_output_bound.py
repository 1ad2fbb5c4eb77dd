"""Every answer fits one message: a run's default output bound follows `max_message_bytes`.

Before, a run without `limits.output_bytes` kept up to 64 MiB of output and answered with a
line far past the plugin's own message limit (issue: 80-89 MB lines at a 16 MiB limit).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.run_backends import RunBackend
from tests.hardening.plugin_process import PluginProcess
from wfcompute_container.operations.runs import output_bound
from wfcompute_container.operations.sandbox import ToolName

pytest_plugins = ["tests.fixtures.sandbox_images"]

LIMIT = 1 << 20


@pytest.mark.parametrize(
    ("requested", "message_bytes", "expected"),
    [
        (0, 16 << 20, ((16 << 20) - (64 << 10)) * 3 // 4),
        (1000, 16 << 20, 1000),
        (0, None, 64 << 20),
        (50 << 20, LIMIT, (LIMIT - (64 << 10)) * 3 // 4),
        (0, 4096, (4096 - 1024) * 3 // 4),
    ],
)
def test_the_bound_is_the_smaller_of_the_request_and_one_message(
    requested: int, message_bytes: int | None, expected: int
) -> None:
    assert output_bound(requested, message_bytes) == expected


def test_a_loud_run_answers_limit_exceeded_within_one_message(
    backend: RunBackend, tool: ToolName, workload_image: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    plugin = PluginProcess("--max-message-bytes", str(LIMIT), cwd=tmp_path)
    try:
        plugin.initialize()
        plugin.request(
            1,
            "invocation.command",
            {
                "task_id": "t",
                "lease_id": "l",
                "image": workload_image,
                "workspace": str(workspace),
                # 3 MiB of output, three times the message limit.
                "workload": {"args": ["sh", "-c", "head -c 3145728 /dev/zero | tr '\\0' x"]},
            },
        )
        invocation = plugin.wait_answer(1)["result"]
        plugin.request(2, "command.run", {"invocation": invocation, "runtime": backend.params})
        answer = plugin.wait_answer(2, timeout=120)
        error = answer["error"]
        assert error["code"] == -32012, error
        assert error["data"]["result"]["resource_usage"]["limit_hit"] == "output_bytes"
        assert max(len(line) for line in plugin.raw_lines) <= LIMIT
    finally:
        plugin.kill()
