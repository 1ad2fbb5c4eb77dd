"""Artifact hashing throughput against `sha256sum` over the same files, and peak memory.

Creates ~1 GiB of random files (one large file plus many medium ones) in a temporary
directory, warms the page cache, then times, best of --repeat runs each:

* `sha256sum` over every file (one process), and
* the plugin's `hash_artifacts` over the same tree, in a child process whose peak resident
  memory (ru_maxrss, from wait4) is reported next to that of a child that only imports
  the plugin, so the difference is what hashing itself needed.

Prints a markdown table header and one row. Run from the repository root:
`python benchmarks/artifact_hash.py [--total-mib 1024] [--repeat 3] [--dir /var/tmp]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

# The child reports its own hashing time on stdout; its rusage comes from wait4.
_CHILD = """
import sys, time
sys.path.insert(0, {plugin!r})
from wfcompute_container.workspace.artifacts import hash_artifacts
if {hash_files!r}:
    started = time.perf_counter()
    digest = hash_artifacts({base!r}, ["."])
    print(time.perf_counter() - started, digest)
else:
    print(0.0, "import-only")
"""


def make_tree(base: Path, total_mib: int) -> list[Path]:
    """Half the bytes in one large file, the rest in 8 MiB files."""
    files: list[Path] = []
    large = total_mib // 2
    chunk = os.urandom(MIB)
    sizes = [large] + [8] * ((total_mib - large) // 8)
    for index, size_mib in enumerate(sizes):
        path = base / ("large.bin" if index == 0 else f"part/{index:04d}.bin")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            for block in range(size_mib):
                # Vary each block so the data is not one repeated MiB.
                handle.write(block.to_bytes(8, "little") + chunk[8:])
        files.append(path)
    return files


def warm(files: list[Path]) -> None:
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(4 * MIB):
                pass


def time_sha256sum(files: list[Path]) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_child(base: Path, hash_files: bool) -> tuple[float, int]:
    """(seconds spent hashing as the child measured it, peak RSS in KiB)."""
    code = _CHILD.format(plugin=str(REPO / "plugin"), base=str(base), hash_files=hash_files)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: exec a fresh interpreter so its RSS is its own
        os.close(read_end)
        os.dup2(write_end, 1)
        os.execv(sys.executable, [sys.executable, "-c", code])
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        output = stream.read()
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"hashing child failed: {output}")
    seconds = float(output.split()[0])
    return seconds, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to create the files")
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum is not installed")

    base = Path(tempfile.mkdtemp(prefix="wfcompute-hash-bench-", dir=args.dir))
    try:
        files = make_tree(base, args.total_mib)
        total_bytes = sum(path.stat().st_size for path in files)
        warm(files)
        reference = min(time_sha256sum(files) for _ in range(args.repeat))
        runs = [run_child(base, hash_files=True) for _ in range(args.repeat)]
        ours = min(seconds for seconds, _ in runs)
        peak_kib = max(rss for _, rss in runs)
        _, baseline_kib = run_child(base, hash_files=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    mib = total_bytes / MIB
    print(
        "| files | MiB | sha256sum s (MiB/s) | plugin s (MiB/s)"
        " | ratio (sha256sum time / plugin time) | peak RSS hashing | RSS import only |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {len(files)} | {mib:.0f} | {reference:.2f} ({mib / reference:.0f}) "
        f"| {ours:.2f} ({mib / ours:.0f}) | {reference / ours:.2f} "
        f"| {peak_kib / 1024:.1f} MiB | {baseline_kib / 1024:.1f} MiB |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
