"""Reading whole logs: blocks of lines through the reducer, in order, into an engine.

A large plain file is cut at line boundaries and its blocks reduced by worker
processes (two cores here); stdin, gzip, -ff sets and -r logs go through one reducer.
"""

from __future__ import annotations

import gc
import heapq
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice, pairwise
from typing import Protocol, cast

from fdleak.model.events import FdEvent
from fdleak.model.kinds import FdKind
from fdleak.sources.strace.inputs import LogInput, read_blocks, read_lines
from fdleak.sources.strace.lines import PREFIX, parse_ts
from fdleak.sources.strace.reduce import BlockReducer, BlockResult, Item, RawPiece

BLOCK_LINES = 20_000
# a worker's byte range: an open and its close fold only inside one, so bigger blocks send
# the engine fewer events (8 MB: about 8 % less time than 4 on bench/analyze.py's log, for
# 7 MB more per worker); the first block's wait and the last one's tail grow with them
BLOCK_BYTES = 8 << 20
PARALLEL_MIN_BYTES = 16 << 20
# allocations between young-generation collections while blocks stream (CPython's default: 700)
GC_YOUNG = 50_000
WORKER_NICE = 5  # how much less CPU priority the workers take than the engine
Progress = Callable[[int], None]


class EventSink(Protocol):
    """Where events go: the fd-table engine, in practice."""

    def apply(self, ev: FdEvent, offset: int = 0) -> None: ...

    def add_pairs(self, pairs: dict[tuple[int, FdKind, str], list[int]], offset: int) -> None: ...


@dataclass
class Totals:
    """Window figures summed over every block."""

    lines: int = 0
    unparsed: int = 0
    events: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    relative: bool = False
    errors: dict[tuple[int, str, str], list[float | int | None]] = field(default_factory=dict)
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    truncated: bool = False


class LogDriver:
    """Feeds every block's result into ``engine`` in input order."""

    def __init__(self, engine: EventSink, jobs: int | None = None, progress: Progress | None = None) -> None:
        self.engine = engine
        self.jobs = jobs if jobs is not None else min(2, os.cpu_count() or 1)
        self.progress = progress
        self.totals = Totals()
        self._joiner = BlockReducer()  # joins pieces split across blocks

    def run(self, inputs: list[LogInput]) -> Totals:
        with rare_collections():
            if len(inputs) > 1 and all(i.pid is not None for i in inputs):
                self._sequential(_joined(_merge_split_files(inputs, self.totals)), BlockReducer())
            else:
                for log in inputs:
                    self._one(log)
        return self.totals

    def run_blocks(self, blocks: Iterable[bytes]) -> Totals:
        """A live strace's output (prefixed with pids: -f and -o) in blocks of whole lines,
        read as it comes."""
        with rare_collections():
            self._sequential(blocks, BlockReducer())
        return self.totals

    def _one(self, log: LogInput) -> None:
        relative = _looks_relative(log)
        root = log.pid or _attached_first(log)
        self.totals.relative = self.totals.relative or relative
        if (
            self.jobs > 1
            and not log.gzipped
            and log.path != "-"
            and not relative
            and log.size >= PARALLEL_MIN_BYTES
        ):
            self._parallel(log, root)
        else:
            self._sequential(read_blocks(log), BlockReducer(root, relative))

    def _sequential(self, blocks: Iterable[bytes], reducer: BlockReducer) -> None:
        """Blocks of whole lines, in order, through one reducer; a last line without its
        newline (a log cut off mid-line) comes as a block of its own."""
        done_bytes = 0
        for block in blocks:
            result = reducer.reduce_bytes(block, self.totals.lines + 1, final=False)
            self._take(result, 0)
            done_bytes += len(block)
            if self.progress:
                self.progress(done_bytes)
            if not block.endswith(b"\n"):
                self.totals.truncated = True

    def _parallel(self, log: LogInput, root: int) -> None:
        ranges = _split(log.path, log.size, BLOCK_BYTES)
        with ProcessPoolExecutor(max_workers=self.jobs, initializer=_behind_the_engine) as pool:
            # bounded look-ahead: results are consumed in order, memory stays flat
            window = self.jobs * 3
            futures = [pool.submit(reduce_range, log.path, a, b, root) for a, b in ranges[:window]]
            next_range = window
            for index in range(len(ranges)):
                result = futures[index].result()
                futures[index] = None  # type: ignore[call-overload]
                if next_range < len(ranges):
                    a, b = ranges[next_range]
                    futures.append(pool.submit(reduce_range, log.path, a, b, root))
                    next_range += 1
                offset = self.totals.lines
                self._take(result, offset)
                if self.progress:
                    self.progress(ranges[index][1])
        with open(log.path, "rb") as handle:
            handle.seek(max(0, log.size - 1))
            self.totals.truncated = self.totals.truncated or handle.read(1) != b"\n"

    def _take(self, result: BlockResult, offset: int) -> None:
        """Apply one block: its surviving events in order, then its folded pairs."""
        engine = self.engine
        apply = engine.apply
        for item in result.items:
            if item is None:
                continue
            if type(item) is tuple:  # an event as a worker sends it (reduce_range)
                apply(_event(FdEvent, item), offset)
            elif type(item) is RawPiece:
                self._join(item, offset)
            else:
                apply(item, offset)  # type: ignore[arg-type]
        engine.add_pairs(result.pairs, offset)
        totals = self.totals
        totals.lines += result.lines
        totals.unparsed += result.unparsed
        totals.events += result.events
        if totals.first_ts is None:
            totals.first_ts = result.first_ts
        if result.last_ts is not None:
            totals.last_ts = result.last_ts
        for key, (count, ts, seq) in result.errors.items():
            known = totals.errors.get(key)
            if known is None:
                totals.errors[key] = [count, ts, int(seq or 0) + offset]
            else:
                known[0] = int(known[0] or 0) + int(count or 0)
        for seq, text in result.unparsed_examples:
            if len(totals.unparsed_examples) < 5:
                totals.unparsed_examples.append((seq + offset, text))

    def _join(self, piece: RawPiece, offset: int) -> None:
        joiner = self._joiner
        if not piece.resumed:
            joiner.assembler.start(
                piece.pid, piece.name, piece.text, piece.seq + offset, piece.from_tid, piece.applied
            )
            return
        joined = joiner.assembler.resume(piece.pid, piece.name, piece.text)
        if joined is None:
            self.totals.unparsed += 1  # the call's start is not in the log
            return
        text, started = joined
        if started.applied:
            return
        scratch = BlockResult()
        joiner.complete(text, piece.pid, piece.ts, piece.seq + offset, scratch, {}, started.from_tid)
        self.totals.events += scratch.events
        for item in scratch.items:
            if isinstance(item, FdEvent):
                self.engine.apply(item, 0)


