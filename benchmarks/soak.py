"""Soak: 100 000 hostile stdin lines through one plugin process, with the fuzzer's invariants.

The lines come from tests/hardening/fuzz_lines.py (seeded plain-random generator: random
bytes, random JSON, mutated and byte-corrupted valid requests for every method, golden
request lines, batches, invalid ids, blank and oversized lines). A sentinel request every
--sentinel-every lines must be answered (the plugin keeps serving, and the sender never runs
more than that far ahead). PATH is an empty directory, so no container tool is reachable.

Checked at the end: the process never died and exits 0 at EOF; every stdout line is JSON
valid against schemas/jsonrpc/output-line.schema.json; every readable request the soak sent
was answered exactly once, no id twice. Printed: lines sent, responses, errors by code, max
RSS of the plugin (sampled from /proc), elapsed time.

Run from the repository root: `python benchmarks/soak.py [--lines 100000] [--seed N]
[--max-seconds 900] [--json]`. Exit status 0 when every invariant held.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugin"), str(REPO)]

from tests.hardening.fuzz_lines import IdPool, RandomLines  # noqa: E402
from tests.hardening.plugin_process import (  # noqa: E402
    PeakRss,
    PluginProcess,
    id_key,
    request_line,
    responses_of,
    rss_kib,
)
from tests.hardening.valid_requests import DIGEST, golden_requests, valid_requests  # noqa: E402

LINE_LIMIT = 65536


def soak(lines: int, seed: int, max_seconds: float, sentinel_every: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wfcompute-soak-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "empty-bin").mkdir()
        plugin = PluginProcess(
            "--max-message-bytes",
            str(LINE_LIMIT),
            env={"PATH": str(tmp / "empty-bin"), "TMPDIR": str(tmp)},
            cwd=tmp,
        )
        try:
            plugin.initialize()
            start_rss = rss_kib(plugin.pid)
            peak = PeakRss(plugin.pid)
            generator = RandomLines(
                random.Random(seed),
                valid_requests(tmp),
                golden_requests(tmp),
                IdPool(),
                str(tmp / "no-catalog.json"),
                LINE_LIMIT,
            )
            expected: list[int | str] = []
            owned: list[int | str] = []
            kinds: Counter[str] = Counter()
            sent = 0
            sentinels = 0
            rss_trace: list[int] = []
            started = time.monotonic()
            while sent < lines and time.monotonic() - started < max_seconds:
                line = generator.next()
                plugin.send(line.data)
                sent += 1
                kinds[line.kind] += 1
                expected.extend(line.expect)
                owned.extend(line.own)
                if sent % sentinel_every == 0:
                    sentinels += 1
                    plugin.send(
                        request_line(f"sentinel-{sentinels}", "digest.validate", {"digest": DIGEST})
                    )
                    answer = plugin.wait_answer(f"sentinel-{sentinels}", 120)
                    if answer.get("result") != {"valid": True}:
                        raise AssertionError(f"sentinel answered {answer}")
                    if plugin.proc.poll() is not None:
                        raise AssertionError("the plugin died" + plugin.tail())
                    if sent % (sentinel_every * 10) == 0:
                        rss_trace.append(rss_kib(plugin.pid))
            sending_seconds = time.monotonic() - started
            plugin.wait_answers(expected[-1000:], 120)
            end_rss = rss_kib(plugin.pid)
            status = plugin.finish(timeout=120)
            elapsed = time.monotonic() - started
            max_rss = max(peak.stop(), end_rss)
        finally:
            plugin.kill()

    codes: Counter[str] = Counter()
    responses = 0
    for message in plugin.messages:
        for response in responses_of(message):
            responses += 1
            error = response.get("error")
            codes[str(error["code"]) if isinstance(error, dict) else "result"] += 1
    unanswered = [i for i in expected if plugin.answers[id_key(i)] != 1]
    doubled = [i for i in owned if plugin.answers[id_key(i)] > 1]
    return {
        "seed": seed,
        "lines_sent": sent,
        "lines_by_kind": dict(sorted(kinds.items())),
        "sentinels": sentinels,
        "tracked_requests": len(expected),
        "responses": responses,
        "outcomes": dict(sorted(codes.items())),
        "bad_stdout_lines": len(plugin.bad_lines),
        "not_answered_exactly_once": len(unanswered),
        "answered_twice": len(doubled),
        "exit_status": status,
        "rss_kib": {"after_initialize": start_rss, "max": max_rss, "at_eof": end_rss},
        "rss_kib_every_10_sentinels": rss_trace,
        "seconds": {"sending": round(sending_seconds, 1), "total": round(elapsed, 1)},
        "ok": status == 0
        and not plugin.bad_lines
        and not unanswered
        and not doubled
        and "-32603" not in codes
        and sent == lines,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--sentinel-every", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    figures = soak(args.lines, seed, args.max_seconds, args.sentinel_every)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"seed                 {figures['seed']}")
        print(f"lines sent           {figures['lines_sent']}  {figures['lines_by_kind']}")
        print(
            f"tracked requests     {figures['tracked_requests']} (+{figures['sentinels']} "
            "sentinels)"
        )
        print(f"responses            {figures['responses']}")
        print(f"outcomes             {figures['outcomes']}")
        print(f"bad stdout lines     {figures['bad_stdout_lines']}")
        print(f"not answered once    {figures['not_answered_exactly_once']}")
        print(f"answered twice       {figures['answered_twice']}")
        print(f"exit status          {figures['exit_status']}")
        print(f"RSS KiB              {figures['rss_kib']}")
        print(f"RSS KiB trace        {figures['rss_kib_every_10_sentinels']}")
        print(f"seconds              {figures['seconds']}")
        print("OK" if figures["ok"] else "FAILED")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
