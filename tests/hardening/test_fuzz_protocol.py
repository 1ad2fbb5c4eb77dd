"""Fuzz the real spawned plugin's stdin with hypothesis: it must survive and answer correctly.

One plugin process serves a whole hypothesis run. After each example's lines a sentinel
request is sent; its answer proves the next valid request after the garbage is served, and
the ids the example allocated must all have been answered by then (or soon after: requests
run concurrently). At EOF the process must exit 0, and every allocated id must have been
answered at most once (exactly once where the line was readable).

PATH is an empty directory: no container tool can be reached, so runs and probes that a
mutation makes valid end quickly with -32011 or an unsupported report.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzz_lines import FuzzLine, IdPool, fuzz_lines
from .plugin_process import PluginProcess, id_key, request_line
from .valid_requests import DIGEST, golden_requests, valid_requests

LINE_LIMIT = 4096
EXAMPLES = 200
ANSWER_TIMEOUT = 30.0


def is_internal(plugin: PluginProcess, msg_id: int | str) -> bool:
    answer = plugin.by_id.get(id_key(msg_id), {})
    error = answer.get("error")
    return isinstance(error, dict) and error.get("code") == -32603


class FuzzSession:
    def __init__(self, tmp: Path) -> None:
        bin_dir = tmp / "empty-bin"
        bin_dir.mkdir()
        self.plugin = PluginProcess(
            "--max-message-bytes", str(LINE_LIMIT), env={"PATH": str(bin_dir)}, cwd=tmp
        )
        self.plugin.initialize()
        self.bases = valid_requests(tmp)
        self.golden = golden_requests(tmp)
        self.pool = IdPool()
        self.catalog = str(tmp / "no-catalog.json")
        self.expected: list[int | str] = []
        self.owned: list[int | str] = []
        self.sentinels = 0
        self.lines_sent = 0

    def run_example(self, lines: list[FuzzLine]) -> None:
        plugin = self.plugin
        for line in lines:
            plugin.send(line.data)
            self.lines_sent += 1
            self.expected.extend(line.expect)
            self.owned.extend(line.own)
        self.sentinels += 1
        sentinel = f"sentinel-{self.sentinels}"
        plugin.send(request_line(sentinel, "digest.validate", {"digest": DIGEST}))
        answer = plugin.wait_answer(sentinel, ANSWER_TIMEOUT)
        assert answer.get("result") == {"valid": True}, answer
        example_ids = [i for line in lines for i in line.expect]
        plugin.wait_answers(example_ids, ANSWER_TIMEOUT)
        assert plugin.proc.poll() is None, "the plugin died" + plugin.tail()
        assert not plugin.bad_lines, plugin.bad_lines[:3]
        internal = [line.data[:500] for line in lines for i in line.own if is_internal(plugin, i)]
        assert not internal, f"-32603 (a bug) for {internal}{plugin.tail()}"
        for msg_id in [i for line in lines for i in line.own]:
            assert plugin.answers[id_key(msg_id)] <= 1, f"id {msg_id} answered twice"

    def finish(self) -> None:
        plugin = self.plugin
        status = plugin.finish(timeout=60)
        assert status == 0, f"exit status {status}" + plugin.tail()
        assert not plugin.bad_lines, plugin.bad_lines[:3]
        for msg_id in self.expected:
            count = plugin.answers[id_key(msg_id)]
            assert count == 1, f"id {msg_id} answered {count} times" + plugin.tail()
        for msg_id in self.owned:
            assert plugin.answers[id_key(msg_id)] <= 1, f"id {msg_id} answered twice"
        assert not [i for i in self.owned if is_internal(plugin, i)], "-32603 answers"
        for index in range(1, self.sentinels + 1):
            assert plugin.answers[id_key(f"sentinel-{index}")] == 1


def test_fuzzed_lines_never_break_the_protocol(tmp_path: Path) -> None:
    session = FuzzSession(tmp_path)
    lines = fuzz_lines(session.bases, session.golden, session.pool, session.catalog, LINE_LIMIT)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(lines, min_size=1, max_size=8))
    def example(batch: list[FuzzLine]) -> None:
        session.run_example(batch)

    try:
        example()
        session.finish()
    finally:
        session.plugin.kill()
    # the run exercised what it claims to (guards against a strategy silently collapsing)
    assert session.lines_sent >= EXAMPLES
    assert len(session.expected) >= EXAMPLES // 2


def test_every_golden_request_line_with_garbage_between_is_served(tmp_path: Path) -> None:
    """Each golden `>` line, followed by garbage, then the next: each one is answered."""
    session = FuzzSession(tmp_path)
    garbage = [b"\xff\xfe{\n", b'{"jsonrpc":"2.0","id":\n', b"[[[[[[[[\n", b"\x00\n", b"{}\n"]
    try:
        for index, text in enumerate(session.golden):
            lines = [FuzzLine(garbage[index % len(garbage)])]
            import json

            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if (
                isinstance(value, dict)
                and value.get("method")
                not in (
                    "initialize",
                    "shutdown",
                    "exit",
                )
                and "id" in value
            ):
                msg_id = session.pool.take()
                value["id"] = msg_id
                method = value.get("method")
                if isinstance(method, str) and method.endswith(".run"):
                    value.setdefault("params", {})["runtime"] = {"tool": "nerdctl"}
                data = json.dumps(value).encode() + b"\n"
                expect = [msg_id] if len(data) < LINE_LIMIT - 16 else []
                lines.append(FuzzLine(data, expect, [msg_id]))
            session.run_example(lines)
        session.finish()
    finally:
        session.plugin.kill()
    assert session.sentinels == len(session.golden)
