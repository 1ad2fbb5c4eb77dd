"""LineReader's buffering against a simple model, for any chunking of the input."""

from __future__ import annotations

from pathlib import Path

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from wfcompute_container.rpc.framing import LineReader, OversizedLine

LIMIT = 12

line_contents = st.one_of(
    st.binary(max_size=LIMIT + 4),
    st.sampled_from([b"", b"  ", b"\t", b"x" * LIMIT, b"x" * (LIMIT + 1), b"y" * 40]),
).map(lambda b: b.replace(b"\n", b"."))


def expected(lines: list[tuple[bytes, bytes]]) -> list[bytes | OversizedLine]:
    out: list[bytes | OversizedLine] = []
    for content, end in lines:
        line = content + end
        line = line[:-1] if line.endswith(b"\n") else line
        line = line[:-1] if line.endswith(b"\r") else line
        if len(line) > LIMIT:
            out.append(OversizedLine(LIMIT))
        elif line.strip():
            out.append(line)
    return out


async def read_all(path: Path, chunk: int) -> list[bytes | OversizedLine]:
    with path.open("rb") as source:
        reader = LineReader(source.fileno(), LIMIT, chunk_size=chunk)
        out: list[bytes | OversizedLine] = []
        while (item := await reader.next_line()) is not None:
            out.append(item)
        reader.close()
    return out


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.tuples(line_contents, st.sampled_from([b"\n", b"\r\n"])), max_size=12),
    last_unterminated=st.booleans(),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_reader_matches_the_line_model(
    tmp_path_factory: object, lines: list[tuple[bytes, bytes]], last_unterminated: bool, chunk: int
) -> None:
    data = b"".join(content + end for content, end in lines)
    if last_unterminated and lines:
        data = data[: -len(lines[-1][1])]  # the final line may lack its terminator
        lines = [*lines[:-1], (lines[-1][0], b"")]
    path = Path(str(tmp_path_factory.mktemp("reader"))) / "input"  # type: ignore[attr-defined]
    path.write_bytes(data)
    assert anyio.run(read_all, path, chunk) == expected(lines)
