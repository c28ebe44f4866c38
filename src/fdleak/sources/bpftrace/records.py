"""bpftrace's lines -> FdEvents, in kernel time order, with what was lost or cut short.

bpftrace prints each CPU's perf buffer in turn, so lines of different CPUs arrive out
of order (a thread that moved CPU between its close and its next open could be read
open-first). Records are held in a heap by their kernel timestamp and released once a
line REORDER_NS younger has been read, or at the end.

What the kernel held back comes two ways (program.py): a ``held`` line, printed when its
thread did something else (or another thread named its fds, or forked), and, at
bpftrace's exit, its maps: the creates still held (@hv and @pct, per thread) and the
open/close pairs counted in @pairs, which become ``pairs`` for the engine (counted, never
in a table). The same create may be printed more than once (by its thread and by
another): the first line of each (thread, time) is kept.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind
from fdleak.model.signature import signature_of
from fdleak.procfs.process import cwd_of
from fdleak.sources.bpftrace.decode import decode
from fdleak.sources.bpftrace.program import HELD_SLOTS, STRLEN, held_fields, pair_fields, two_ends

# a CPU's buffer can be read this much later than another's when the machine is loaded (a
# close read after the reopen of its number would close the new fd): a second, not 250 ms
REORDER_NS = 1_000_000_000
_LOST = re.compile(r"^Lost (\d+) events")
_U64 = (1 << 64) - 1
_MAP_LINE = re.compile(r"^@(\w+)\[(.*)\]: (.*)$")
# the text of a string the records name by its hash, printed the first time it is met
_NAME_LINE = re.compile(r"^name (\d+)(?: (.*))?$")
# calls whose arguments the program could not find, and printed nothing of (program.py)
_NOT_FOUND = re.compile(r"^@noregs: (\d+)$")
_HELD_SLOTS = frozenset(HELD_SLOTS)
_CLONE_THREAD = 0x10000


@dataclass
class Counts:
    """What the reader saw, for the report's window and warnings."""

    lines: int = 0  # records read
    unparsed: int = 0
    events: int = 0
    lost: int = 0  # events bpftrace said it dropped (perf buffer full)
    truncated_paths: int = 0  # paths cut at bpftrace's string limit
    first_ts: float | None = None
    last_ts: float | None = None
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)


_Raw = tuple[int, int, int, int, str, list[str]]  # (nsecs, order read, tid, tgid, name, fields)


