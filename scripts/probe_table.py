"""Render `probe --json` results as the README's Markdown table of what each backend proved.

    python3 scripts/probe_table.py root=/tmp/probe-root.json wfcompute-ci=/tmp/probe-user.json

Each argument is `<who ran it>=<file holding the probe --json output>`. One row per report:
who probed, the backend, the isolation it claims, the status, the claims that held, the
claims that failed with the fact the probe image measured, and the reason. Standard library
only, so it runs with any Python 3 (scripts/probe-table.sh calls it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

CLAIM_PREFIX = "claim:"


def claim_outcomes(details: list[str]) -> dict[str, str]:
    """``claim:<name>:<outcome>`` details in order, name to outcome."""
    outcomes: dict[str, str] = {}
    for detail in details:
        if detail.startswith(CLAIM_PREFIX):
            name, _, outcome = detail[len(CLAIM_PREFIX) :].partition(":")
            outcomes[name] = outcome
    return outcomes


def failed_facts(reason: str) -> dict[str, str]:
    """The measured fact per failed claim, read back from the reason's
    ``claims failed: name (fact), ...`` part."""
    marker = "claims failed: "
    at = reason.find(marker)
    if at < 0:
        return {}
    facts: dict[str, str] = {}
    for part in reason[at + len(marker) :].split("), "):
        name, _, fact = part.partition(" (")
        facts[name.strip()] = fact.rstrip(")").split(";")[0]
    return facts


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "–"


def rows(who: str, result: dict[str, Any]) -> list[str]:
    out = []
    for report in result.get("reports", []):
        evidence = report.get("evidence") or {}
        outcomes = claim_outcomes(evidence.get("details") or [])
        reason = report.get("reason", "")
        facts = failed_facts(reason)
        held = [n for n, o in outcomes.items() if o == "held"]
        failed = [f"{n} ({facts.get(n, '?')})" for n, o in outcomes.items() if o == "failed"]
        # The failed claims have their own column; the rest of the reason says what else.
        why = reason.split("runtime conformance claims failed")[0].rstrip("; ")
        out.append(
            "| "
            + " | ".join(
                cell(x)
                for x in (
                    who,
                    report["backend_id"],
                    report.get("isolation_mode", ""),
                    report["status"],
                    ", ".join(held),
                    ", ".join(failed),
                    why,
                )
            )
            + " |"
        )
    return out


def render(sources: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [
        "| probed as | backend | claims isolation | status | claims held | claims failed"
        " (measured) | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for who, result in sources:
        lines.extend(rows(who, result))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    sources = []
    for arg in argv:
        who, sep, path = arg.partition("=")
        if not sep:
            print(f"probe_table: expected <who>=<file>, got {arg!r}", file=sys.stderr)
            return 2
        with open(path, encoding="utf-8") as handle:
            sources.append((who, json.load(handle)))
    sys.stdout.write(render(sources))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
