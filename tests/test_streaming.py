"""Logs read in order and live strace output: blocks of whole lines, through the compiled loop.

Lines that reached the reducer with their newline missed the compiled loop's fast path
and went one by one through Python, about five times slower; these tests hold every
sequential input (a small file, gzip, stdin, an -ff set, a live trace) to the fast path.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from differential import compiled_built
from fdleak.lifecycle.timeline import TimedEngine
from fdleak.sources.strace.blocks import whole_lines
from fdleak.sources.strace.drive import LogDriver, Totals
from fdleak.sources.strace.inputs import resolve
from fdleak.sources.strace.live import LiveTrace
from fdleak.sources.strace.reduce import BlockReducer
from fdleak.sources.strace.spool import READ_PAUSE, Spool

PAIRS = 2_000
LEAKED = 7  # opens never closed, at the end of each log


def pairs_log(prefix: str) -> str:
    """``PAIRS`` open/close pairs, with the pieces of calls that strace split and failed
    calls, then ``LEAKED`` opens left open; each line after ``prefix``."""
    lines = []
    for n in range(PAIRS):
        ts = f"1795512173.{n:06d} "
        lines.append(f'{prefix}{ts}openat(AT_FDCWD</t>, "/t/f{n}", O_RDONLY|O_CLOEXEC) = 3</t/f{n}>\n')
        lines.append(f"{prefix}{ts}ioctl(3</t/f{n}>, FIONBIO, [1] <unfinished ...>\n")
        lines.append(f"{prefix}{ts}<... ioctl resumed>) = 0\n")
        lines.append(f'{prefix}{ts}openat(AT_FDCWD</t>, "/t/g{n}", O_RDONLY) = -1 ENOENT (No such file)\n')
        lines.append(f"{prefix}{ts}close(3</t/f{n}> <unfinished ...>\n")
        lines.append(f"{prefix}{ts}<... close resumed>) = 0\n")
    for n in range(LEAKED):
        lines.append(
            f'{prefix}1795512174.{n:06d} openat(AT_FDCWD</t>, "/t/l{n}", O_RDONLY) = {4 + n}</t/l{n}>\n'
        )
    return "".join(lines)


LINES = len(pairs_log("").splitlines())


def analyze_counting_python_lines(
    monkeypatch: pytest.MonkeyPatch, paths: list[str]
) -> tuple[Totals, TimedEngine, int]:
    """Analyze ``paths`` in one process; also how many lines the compiled loop handed to Python."""
    handed = 0
    line = BlockReducer._line

    def counted(self: BlockReducer, *args: object) -> None:
        nonlocal handed
        handed += 1
        line(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(BlockReducer, "_line", counted)
    engine = TimedEngine()
    totals = LogDriver(engine, jobs=1).run(resolve(paths))
    return totals, engine, handed


def open_fds(engine: TimedEngine) -> int:
    """How many fds were still open at the end of the log."""
    still_open, _, _ = engine.finish()
    return len(still_open)


needs_compiled = pytest.mark.skipif(not compiled_built(), reason="the compiled line loop is not built")


@needs_compiled
@pytest.mark.parametrize("kind", ["plain", "gzip", "stdin"])
def test_a_log_read_in_order_takes_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    text = pairs_log("4242  ").encode()
    path = tmp_path / "trace.log"
    if kind == "gzip":
        path.write_bytes(gzip.compress(text))
    else:
        path.write_bytes(text)
    if kind == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text)))
    totals, engine, handed = analyze_counting_python_lines(
        monkeypatch, ["-" if kind == "stdin" else str(path)]
    )
    assert totals.lines == LINES
    assert not totals.truncated
    assert handed <= 2  # the first lines, while the log's shape is not known yet
    assert open_fds(engine) == LEAKED


@needs_compiled
def test_split_files_take_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "trace.100").write_text(pairs_log(""))
    (tmp_path / "trace.101").write_text(pairs_log(""))
    totals, engine, handed = analyze_counting_python_lines(monkeypatch, [str(tmp_path / "trace.*")])
    assert totals.lines == 2 * LINES
    assert handed <= 2
    assert open_fds(engine) == 2 * LEAKED
    assert not totals.truncated


def test_a_split_file_cut_off_mid_line_is_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "trace.100").write_text(pairs_log("") + '1795512175.000000 openat(AT_FDCWD</t>, "/t/cu')
    (tmp_path / "trace.101").write_text(pairs_log(""))
    totals, engine, _ = analyze_counting_python_lines(monkeypatch, [str(tmp_path / "trace.*")])
    assert totals.truncated
    assert totals.lines == 2 * LINES + 1
    assert open_fds(engine) == 2 * LEAKED


@pytest.mark.parametrize("seed", range(20))
def test_whole_lines_regroups_any_chunks(seed: int) -> None:
    rng = random.Random(seed)
    text = b"".join(rng.choice([b"a", b"bc", b"\n", b"\n\n", b"defgh"]) for _ in range(rng.randrange(0, 200)))
    cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randrange(0, 20))))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    blocks = list(whole_lines(chunks))
    assert b"".join(blocks) == text
    assert all(block for block in blocks)
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    # a block per chunk that holds a newline, and the last line's own if it has none
    ending = 0 if text.endswith(b"\n") or not text else 1
    assert len(blocks) == sum(1 for chunk in chunks if b"\n" in chunk) + ending


def live_trace(text: bytes, keep: Path, limit: int) -> tuple[LiveTrace, list[bytes]]:
    """A LiveTrace reading ``text`` from a pipe, as it would strace's FIFO."""
    read_end, write_end = os.pipe()
    writer = os.fdopen(write_end, "wb")
    process = subprocess.Popen(["true"])
    with open(keep, "wb") as kept:  # closed by the trace too once the bound is hit
        trace = LiveTrace(process, read_end, kept, limit)
        writer.write(text)
        writer.close()
        blocks = list(trace.blocks())
    process.wait()
    trace.spool.close()
    return trace, blocks