class Reader:
    """Turns bpftrace's output lines into FdEvents; ``epoch_offset`` + nsecs/1e9 = epoch time."""

    def __init__(
        self,
        epoch_offset: float,
        on_process: Callable[[str, int, int], None] | None = None,
        commands: dict[int, str] | None = None,
        group_dead: bool = True,
    ) -> None:
        self.epoch_offset = epoch_offset
        self.commands = dict(commands or {})  # pid -> its command line, for its first exec
        self.counts = Counts()
        self.on_process = on_process  # ("fork"|"exit", tgid, child or 1), as read
        # the exit lines say when a whole process ended (Linux 6.16+); before, the leader's
        # exit stands for it (a leader that ends before its threads is taken as the end)
        self.group_dead = group_dead
        self._heap: list[_Raw] = []
        self._newest = 0
        self._read = 0
        self._seq = 0
        self._cwd: dict[int, str] = {}
        # open/close pairs the kernel counted: (pid, kind, signature) -> [count, first seq]
        self.pairs: dict[tuple[int, FdKind, str], list[int]] = {}
        self._held_at_exit: dict[int, dict[str, str]] = {}  # tid -> its held slots
        self._held_seen: set[tuple[int, int]] = set()  # (tid, nsecs) of the held lines read
        self._closed_seen: set[tuple[int, int]] = set()  # ... whose first end's close was
        self.names: dict[int, str] = {}  # a string's hash -> its text (the "name" lines)

    def events(self, lines: Iterator[str]) -> Iterator[FdEvent]:
        """Every event of ``lines`` in kernel time order."""
        for line in lines:
            yield from self.feed(line)
        yield from self.flush()

    def feed(self, line: str) -> Iterator[FdEvent]:
        raw = self._parse(line)
        if raw is None:
            return
        heapq.heappush(self._heap, raw)
        if raw[0] > self._newest:
            self._newest = raw[0]
        limit = self._newest - REORDER_NS
        while self._heap and self._heap[0][0] <= limit:
            yield from self._decode(heapq.heappop(self._heap))

    def flush(self) -> Iterator[FdEvent]:
        for tid, slots in self._held_at_exit.items():
            try:
                line = _held_line(tid, slots)
            except (ValueError, KeyError):
                self._unparsed(f"held at exit by {tid}: {slots}")
                continue
            if line and (raw := self._parse(line)) is not None:
                heapq.heappush(self._heap, raw)
        self._held_at_exit.clear()
        while self._heap:
            yield from self._decode(heapq.heappop(self._heap))

    def _parse(self, line: str) -> _Raw | None:
        line = line.rstrip("\n")
        if not line:
            return None
        head = line[:1]
        if not head.isdigit():
            if (match := _LOST.match(line)) is not None:
                self.counts.lost += int(match.group(1))
            elif (match := _NAME_LINE.match(line)) is not None:
                self.names[int(match.group(1))] = match.group(2) or ""  # a string's text, once
            elif (match := _NOT_FOUND.match(line)) is not None:
                self.counts.lost += int(match.group(1))
            elif (match := _MAP_LINE.match(line)) is not None:
                self._map_entry(*match.groups())  # bpftrace's maps, at its exit
            elif not line.startswith(("@", "Attaching ")):  # "Attaching 8 probes..."
                self._unparsed(line)
            return None
        parts = line.split(" ", 4)
        if len(parts) < 4:
            self._unparsed(line)
            return None
        try:
            ns, tid, tgid = int(parts[0]), int(parts[1]), int(parts[2])
        except ValueError:
            self._unparsed(line)
            return None
        name = parts[3]
        rest = parts[4] if len(parts) > 4 else ""
        try:
            if name == "held":  # a create the kernel held back: as its own line would be
                nr, *numbers = rest.split(" ")
                if not self._first_held(ns, tid, tgid, int(nr), numbers):
                    return None
                name, fields = held_fields(int(nr), numbers)
                rest = " ".join(fields)
        except (ValueError, KeyError, IndexError):
            self._unparsed(line)
            return None
        self.counts.lines += 1
        self._read += 1
        fields = rest.split(" ", _STRING_AT.get(name, 8))
        if self.on_process is not None:
            if name == "fork" and fields and not int(fields[1]) & _CLONE_THREAD:
                self.on_process("fork", tgid, int(fields[0]))
            elif (
                name == "exit"
                and len(fields) > 1
                and (fields[1] == "1" or (not self.group_dead and tid == tgid))
            ):
                self.on_process("exit", tgid, 1)
        return (ns, self._read, tid, tgid, name, fields)

    def _first_held(self, ns: int, tid: int, tgid: int, nr: int, numbers: list[str]) -> bool:
        """Whether this held create is read for the first time; and the close of a pipe's or
        socketpair's end already closed, the first time a line says so (its thread's line
        may say it after another thread printed the create with both ends open)."""
        key = (tid, ns)
        first = key not in self._held_seen
        self._held_seen.add(key)
        still, closed_at = int(numbers[4]), int(numbers[5])
        if two_ends(nr) and still in (1, 2) and closed_at and key not in self._closed_seen:
            self._closed_seen.add(key)
            end = numbers[0] if still == 2 else numbers[1]
            self._read += 1
            self.counts.lines += 1
            heapq.heappush(self._heap, (closed_at, self._read, tid, tgid, "close", [end]))
        return first

    def _map_entry(self, name: str, key: str, value: str) -> None:
        """One entry of a map bpftrace printed at its exit: a held slot, or a pair count
        (the rest, such as @traced, tell nothing more)."""
        try:
            if name in _HELD_SLOTS:
                self._held_at_exit.setdefault(int(key), {})[name] = value
            elif name == "pairs":
                # bpftrace prints a map's numbers signed; a path's hash was printed unsigned
                pid, _, nr, key1, key2 = (int(part) & _U64 for part in key.split(", "))
                self._count_pairs(pid, nr, key1, key2, int(value))
        except (ValueError, KeyError):
            self._unparsed(f"@{name}[{key}]: {value}")

    def _count_pairs(self, pid: int, nr: int, key1: int, key2: int, count: int) -> None:
        name, fields = pair_fields(nr, key1, key2)
        # no line of its own (seq is the line number the analysis spaces events by): the
        # pairs count as of the newest line read
        for event in decode(self, self._seq, 0.0, pid, pid, name, fields):
            if event.op is Op.CREATE and count > 0:
                key = (pid, event.kind, signature_of(event.kind, event.target, event.syscall))
                counted = self.pairs.setdefault(key, [0, self._seq])
                counted[0] += count
                self.counts.events += 2 * count  # its create and its close

    def _unparsed(self, line: str) -> None:
        self.counts.unparsed += 1
        if len(self.counts.unparsed_examples) < 5:
            self.counts.unparsed_examples.append((self.counts.lines + self.counts.unparsed, line))

    def _decode(self, raw: _Raw) -> Iterator[FdEvent]:
        ns, _, tid, tgid, name, fields = raw
        ts = ns / 1e9 + self.epoch_offset
        counts = self.counts
        if counts.first_ts is None:
            counts.first_ts = ts
        counts.last_ts = ts
        self._seq += 1
        try:
            events = decode(self, self._seq, ts, tid, tgid, name, fields)
        except (ValueError, IndexError):
            counts.unparsed += 1
            return
        counts.events += len(events)
        yield from events

    def path(self, tgid: int, text: str) -> str:
        """A path argument as /proc would show it: relative ones joined to the process's
        working directory (read when first needed), a cut one marked with "..."."""
        if len(text.encode("utf-8", "surrogateescape")) >= STRLEN - 1:
            self.counts.truncated_paths += 1
            text += "..."
        if text.startswith("/") or not text:
            return text
        cwd = self._cwd.get(tgid)
        if cwd is None:
            cwd = cwd_of(tgid)
            if cwd is None:
                return text
            self._cwd[tgid] = cwd
        return os.path.normpath(os.path.join(cwd, text))

    def name(self, number: int) -> str:
        """The text of the string whose hash is ``number`` (printed once, with its first use)."""
        return self.names.get(number, "")

    def forget_cwd(self, tgid: int) -> None:
        self._cwd.pop(tgid, None)


def _held_line(tid: int, slots: dict[str, str]) -> str:
    """The ``held`` line the kernel would have printed for a create still held at bpftrace's
    exit by thread ``tid``. A tuple slot is printed as ``(a, b, ...)``, its numbers signed."""
    if "hv" not in slots:
        return ""
    at, pid, *numbers, nr, state = _numbers(slots["hv"])
    if nr == 0:
        return ""
    closed_at = int(slots.get("pct", "0")) & _U64
    return f"{at} {tid} {pid} held {nr} {' '.join(map(str, numbers))} {state & 3} {closed_at}"


def _numbers(text: str) -> list[int]:
    return [int(part) & _U64 for part in text.strip("()").split(", ")]


# how many spaces to split a record's fields on: a string field comes last, whole
_STRING_AT = {"exec": 1}
