"""The pure-Python reducer as the oracle of the compiled one: both must leave the same results."""

from __future__ import annotations

import zlib
from pathlib import Path

from fdleak.sources.strace.reduce import BlockReducer, BlockResult, load_scan

# block sizes that cut pieces from their ends, and the driver's own
BLOCKS = (20_000, 7, 1)


def compiled_built() -> bool:
    return load_scan() is not None


def reduce_all(lines: list[str], compiled: bool, block: int, default_pid: int = 0) -> list[BlockResult]:
    """Every block's result as the drivers make them, the calls left in flight in the last."""
    reducer = BlockReducer(default_pid, compiled=compiled)
    results = []
    for start in range(0, len(lines), block):
        chunk = lines[start : start + block]
        results.append(reducer.reduce(chunk, start + 1, final=start + block >= len(lines)))
    if results:
        reducer.flush_unfinished(results[-1])
    return results


def reduce_all_bytes(lines: list[str], compiled: bool, block: int) -> list[BlockResult]:
    """reduce_all with each block handed over as the bytes of its lines (reduce_range's way)."""
    reducer = BlockReducer(0, compiled=compiled)
    results = []
    for start in range(0, len(lines), block):
        chunk = lines[start : start + block]
        data = "".join(line + "\n" for line in chunk).encode("latin-1")
        results.append(reducer.reduce_bytes(data, start + 1, final=start + block >= len(lines)))
    if results:
        reducer.flush_unfinished(results[-1])
    return results


def assert_same(lines: list[str], blocks: tuple[int, ...] = BLOCKS) -> None:
    # lines a byte range of a log can hold: the compiled loop also cuts them itself
    as_bytes = all(line.isascii() or max(line) <= "\xff" for line in lines) and not any(
        "\n" in line for line in lines
    )
    for block in blocks:
        if block < 10:
            lines = lines[:5_000]  # a block a line costs a result a line: the start will do
        pure = reduce_all(lines, False, block)
        compiled = reduce_all(lines, True, block)
        for index, (want, got) in enumerate(zip(pure, compiled, strict=True)):
            assert got == want, f"block {index} of {block} lines differs"
        if as_bytes:
            cut = reduce_all_bytes(lines, True, block)
            for index, (want, got) in enumerate(zip(pure, cut, strict=True)):
                assert got == want, f"block {index} of {block} lines, cut from bytes, differs"


def log_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(wbits=47).decompress(data)  # as much as a broken file holds
        except zlib.error:
            return []
    return data.decode("latin-1").split("\n")


def assert_same_reduction(path: Path) -> None:
    """Both reducers on a log file, its lines split as the parallel driver and the
    sequential one split them (without and with their newlines)."""
    lines = log_lines(path)
    if lines and lines[-1] == "":
        lines.pop()
    assert_same(lines)
    assert_same([line + "\n" for line in lines], blocks=(7, 20_000))