def reduce_range(path: str, start: int, end: int, root: int = 0) -> BlockResult:
    """Worker: reduce the lines in bytes [start, end) of ``path``."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    with no_collections():
        reducer = BlockReducer(root)
        result = reducer.reduce_bytes(data, 1, final=True)
        reducer.flush_unfinished(result)
        # events travel as plain tuples: a NamedTuple pickles through a Python-level
        # __getnewargs__ and unpickles through its Python __new__, a plain tuple in C, about
        # three times cheaper each way; LogDriver._take makes them FdEvents again. The
        # places of folded pairs (None) served the pairing only: they stay behind.
        shipped = [
            tuple(item) if type(item) is FdEvent else item for item in result.items if item is not None
        ]
        result.items = cast(list[Item], shipped)
    return result


def _behind_the_engine() -> None:
    """A worker yields the CPU to the main process, which applies the blocks in order.

    The fd-table engine there is the one part that cannot be spread: three processes
    on two cores shared them evenly, the engine got two thirds of a core, and the
    workers, a window of blocks ahead, then waited for it (bench/analyze.py).
    """
    os.nice(WORKER_NICE)


# tuple.__new__(FdEvent, fields): an FdEvent without the Python-level __new__ (fields in order)
_event = tuple.__new__


@contextmanager
def no_collections() -> Iterator[None]:
    """No cycle collector at all while a worker reduces a block.

    Its lines, events and counts form no reference cycles and are freed by reference
    counting; yet with collections as rare as rare_collections makes them, a tenth of
    a worker's time went to passes over the block's growing items that found nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def rare_collections() -> Iterator[None]:
    """Far fewer passes of the cycle collector while lines and events stream through.

    Events, records and block results form no reference cycles, so a pass finds
    nothing; yet every container allocated counts towards the next one, and the
    older generations' passes walk every record the engine holds. With CPython's
    default thresholds they took a fifth of a whole analysis (bench/analyze.py).
    """
    before = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _split(path: str, size: int, block: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``block`` bytes, each ending just after a newline."""
    cuts = [0]
    with open(path, "rb") as handle:
        position = block
        while position < size:
            handle.seek(position)
            handle.readline()
            position = handle.tell()
            if position >= size:
                break
            cuts.append(position)
            position += block
    cuts.append(size)
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _looks_relative(log: LogInput) -> bool:
    """strace -r prints small deltas where -ttt prints epoch seconds."""
    if log.path == "-":
        return False
    for line in islice(read_lines(log), 50):
        m = PREFIX.match(line)
        ts = m.group("ts") if m else None
        if ts and ":" not in ts:
            return float(ts) < 1e8
        if ts:
            return False
    return False


_ATTACHED = re.compile(r"strace: Process (\d+) attached")


def _attached_first(log: LogInput) -> int:
    """strace -p to stderr opens with "Process N attached": unprefixed lines are N's."""
    if log.path == "-":
        return 0
    for line in islice(read_lines(log), 20):
        m = _ATTACHED.match(line)
        if m is not None:
            return int(m.group(1))
        if "(" in line:
            return 0  # a call came first: the notice, if any, is about someone else
    return 0


def _merge_split_files(inputs: list[LogInput], totals: Totals) -> Iterator[str]:
    """-ff files merged into one stream by timestamp, each line given its pid."""
    streams = [_tagged(log, totals) for log in inputs]
    yield from (line for _, _, line in heapq.merge(*streams))


def _tagged(log: LogInput, totals: Totals) -> Iterator[tuple[float, int, str]]:
    """``log``'s lines with their pid, time and place, each ending with a newline (one
    cut off at the file's end is noted in ``totals``)."""
    pid = log.pid or 0
    last = 0.0
    for n, line in enumerate(read_lines(log)):
        m = PREFIX.match(line)
        ts = parse_ts(m.group("ts")) if m else None
        if ts is not None:
            last = ts
        if not line.endswith("\n"):
            totals.truncated = True
            line += "\n"
        # no timestamps: order within a file is all we know; files follow one another
        yield (last if ts is not None or last else float(pid), n, f"{pid} {line}")


def _joined(lines: Iterable[str]) -> Iterator[bytes]:
    """Lines (each ending with a newline) in blocks of whole lines, as bytes."""
    iterator = iter(lines)
    while block := list(islice(iterator, BLOCK_LINES)):
        yield "".join(block).encode("latin-1")