def test_live_output_comes_whole_and_is_kept_whole_lines_within_the_bound(tmp_path: Path) -> None:
    text = pairs_log("4242  ").encode()
    limit = len(text) // 3
    trace, blocks = live_trace(text, tmp_path / "keep", limit)
    assert b"".join(blocks) == text
    kept = (tmp_path / "keep").read_bytes()
    assert trace.keep_truncated
    assert text.startswith(kept)
    assert kept.endswith(b"\n")
    assert limit - 200 < len(kept) <= limit  # every whole line that fits


def test_live_output_kept_whole_when_under_the_bound(tmp_path: Path) -> None:
    text = pairs_log("4242  ").encode() + b'4242  1795512175.0 openat(AT_FDCWD</t>, "/t/cu'
    trace, blocks = live_trace(text, tmp_path / "keep", len(text))
    assert b"".join(blocks) == text
    assert not blocks[-1].endswith(b"\n")
    assert (tmp_path / "keep").read_bytes() == text
    assert not trace.keep_truncated


TRICKLE = """
import os, time
for n in range(200):
    os.write(1, b"4242  1795512173.0 close(3</t/f%d>) = 0\\n" % n)
    time.sleep(0.001)
"""


def test_a_trickle_of_writes_is_read_a_pause_at_a_time() -> None:
    """strace writes each line on its own: the reader, pausing when little came, must take
    many lines a read rather than wake (and make strace wake it) for every one."""
    read_end, write_end = os.pipe()
    spool = Spool(read_end)
    started = time.monotonic()
    writer = subprocess.Popen([sys.executable, "-c", TRICKLE], stdout=write_end)  # no GIL shared
    os.close(write_end)
    blocks = list(spool.blocks())
    elapsed = time.monotonic() - started
    writer.wait()
    spool.close()
    assert b"".join(blocks).count(b"\n") == 200
    # one read per pause at most (two more: the first read, and the one that finds the end)
    assert len(blocks) <= elapsed / READ_PAUSE + 2
    assert len(blocks) < 60
