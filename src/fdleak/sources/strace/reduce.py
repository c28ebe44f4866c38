"""One pass over a block of strace lines: events out, open/close pairs folded into counts.

Most fds in a real log are opened and closed a few lines apart. Where that is provably
safe (see ``BlockReducer._place``), the pair never reaches the fd-table engine: it is
counted here by (pid, kind, signature). So are copies of such fds (``_place_dup``) and
fds a close_range empties (``_place_close_range``). The engine's work then follows the
fds that outlive a block, and the blocks of one file can be reduced on several cores
at once.

The common lines (open/openat/close in the usual ``PID TIME call`` shape) take a fast
path of plain string operations; their full decoding waits until a create turns out to
outlive its block. Everything else goes through the line pattern and ``decode``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import NamedTuple

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind, kind_of_link
from fdleak.model.signature import signature_of
from fdleak.model.targets import with_socket_end
from fdleak.sources.strace.assemble import Assembler, Unfinished
from fdleak.sources.strace.decode import ANON, FORK_CALLS, HANDLERS, decode, fork_event
from fdleak.sources.strace.lines import (
    ATTACHED_INSIDE,
    CALL,
    EXITED,
    LINE,
    PID_CHANGED,
    PREFIX,
    is_number,
    parse_ts,
)

_SIGNALS = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGILL": 4,
    "SIGTRAP": 5,
    "SIGABRT": 6,
    "SIGBUS": 7,
    "SIGFPE": 8,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGSEGV": 11,
    "SIGUSR2": 12,
    "SIGPIPE": 13,
    "SIGALRM": 14,
    "SIGTERM": 15,
    "SIGXCPU": 24,
    "SIGXFSZ": 25,
    "SIGSYS": 31,
}
_FD_ERRORS = ("EMFILE", "ENFILE")
_UNFINISHED = " <unfinished ...>"
# decode finds nothing to do in these calls unless one of the words is in them: without
# one, the call is as good as one fdleak does not trace. For a whole line anywhere in it;
# for a call's start, in its arguments so far (recvmsg's SCM_RIGHTS comes with its end).
INERT_UNLESS_WHOLE = {
    "ioctl": ("FIOCLEX", "FIONCLEX"),
    "fcntl": ("F_DUPFD", "F_SETFD"),
    "fcntl64": ("F_DUPFD", "F_SETFD"),
    "recvmsg": ("SCM_RIGHTS",),
    "recvmmsg": ("SCM_RIGHTS",),
}
INERT_UNLESS_START = {name: INERT_UNLESS_WHOLE[name] for name in ("ioctl", "fcntl", "fcntl64")}
# Ops no pairing may cross: the table is copied, replaced or emptied wholesale, or a
# pid may be reused. (close_range only empties a range: see _place_close_range.)
_BARRIERS = frozenset({Op.FORK, Op.EXEC, Op.EXIT, Op.UNSHARE, Op.PID_CHANGE})
_ACCEPTS = frozenset({"accept", "accept4"})
# copies that take the lowest free fd: the new fd was closed before them
_FREE_FD_COPIES = frozenset({"dup", "fcntl", "fcntl64"})
# close_range over at most this many fds leaves them known free to the pid that called it
_FREED_MAX = 64
_SNIFF_LINES = 200  # where a block's prefix shape is looked for


class RawPiece(NamedTuple):
    """Half of a call whose other half lies in another block: the engine side joins it."""

    seq: int
    ts: float | None
    pid: int
    name: str
    text: str  # unfinished: the args so far; resumed: the rest of the line
    resumed: bool
    from_tid: int = 0
    applied: bool = False


class LazyCreate(NamedTuple):
    """An open()/openat() from the fast path: decoded only if it outlives its block."""

    seq: int
    pid: int
    fd: int
    line: str
    key: tuple[str, str]  # (call text, result text): all that decides kind and target


Item = FdEvent | RawPiece | LazyCreate | None


@dataclass
class BlockResult:
    """What one block of lines amounts to. ``seq`` values are block-local line numbers."""

    items: list[Item] = field(default_factory=list)
    pairs: dict[tuple[int, FdKind, str], list[int]] = field(default_factory=dict)  # -> [count, first seq]
    errors: dict[tuple[int, str, str], list[float | int | None]] = field(default_factory=dict)
    lines: int = 0
    unparsed: int = 0
    events: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)


Scan = Callable[["BlockReducer", list[str], int, BlockResult, dict[int, int]], None]
Signed = tuple[FdKind, str] | None


def compiled_scan() -> Scan | None:
    """The compiled line loop, or None: not built, or FDLEAK_PURE_PYTHON=1 asks for none."""
    if os.environ.get("FDLEAK_PURE_PYTHON", "") not in ("", "0"):
        return None
    return load_scan()


def load_scan() -> Scan | None:
    """The compiled line loop (_scan.c) if it was built, whatever the environment says."""
    module = load_compiled()
    return module.scan if module is not None else None


@cache
def load_compiled() -> ModuleType | None:
    """The C extension (_scan.c, _decode.c), set up, if it was built."""
    try:
        from fdleak.sources.strace import _scan
    except ImportError:
        return None
    close = FdEvent(0, None, 0, Op.CLOSE, syscall="close")  # the fields a fast close keeps
    # what the compiled decoder (_decode.c) builds its events from
    decoder: dict[str, object] = {
        "FdEvent": FdEvent,
        "blank": FdEvent(0, None, 0, Op.CREATE),
        **{op.name: op for op in Op},
        **{kind.name: kind for kind in FdKind},
        "kind_of_link": kind_of_link,
        "with_socket_end": with_socket_end,
        "signature_of": signature_of,
        "ANON": ANON,
        "HANDLERS": frozenset(HANDLERS),
    }
    _scan.setup(
        LazyCreate,
        Unfinished,
        FdEvent,
        close,
        frozenset(HANDLERS),
        parse_ts,
        INERT_UNLESS_WHOLE,
        INERT_UNLESS_START,
        decoder,
    )
    return _scan


@dataclass(frozen=True, slots=True)
class _Shape:
    """The prefix every line of this log has: fast-path splitting depends on it."""

    fields: int  # how many whitespace-separated prefix fields precede the call
    has_pid: bool
    has_ts: bool


class BlockReducer:
    """Parses lines in order; carries the state a block boundary must not lose."""

    def __init__(self, default_pid: int = 0, relative_ts: bool = False, compiled: bool | None = None) -> None:
        self.default_pid = default_pid
        self.relative_ts = relative_ts
        self.clock = 0.0  # -r: running sum of the relative timestamps
        self.assembler = Assembler()
        self._carry = ""
        self._shape: _Shape | None = None
        self._shape_known = False
        self._lazy_pairs: dict[tuple[int, tuple[str, str]], list[int]] = {}
        # in the block being reduced: fd number -> the pid whose close_range freed it,
        # while nothing since mentioned it (the compiled loop shares this dict)
        self._free: dict[int, int] = {}
        self._k = -1  # the shape of the block being reduced, for _line
        self._has_pid = self._has_ts = False
        self._last_ts_text: str | None = None  # the time of the last fast-path line, parsed once
        # compiled: None takes the compiled loop where there is one, True insists, False refuses
        self._scan = compiled_scan() if compiled is None else load_scan() if compiled else None
        if compiled and self._scan is None:
            raise RuntimeError("fdleak's compiled line scanner is not built")
        self._compiled = load_compiled() if self._scan is not None else None

    def reduce(self, lines: list[str], first_seq: int = 1, final: bool = True) -> BlockResult:
        result, pending = self._begin(lines)
        if self._scan is not None and self._k >= 0:
            # the compiled loop takes the fast-path lines itself and hands every other
            # line to self._line, so both loops leave the same state behind
            self._scan(self, lines, first_seq, result, pending)
        else:
            seq = first_seq
            line_ = self._line
            for line in lines:
                line_(line, seq, result, pending)
                seq += 1
        return self._end(result, lines, len(lines), final)

    def reduce_bytes(self, data: bytes, first_seq: int = 1, final: bool = True) -> BlockResult:
        """Whole lines as bytes, as read from a log: the compiled loop cuts them itself.

        The same as ``reduce(lines_of(data))``, without a str for every line.
        """
        head = lines_of(data, _SNIFF_LINES)
        if not self._shape_known:
            self._sniff(head)
        if self._compiled is None or self._shape is None:
            return self.reduce(lines_of(data), first_seq, final)
        result, pending = self._begin(head)
        count = self._compiled.scan_bytes(self, data, first_seq, result, pending)
        return self._end(result, head, count, final)

    def _begin(self, lines: list[str]) -> tuple[BlockResult, dict[int, int]]:
        """A block's start: its result, and where its unpaired creates are (fd -> index in items)."""
        self._free = {}
        if not self._shape_known:
            self._sniff(lines)
        shape = self._shape
        self._k = shape.fields if shape else -1
        self._has_pid = shape.has_pid if shape else False
        self._has_ts = shape.has_ts if shape else False
        self._last_ts_text = None
        return BlockResult(), {}

    def _end(self, result: BlockResult, head: list[str], count: int, final: bool) -> BlockResult:
        """A block's end, after its ``count`` lines, of which ``head`` are the first."""
        if final and self._carry:
            result.unparsed += 1
            self._carry = ""
        result.lines = count
        if self._last_ts_text is not None:
            result.last_ts = parse_ts(self._last_ts_text)
        if not self.relative_ts:
            # the first line's time, whichever path read it (the fast path parses none)
            result.first_ts = self._first_ts(head) or result.first_ts
        self._settle(result)
        return result

    def _line(self, line: str, seq: int, result: BlockResult, pending: dict[int, int]) -> None:
        """One line, in order. The compiled loop (_scan.c) mirrors the fast path here."""
        if self._carry:
            line = self._carry + line
            self._carry = ""
        k = self._k
        if k >= 0:
            has_pid, has_ts = self._has_pid, self._has_ts
            # fast path: "PID TIME openat(...) = 3</path>" / "... close(3</path>) = 0"
            # and the "<unfinished ...>" / "<... resumed>" pieces of those calls
            if line.endswith(_UNFINISHED):
                parts = line.split(None, k)
                if len(parts) == k + 1 and (not has_pid or is_number(parts[0])):
                    pid = int(parts[0]) if has_pid else self.default_pid
                    if self._fast_unfinished(
                        parts[k], pid, seq, parts[k - 1] if has_ts else None, result, pending
                    ):
                        return
                self._regex_line(line, seq, result, pending)
                return
            items = result.items
            head, sep, res = line.rpartition(") = ")
            if sep and res and res[0] != "-" and res[0] != "?":
                parts = head.split(None, k)
                if len(parts) == k + 1 and (not has_pid or is_number(parts[0])):
                    call = parts[k]
                    pid = int(parts[0]) if has_pid else self.default_pid
                    ts_text = parts[k - 1] if has_ts else None
                    if call.startswith("close("):
                        fd_text = call[6:].partition("<")[0]
                        if is_number(fd_text):
                            result.events += 1
                            self._last_ts_text = ts_text
                            self._fast_close(pid, int(fd_text), seq, ts_text, result, pending)
                            return
                    elif call.startswith("<... "):
                        end = call.find(" resumed>")
                        if end > 0 and self._fast_resumed(
                            call[5:end], call[end + 9 :] + sep + res, pid, seq, line, result, pending
                        ):
                            self._last_ts_text = ts_text
                            return
                    elif (name := call[: call.find("(")]) not in HANDLERS and name.isidentifier():
                        return  # a syscall that touches no fd table (read, mmap, ...)
                    elif _inert(INERT_UNLESS_WHOLE, name, line):
                        return  # ioctl(FIONBIO), fcntl(F_GETFL), recvmsg without fds, ...
                    elif call.startswith(("openat(", "open(")):
                        fd_text = res.partition("<")[0]
                        if is_number(fd_text):
                            result.events += 1
                            self._last_ts_text = ts_text
                            fd = int(fd_text)
                            pending[fd] = len(items)
                            items.append(LazyCreate(seq, pid, fd, line, (call, res[len(fd_text) :])))
                            return
        ts = self._regex_line(line, seq, result, pending)
        if ts is not None:
            self._last_ts_text = None
            result.last_ts = ts

    # -- the fast path's bookkeeping ------------------------------------------------------

    def _fast_close(
        self, pid: int, fd: int, seq: int, ts_text: str | None, result: BlockResult, pending: dict[int, int]
    ) -> None:
        """A close on the fast path: fold it with its create, or pass it on."""
        items = result.items
        index = pending.pop(fd, None)
        if index is not None:
            created = items[index]
            if type(created) is LazyCreate and created.pid == pid:
                items[index] = None
                counts = self._lazy_pairs.get((pid, created.key))
                if counts is None:
                    self._lazy_pairs[(pid, created.key)] = [1, created.seq]
                else:
                    counts[0] += 1
                return
            if type(created) is FdEvent and created.pid == pid:
                items[index] = None
                self._count_pair(result, created)
                return
        items.append(FdEvent(seq, parse_ts(ts_text), pid, Op.CLOSE, fd, syscall="close"))

    def _fast_unfinished(
        self, call: str, pid: int, seq: int, ts_text: str | None, result: BlockResult, pending: dict[int, int]
    ) -> bool:
        """The start of a call in flight; False when the general path must take it."""
        paren = call.find("(")
        name = call[:paren]
        if paren <= 0 or not name.isidentifier():  # e.g. a "[pid N]" line in an unprefixed log
            return False
        if name not in HANDLERS:
            self.assembler.start(pid, name, "", seq)  # only to recognise its end
            return True
        args = call[paren + 1 : -len(_UNFINISHED)]
        if _inert(INERT_UNLESS_START, name, args):
            # the end will change nothing either: "applied" lets it just close the call
            self.assembler.start(pid, name, "", seq, applied=True)
            return True
        if name == "close":
            number = args.partition("<")[0].strip()
            if not is_number(number):
                return False
            # close() frees the fd as it starts: another thread's open can be given
            # the same number and return before this close does
            self.assembler.start(pid, name, args, seq, applied=True)
            result.events += 1
            self._fast_close(pid, int(number), seq, ts_text, result, pending)
            return True
        if name in ("open", "openat"):
            self.assembler.start(pid, name, args[:-1] if args.endswith(" ") else args, seq)
            return True
        return False

    def _fast_resumed(
        self,
        name: str,
        rest: str,
        pid: int,
        seq: int,
        line: str,
        result: BlockResult,
        pending: dict[int, int],
    ) -> bool:
        """The end of a call in flight; False when the general path must take it."""
        started = self.assembler.pending.get(pid)
        if started is None or started.name != name:
            return False  # an orphan: the general path hands it to the engine side
        if name not in HANDLERS:
            del self.assembler.pending[pid]
            return True
        if started.applied:
            del self.assembler.pending[pid]
            return True
        if name not in ("open", "openat"):
            return False
        del self.assembler.pending[pid]
        if rest.startswith(" "):
            rest = rest[1:]
        joined = started.head + rest
        call, _, res = joined.rpartition(") = ")
        fd_text = res.partition("<")[0]
        if not is_number(fd_text):
            ts = self._ts(PREFIX.match(line).group("ts"))  # type: ignore[union-attr]
            self.complete(joined, pid, ts, seq, result, pending)
            return True
        result.events += 1
        pending[int(fd_text)] = len(result.items)
        # the prefix of the resumed line (pid, time) with the whole call, for a later decode
        whole = line[: line.find("<... ")] + joined
        result.items.append(LazyCreate(seq, pid, int(fd_text), whole, (call, res[len(fd_text) :])))
        return True

    def _sniff(self, lines: list[str]) -> None:
        """Learn the prefix shape from the first whole call; -r and [pid N] logs stay slow."""
        for line in lines[:_SNIFF_LINES]:
            m = LINE.match(line)
            if m is None or m.group("name") is None:
                continue
            self._shape_known = True
            if m.group("p1") is not None or self.relative_ts:
                return
            has_pid, has_ts = m.group("p2") is not None, m.group("ts") is not None
            self._shape = _Shape(int(has_pid) + int(has_ts), has_pid, has_ts)
            return

    def _first_ts(self, lines: list[str]) -> float | None:
        for line in lines[:50]:
            m = PREFIX.match(line)
            if m is not None and m.group("ts"):
                return self.clock if self.relative_ts else parse_ts(m.group("ts"))
        return None

    def _settle(self, result: BlockResult) -> None:
        """End of block: decode the creates that survived, sign the folded pairs."""
        items = result.items
        compiled = self._compiled
        if compiled is not None:
            compiled.settle(self, items)  # the same in C; _decode_lazy where it is unsure
        else:
            for index, item in enumerate(items):
                if type(item) is LazyCreate:
                    items[index] = self._decode_lazy(item)
        signatures: dict[tuple[str, str], Signed] = {}
        for (pid, key), (count, first_seq) in self._lazy_pairs.items():
            if key not in signatures:
                signatures[key] = self._sign(key) if compiled is None else _sign_compiled(compiled, key)
            signed = signatures[key]
            if signed is not None:
                self._add_pair(result, pid, signed[0], signed[1], count, first_seq)
        self._lazy_pairs.clear()

    def _decode_lazy(self, item: LazyCreate) -> FdEvent | None:
        m = LINE.match(item.line)
        if m is None or m.group("ret") is None:
            return None
        _, _, ts_text, name, args, ret, deco, tail = m.groups()[:8]
        for ev in decode(item.seq, parse_ts(ts_text), item.pid, name, args, ret, deco, tail):
            return ev
        return None

    @staticmethod
    def _sign(key: tuple[str, str]) -> tuple[FdKind, str] | None:
        call, rest = key
        m = CALL.match(f"{call}) = 3{rest}")
        if m is None:
            return None
        name, args, ret, deco, tail = m.groups()
        for ev in decode(0, None, 0, name, args, ret, deco, tail):
            return ev.kind, signature_of(ev.kind, ev.target, ev.syscall)
        return None

    def _place_close_range(self, ev: FdEvent, result: BlockResult, pending: dict[int, int]) -> None:
        """close_range(lo, hi): no barrier, only for the fds it names.

        The pid's own creates of this block in the range fold with it as with a close;
        anyone else's there reach the engine (a thread's shares the table, another
        process's does not: the engine knows which). Afterwards the range is free in
        the pid's table until something mentions an fd of it: a copy there folds.
        """
        low, high = ev.fd, ev.fd2
        for fd in [fd for fd in pending if low <= fd <= high]:
            created = result.items[pending[fd]]
            if not ev.cloexec and type(created) in (FdEvent, LazyCreate) and created.pid == ev.pid:  # type: ignore[union-attr]
                self._place(FdEvent(ev.seq, ev.ts, ev.pid, Op.CLOSE, fd, syscall=ev.syscall), result, pending)
            else:
                pending.pop(fd)  # CLOSE_RANGE_CLOEXEC only marks them: they stay open
        free = self._free
        for fd in [fd for fd in free if low <= fd <= high]:
            del free[fd]
        if not ev.cloexec and high - low < _FREED_MAX:
            for fd in range(low, high + 1):
                free[fd] = ev.pid
        result.items.append(ev)

    @staticmethod
    def _add_pair(
        result: BlockResult, pid: int, kind: FdKind, signature: str, count: int, first_seq: int
    ) -> None:
        counts = result.pairs.get((pid, kind, signature))
        if counts is None:
            result.pairs[(pid, kind, signature)] = [count, first_seq]
        else:
            counts[0] += count
            counts[1] = min(counts[1], first_seq)

    def _count_pair(self, result: BlockResult, created: FdEvent) -> None:
        signature = signature_of(created.kind, created.target, created.syscall)
        self._add_pair(result, created.pid, created.kind, signature, 1, created.seq)

    # -- everything else ------------------------------------------------------------------

    def _regex_line(self, line: str, seq: int, result: BlockResult, pending: dict[int, int]) -> float | None:
        """Any line the fast path did not take. Returns its timestamp, if it had one."""
        m = LINE.match(line)
        if m is None:
            self._slow_line(line, seq, result, pending)
            return None
        p1, p2, ts_text, name, args, ret, deco, tail, unfinished, resumed, rest = m.groups()
        pid = int(p1 or p2) if (p1 or p2) else self.default_pid
        ts = self._ts(ts_text)
        if result.first_ts is None:
            result.first_ts = ts
        if resumed is not None:
            self._resumed(resumed, rest, pid, ts, seq, result, pending)
        elif unfinished is not None:
            if args.endswith(" "):
                args = args[:-1]
            # close() frees the fd as it starts: another thread's open can be given the
            # same number and return before this close does
            early = name == "close"
            self.assembler.start(pid, name, args, seq, applied=early)
            if early:
                for ev in decode(seq, ts, pid, name, args, "0", None, ""):
                    result.events += 1
                    self._place(ev, result, pending)
            elif name in FORK_CALLS:
                # the child may run (and print) before the parent's call returns: the
                # table is copied now, the child's pid comes with the resumed line
                self._place(fork_event(seq, ts, pid, name, args, 0), result, pending)
        else:
            self._completed(name, args, ret, deco, tail, pid, ts, seq, result, pending)
        return ts

    def _completed(
        self,
        name: str,
        args: str,
        ret: str,
        deco: str | None,
        tail: str,
        pid: int,
        ts: float | None,
        seq: int,
        result: BlockResult,
        pending: dict[int, int],
        from_tid: int = 0,
    ) -> None:
        if ret[0] == "-" and tail and tail.lstrip().startswith(_FD_ERRORS):
            self._count_error(result, pid, name, tail.split()[0], ts, seq)
        try:
            events = decode(seq, ts, pid, name, args, ret, deco, tail)
        except (ValueError, IndexError):  # a mangled line that only looked like a call
            result.unparsed += 1
            return
        if from_tid and any(ev.op is Op.EXEC for ev in events):
            self._place(FdEvent(seq, ts, pid, Op.PID_CHANGE, syscall=name, child=from_tid), result, pending)
        for ev in events:
            result.events += 1
            self._place(ev, result, pending)

    def _place(self, ev: FdEvent, result: BlockResult, pending: dict[int, int]) -> None:
        """Append ``ev`` to the block's items, pairing a close with its create when safe.

        A create of fd N by pid P and a later close of N by P pair up only if no event
        in between mentions fd number N (in any pid) and no barrier intervenes: then P's
        table held exactly that create's fd at the close, whatever came before the block.
        """
        items = result.items
        op = ev.op
        if op is Op.CLOSE:
            index = pending.pop(ev.fd, None)
            if index is not None:
                created = items[index]
                if created is not None and created.pid == ev.pid and type(created) is not RawPiece:
                    items[index] = None
                    if type(created) is LazyCreate:
                        self._lazy_pairs.setdefault((created.pid, created.key), [0, created.seq])[0] += 1
                    else:
                        self._count_pair(result, created)  # type: ignore[arg-type]
                    return
            items.append(ev)
        elif op is Op.CREATE:
            self._free.pop(ev.fd, None)
            self._free.pop(ev.fd2, None)
            if ev.fd2 < 0:  # accept(): the engine fills in the listener's address
                pending[ev.fd] = len(items)
            else:
                pending.pop(ev.fd, None)
            items.append(ev)
        elif op is Op.DUP:
            self._place_dup(ev, result, pending)
        elif op is Op.ANNOTATE:
            self._free.pop(ev.fd, None)
            index = pending.get(ev.fd)
            created = items[index] if index is not None else None
            # a copy keeps its original's name in the engine: only a create takes the address
            if type(created) is FdEvent and created.pid == ev.pid and created.op is Op.CREATE:
                target = with_socket_end(created.target, ev.syscall, ev.target)
                items[index] = created._replace(target=target)  # type: ignore[index]
                return
            pending.pop(ev.fd, None)
            items.append(ev)
        elif op is Op.CLOSE_RANGE:
            self._place_close_range(ev, result, pending)
        elif op in _BARRIERS:
            pending.clear()
            self._free.clear()
            items.append(ev)
        else:  # SET_CLOEXEC: it mentions fd
            self._free.pop(ev.fd, None)
            pending.pop(ev.fd, None)
            pending.pop(ev.fd2, None)
            items.append(ev)

    def _place_dup(self, ev: FdEvent, result: BlockResult, pending: dict[int, int]) -> None:
        """A copy of fd X at fd Z (dup, dup2, dup3, fcntl F_DUPFD), folded where it is safe.

        When X is a create of this block by the same pid, the engine would give Z exactly
        that create's kind and target: the copy takes them along, so it means the same
        whether or not X's create reaches the engine, and X may still pair with its
        close. Z then pairs with its own close like a create, if Z's state before the
        copy is known: a create of this block by the same pid (dup2 onto an open fd
        closes it: that create pairs now), or free (dup and F_DUPFD take a free fd).
        """
        items = result.items
        free = self._free.pop(ev.fd2, None) == ev.pid
        self._free.pop(ev.fd, None)
        index = pending.get(ev.fd)
        original = items[index] if index is not None else None
        if type(original) is LazyCreate and original.pid == ev.pid:
            original = self._decode_lazy(original)
            if original is not None:
                items[index] = original  # type: ignore[index]
        if (
            type(original) is not FdEvent
            or original.pid != ev.pid
            or not original.target
            or original.syscall in _ACCEPTS  # its signature depends on the call: the engine's
        ):
            pending.pop(ev.fd, None)
            pending.pop(ev.fd2, None)
            items.append(ev)
            return
        ev = ev._replace(kind=original.kind, target=original.target)
        index = pending.get(ev.fd2)
        replaced = items[index] if index is not None else None
        if type(replaced) in (FdEvent, LazyCreate) and replaced.pid == ev.pid:  # type: ignore[union-attr]
            self._place(FdEvent(ev.seq, ev.ts, ev.pid, Op.CLOSE, ev.fd2, syscall=ev.syscall), result, pending)
        elif index is not None or not (free or ev.syscall in _FREE_FD_COPIES):
            pending.pop(ev.fd2, None)
            items.append(ev)
            return
        pending[ev.fd2] = len(items)
        items.append(ev)

    @staticmethod
    def _count_error(
        result: BlockResult, pid: int, name: str, errno: str, ts: float | None, seq: int
    ) -> None:
        counts = result.errors.get((pid, name, errno))
        if counts is None:
            result.errors[(pid, name, errno)] = [1, ts, seq]
        else:
            counts[0] = int(counts[0] or 0) + 1

    def _slow_line(self, line: str, seq: int, result: BlockResult, pending: dict[int, int]) -> None:
        """Exits, signals, notices, a thread's execve, garbage."""
        stripped = line.rstrip("\r\n")
        if not stripped.strip():
            return
        if stripped.startswith("strace: ") or stripped.startswith(" > "):
            return  # strace's notices and -k stack frames: understood, nothing to do
        if stripped.endswith("<detached ...>"):
            return  # a call cut off when strace detached: whether it took effect is unknown
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
        if body.startswith("+++"):
            self._exited(body, pid, ts, seq, result, pending)
        elif body.startswith("---"):
            return  # a signal delivered: no fd changes
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

    def _resumed(
        self,
        name: str,
        rest: str,
        pid: int,
        ts: float | None,
        seq: int,
        result: BlockResult,
        pending: dict[int, int],
    ) -> None:
        joined = self.assembler.resume(pid, name, rest, unprefixed=pid == self.default_pid)
        if joined is None:
            # its start lies in an earlier block (or was never logged): the engine side
            # joins it; nothing may pair across it, as we cannot tell which fd it names
            pending.clear()
            self._free.clear()
            result.items.append(RawPiece(seq, ts, pid, name, rest, resumed=True))
            return
        text, started = joined
        if not started.applied:
            self.complete(text, pid, ts, seq, result, pending, started.from_tid)

    def complete(
        self,
        text: str,
        pid: int,
        ts: float | None,
        seq: int,
        result: BlockResult,
        pending: dict[int, int],
        from_tid: int = 0,
    ) -> None:
        """Decode a call joined from its pieces."""
        m = CALL.match(text)
        if m is None:
            result.unparsed += 1
            return
        name, args, ret, deco, tail = m.groups()
        self._completed(name, args, ret, deco, tail, pid, ts, seq, result, pending, from_tid)

    def _exited(
        self, body: str, pid: int, ts: float | None, seq: int, result: BlockResult, pending: dict[int, int]
    ) -> None:
        m = EXITED.match(body)
        if m is None:
            result.unparsed += 1
            return
        if "superseded" in body:
            # the leader was replaced by an exec'ing thread, not an exit. When the thread's
            # execve started as "<unfinished ...>" its end comes under the leader's pid:
            # move the call there, as "<pid changed to N ...>" would have
            old = m.group("old")
            started = self.assembler.pending.pop(int(old), None) if old else None
            if started is not None:
                self.assembler.pending[pid] = started._replace(from_tid=int(old or 0))
            return
        code, signal = m.group("code", "sig")
        status = int(code) if code is not None else -_signal_number(signal)
        result.events += 1
        self._place(FdEvent(seq, ts, pid, Op.EXIT, syscall="exit", status=status), result, pending)

    def flush_unfinished(self, result: BlockResult) -> None:
        """At a block's end: calls still in flight go to the engine side as pieces."""
        for pid, started in self.assembler.pending.items():
            args = started.head[len(started.name) + 1 :]
            result.items.append(
                RawPiece(started.seq, None, pid, started.name, args, False, started.from_tid, started.applied)
            )
        self.assembler.pending.clear()


def lines_of(data: bytes, most: int | None = None) -> list[str]:
    """The lines of whole-line bytes (latin-1, newlines dropped), or only the first ``most``."""
    if most is not None:
        end = -1
        for _ in range(most):
            end = data.find(b"\n", end + 1)
            if end < 0:
                break
        if end >= 0:
            data = data[: end + 1]
    lines = data.decode("latin-1").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _sign_compiled(compiled: ModuleType, key: tuple[str, str]) -> Signed:
    """BlockReducer._sign with the open decoded in C where it can be."""
    decoded = compiled.sign_open(*key)
    if decoded is False:
        return BlockReducer._sign(key)
    kind, target, syscall = decoded
    return kind, signature_of(kind, target, syscall)


def _inert(table: dict[str, tuple[str, ...]], name: str, text: str) -> bool:
    words = table.get(name)
    return words is not None and not any(word in text for word in words)


def _signal_number(name: str | None) -> int:
    if name is None:
        return 0
    if is_number(name):
        return int(name)
    return _SIGNALS.get(name, 0)
