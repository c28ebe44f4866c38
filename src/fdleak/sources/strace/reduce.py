"""One pass over a block of strace lines: events out, open/close pairs folded into counts.

Most fds in a real log are opened and closed a few lines apart. Where that is provably
safe (see ``_pair``), the pair never reaches the fd-table engine: it is counted here, by
(pid, kind, signature). That keeps the engine's work proportional to the fds that
outlive a block, and lets blocks of one file be reduced on several cores at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind
from fdleak.model.signature import signature_of
from fdleak.model.targets import with_socket_end
from fdleak.sources.strace.assemble import Assembler
from fdleak.sources.strace.decode import FORK_CALLS, decode, fork_event
from fdleak.sources.strace.lines import (
    ATTACHED_INSIDE,
    CALL,
    EXITED,
    PID_CHANGED,
    PREFIX,
    RESUMED,
    UNFINISHED,
    parse_ts,
)

_SIGNALS = {"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
            "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
            "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGSYS": 31}
_FD_ERRORS = ("EMFILE", "ENFILE")
# Ops after which no pairing across them is safe: the table is copied, replaced or
# emptied wholesale, or a pid may be reused.
_BARRIERS = frozenset({Op.FORK, Op.EXEC, Op.EXIT, Op.UNSHARE, Op.CLOSE_RANGE, Op.PID_CHANGE})


class RawPiece(NamedTuple):
    """Half of a call whose other half lies in another block: the engine side joins it."""

    seq: int
    ts: float | None
    pid: int
    name: str
    text: str  # unfinished: the args so far; resumed: the rest of the line
    resumed: bool
    from_tid: int = 0


Item = "FdEvent | RawPiece | None"


@dataclass
class BlockResult:
    """What one block of lines amounts to. ``seq`` values are block-local line numbers."""

    items: list[FdEvent | RawPiece | None] = field(default_factory=list)
    # (pid, kind, signature) -> [pairs, first_ts, last_ts, first_seq]
    pairs: dict[tuple[int, FdKind, str], list[float | int | None]] = field(default_factory=dict)
    # (pid, syscall, errno) -> [count, first_ts, first_seq]
    errors: dict[tuple[int, str, str], list[float | int | None]] = field(default_factory=dict)
    lines: int = 0
    unparsed: int = 0
    events: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    truncated_last_line: bool = False


class BlockReducer:
    """Parses lines in order; carries the state a block boundary must not lose."""

    def __init__(self, default_pid: int = 0, relative_ts: bool = False) -> None:
        self.default_pid = default_pid
        self.relative_ts = relative_ts
        self.clock = 0.0  # -r: running sum of the relative timestamps
        self.assembler = Assembler()
        self._signatures: dict[tuple[FdKind, str, str], str] = {}
        self._carry = ""

    def reduce(self, lines: list[str], first_seq: int = 1, final: bool = True) -> BlockResult:
        result = BlockResult()
        items = result.items
        append = items.append
        pending: dict[int, int] = {}  # fd number -> index in items of its unpaired CREATE
        call_match = CALL.match
        default_pid = self.default_pid
        relative = self.relative_ts
        seq = first_seq - 1
        last_ts: float | None = None
        for line in lines:
            seq += 1
            if self._carry:
                line = self._carry + line
                self._carry = ""
            m = call_match(line)
            if m is None:
                self._slow_line(line, seq, result, pending)
                continue
            p1, p2, ts_text, name, args, ret, deco, tail = m.groups()
            pid = int(p1 or p2) if (p1 or p2) else default_pid
            if ts_text is None:
                ts = None
            elif relative:
                self.clock += float(ts_text)
                ts = self.clock
            elif ":" in ts_text:
                ts = parse_ts(ts_text)
            else:
                ts = float(ts_text)
            last_ts = ts
            if result.first_ts is None:
                result.first_ts = ts
            if ret[0] == "-" and tail and tail.lstrip().startswith(_FD_ERRORS):
                self._count_error(result, pid, name, tail.split()[0], ts, seq)
            events = decode(seq, ts, pid, name, args, ret, deco, tail)
            for ev in events:
                result.events += 1
                self._place(ev, result, pending)
        if final and self._carry:
            result.unparsed += 1
            self._carry = ""
        result.lines = seq - first_seq + 1
        result.last_ts = last_ts if last_ts is not None else result.first_ts
        return result

    def _place(self, ev: FdEvent, result: BlockResult, pending: dict[int, int]) -> None:
        """Append ``ev`` to the block's items, pairing a close with its create when safe.

        A CREATE of fd N by pid P and a later CLOSE of N by P pair up only if no event
        in between mentions fd number N (in any pid) and no barrier intervenes: then P's
        table held exactly that create's fd at the close, whatever came before the block.
        """
        items = result.items
        op = ev.op
        if op is Op.CLOSE:
            index = pending.pop(ev.fd, None)
            if index is not None:
                created = items[index]
                assert isinstance(created, FdEvent)
                if created.pid == ev.pid:
                    items[index] = None
                    self._count_pair(result, created, ev)
                    return
            items.append(ev)
        elif op is Op.CREATE:
            if ev.fd2 < 0:  # accept: the engine fills in the listener's address
                pending[ev.fd] = len(items)
            else:
                pending.pop(ev.fd, None)
            items.append(ev)
        elif op is Op.ANNOTATE:
            index = pending.get(ev.fd)
            created = items[index] if index is not None else None
            if isinstance(created, FdEvent) and created.pid == ev.pid:
                items[index] = created._replace(target=with_socket_end(created.target, ev.syscall, ev.target))  # type: ignore[index]
                return
            pending.pop(ev.fd, None)
            items.append(ev)
        elif op in _BARRIERS:
            pending.clear()
            items.append(ev)
        else:  # DUP, SET_CLOEXEC: they mention fd and fd2
            pending.pop(ev.fd, None)
            pending.pop(ev.fd2, None)
            items.append(ev)

    def _count_pair(self, result: BlockResult, created: FdEvent, closed: FdEvent) -> None:
        key = (created.kind, created.target, created.syscall)
        signature = self._signatures.get(key)
        if signature is None:
            if len(self._signatures) > 50_000:  # bounded: unique temp names must not pile up
                self._signatures.clear()
            signature = self._signatures[key] = signature_of(*key)
        counts = result.pairs.get((created.pid, created.kind, signature))
        if counts is None:
            result.pairs[(created.pid, created.kind, signature)] = [1, created.ts, closed.ts, created.seq]
        else:
            counts[0] += 1  # type: ignore[operator]
            counts[2] = closed.ts

    @staticmethod
    def _count_error(result: BlockResult, pid: int, name: str, errno: str, ts: float | None, seq: int) -> None:
        counts = result.errors.get((pid, name, errno))
        if counts is None:
            result.errors[(pid, name, errno)] = [1, ts, seq]
        else:
            counts[0] += 1  # type: ignore[operator]

    def _slow_line(self, line: str, seq: int, result: BlockResult, pending: dict[int, int]) -> None:
        """Everything but a whole call: pieces, exits, signals, notices, garbage."""
        stripped = line.rstrip("\r")
        if not stripped.strip():
            return
        if stripped.startswith("strace: ") or stripped.startswith(" > "):
            return  # strace's notices and -k stack frames: understood, nothing to do
        inside = ATTACHED_INSIDE.search(stripped)
        if inside is not None:
            # "strace: Process N attached" printed into the middle of another line: the
            # line goes on in the next physical line
            self._carry = stripped[: inside.start()] + stripped[inside.end() :]
            return
        m = PREFIX.match(stripped)
        assert m is not None  # every part of the prefix is optional
        p = m.group("p1") or m.group("p2")
        pid = int(p) if p else self.default_pid
        ts = self._ts(m.group("ts"))
        body = stripped[m.end() :]
        if body.startswith("<..."):
            self._resumed(body, pid, ts, seq, result, pending)
        elif body.startswith("+++"):
            self._exited(body, pid, ts, seq, result, pending)
        elif body.startswith("---"):
            return  # a signal delivered: no fd changes
        elif (u := UNFINISHED.match(body)) is not None:
            name, args = u.group("name", "args")
            self.assembler.start(pid, name, args, seq)
            if name in FORK_CALLS:
                # the child may run (and print) before the parent's call returns: the
                # table copy is taken now, the child's pid comes with the resumed line
                self._place(fork_event(seq, ts, pid, name, args, 0), result, pending)
        elif (c := PID_CHANGED.match(body)) is not None:
            name, args, new = c.group("name", "args", "new")
            self.assembler.start(int(new), name, args, seq, from_tid=pid)
        else:
            result.unparsed += 1
            if len(result.unparsed_examples) < 5:
                result.unparsed_examples.append((seq, stripped[:200]))

    def _ts(self, text: str | None) -> float | None:
        if text is None:
            return None
        if self.relative_ts:
            self.clock += float(text)
            return self.clock
        return parse_ts(text)

    def _resumed(self, body: str, pid: int, ts: float | None, seq: int, result: BlockResult,
                 pending: dict[int, int]) -> None:
        r = RESUMED.match(body)
        if r is None:
            result.unparsed += 1
            return
        name, rest = r.group("name", "rest")
        joined = self.assembler.resume(pid, name, rest)
        if joined is None:
            # its start lies in an earlier block (or was never logged): the engine joins it
            pending.clear()
            result.items.append(RawPiece(seq, ts, pid, name, rest, resumed=True))
            return
        text, started = joined
        self.complete(text, pid, ts, seq, result, pending, started.from_tid)

    def complete(self, text: str, pid: int, ts: float | None, seq: int, result: BlockResult,
                 pending: dict[int, int], from_tid: int = 0) -> None:
        """Decode a call joined from its pieces."""
        m = CALL.match(text)
        if m is None:
            result.unparsed += 1
            return
        _, _, _, name, args, ret, deco, tail = m.groups()
        if ret[0] == "-" and tail and tail.lstrip().startswith(_FD_ERRORS):
            self._count_error(result, pid, name, tail.split()[0], ts, seq)
        events = decode(seq, ts, pid, name, args, ret, deco, tail)
        if from_tid and any(ev.op is Op.EXEC for ev in events):
            self._place(FdEvent(seq, ts, pid, Op.PID_CHANGE, syscall=name, child=from_tid), result, pending)
        for ev in events:
            result.events += 1
            self._place(ev, result, pending)

    def _exited(self, body: str, pid: int, ts: float | None, seq: int, result: BlockResult,
                pending: dict[int, int]) -> None:
        m = EXITED.match(body)
        if m is None:
            result.unparsed += 1
            return
        if m.group("old") is not None or "superseded" in body:
            return  # the leader was replaced by an exec'ing thread: not an exit
        code, signal = m.group("code", "sig")
        status = int(code) if code is not None else -_signal_number(signal)
        result.events += 1
        self._place(FdEvent(seq, ts, pid, Op.EXIT, syscall="exit", status=status), result, pending)

    def flush_unfinished(self, result: BlockResult) -> None:
        """At a block's end: calls still in flight go to the engine side as pieces."""
        for pid, started in self.assembler.pending.items():
            args = started.head[len(started.name) + 1 :]
            result.items.append(RawPiece(started.seq, None, pid, started.name, args, False, started.from_tid))
        self.assembler.pending.clear()


def _signal_number(name: str | None) -> int:
    if name is None:
        return 0
    if name.isdigit():
        return int(name)
    return _SIGNALS.get(name, 0)
