"""bpftrace's lines -> FdEvents, in kernel time order, with what was lost or cut short.

bpftrace prints each CPU's perf buffer in turn, so lines of different CPUs arrive out
of order (a thread that moved CPU between its close and its next open could be read
open-first). Records are held in a heap by their kernel timestamp and released once a
line REORDER_NS younger has been read, or at the end.
"""

from __future__ import annotations

import heapq
import ipaddress
import os
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind, kind_of_link
from fdleak.sources.bpftrace.program import STRLEN

REORDER_NS = 250_000_000
_LOST = re.compile(r"^Lost (\d+) events")

_O_CLOEXEC = 0o2000000  # also SOCK_CLOEXEC, EFD_, EPOLL_, TFD_, SFD_, IN_CLOEXEC
_O_DIRECTORY = 0o200000
_CLONE_FILES = 0x400
_CLONE_THREAD = 0x10000
_CLOSE_RANGE_UNSHARE = 2
_CLOSE_RANGE_CLOEXEC = 4
_MSG_CMSG_CLOEXEC = 0x40000000
_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_FAMILIES = {16: "NETLINK", 17: "PACKET", 40: "VSOCK"}
_TYPES = {1: "TCP", 2: "UDP", 3: "RAW"}  # SOCK_STREAM, SOCK_DGRAM, SOCK_RAW

# anonymous-inode fds: name -> (kind, target, the flag bit that makes it close-on-exec,
# always close-on-exec); targets as /proc/PID/fd and strace -y print them
ANON: dict[str, tuple[FdKind, str, int, bool]] = {
    "eventfd": (FdKind.EVENTFD, "anon_inode:[eventfd]", _O_CLOEXEC, False),
    "eventfd2": (FdKind.EVENTFD, "anon_inode:[eventfd]", _O_CLOEXEC, False),
    "epoll_create": (FdKind.EPOLL, "anon_inode:[eventpoll]", _O_CLOEXEC, False),
    "epoll_create1": (FdKind.EPOLL, "anon_inode:[eventpoll]", _O_CLOEXEC, False),
    "timerfd_create": (FdKind.TIMERFD, "anon_inode:[timerfd]", _O_CLOEXEC, False),
    "signalfd": (FdKind.SIGNALFD, "anon_inode:[signalfd]", _O_CLOEXEC, False),
    "signalfd4": (FdKind.SIGNALFD, "anon_inode:[signalfd]", _O_CLOEXEC, False),
    "inotify_init": (FdKind.INOTIFY, "anon_inode:inotify", _O_CLOEXEC, False),
    "inotify_init1": (FdKind.INOTIFY, "anon_inode:inotify", _O_CLOEXEC, False),
    "fanotify_init": (FdKind.OTHER, "anon_inode:[fanotify]", 0x1, False),
    "pidfd_open": (FdKind.PIDFD, "anon_inode:[pidfd]", 0, True),
    "pidfd_getfd": (FdKind.OTHER, "<pidfd_getfd>", 0, True),
    "userfaultfd": (FdKind.OTHER, "anon_inode:[userfaultfd]", _O_CLOEXEC, False),
    "perf_event_open": (FdKind.OTHER, "anon_inode:[perf_event]", 0x8, False),
    "io_uring_setup": (FdKind.OTHER, "anon_inode:[io_uring]", 0, True),
    "open_by_handle_at": (FdKind.FILE, "<open_by_handle_at>", _O_CLOEXEC, False),
}


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
            # "@traced[123]: 1": bpftrace's maps at its exit; "Attaching 8 probes..."
            elif not line.startswith(("@", "Attaching ")):
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
            events = _decode(self, self._seq, ts, tid, tgid, name, fields)
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
            try:
                cwd = self._cwd[tgid] = os.readlink(f"/proc/{tgid}/cwd")
            except OSError:
                return text
        return os.path.normpath(os.path.join(cwd, text))

    def forget_cwd(self, tgid: int) -> None:
        self._cwd.pop(tgid, None)


# how many spaces to split a record's fields on: a string field comes last, whole
_STRING_AT = {
    "open": 2,
    "openat": 2,
    "openat2": 2,
    "creat": 2,
    "memfd_create": 2,
    "exec": 1,
    "connect": 5,
    "bind": 5,
    "accept": 7,
    "accept4": 7,
}


def _int(text: str) -> int:
    value = int(text)
    # bpftrace prints a 64-bit slot with %d as its low 32 bits: signed, as the kernel means
    return value - (1 << 32) if value >= 1 << 31 and value < 1 << 32 else value


def _address(f: list[str]) -> str | None:
    """The five fields program.py prints for a sockaddr -> ``127.0.0.1:6379``,
    ``[::1]:53``, ``/run/x.sock``, ``@abstract``."""
    family = int(f[0])
    if family == _AF_UNIX:
        abstract, length = f[1] == "1", int(f[2])
        path = f[4] if len(f) > 4 else ""
        if abstract:
            # an abstract name is not NUL-terminated: its length is addrlen less the family
            # and the leading NUL (unknown for accept's peer: read to the first NUL)
            return "@" + (path[: length - 3] if length > 3 else path)
        return path
    port, v4, lo, hi = (int(x) for x in f[1:5])
    port = ((port & 0xFF) << 8) | (port >> 8)  # network byte order
    shown = "*" if port == 0 else str(port)  # bind to port 0: the kernel picks one later
    if family == _AF_INET:
        return f"{ipaddress.IPv4Address(struct.pack('<I', v4))}:{shown}"
    if family == _AF_INET6:
        # sin6_addr starts at +8: the program's two 64-bit reads at +8 and +16
        return f"[{ipaddress.IPv6Address(struct.pack('<QQ', lo, hi))}]:{shown}"
    return None


def _proto(family: int, stype: int) -> str:
    if family == _AF_UNIX:
        return "UNIX"
    base = _TYPES.get(stype & 0xF)
    if family == _AF_INET and base:
        return base
    if family == _AF_INET6 and base:
        return base + "v6"
    return _FAMILIES.get(family, f"AF_{family}")


def _decode(
    reader: Reader, seq: int, ts: float, tid: int, tgid: int, name: str, f: list[str]
) -> tuple[FdEvent, ...]:
    if name in ("open", "openat", "openat2", "creat"):
        ret, flags = int(f[0]), _int(f[1])
        path = reader.path(tgid, f[2] if len(f) > 2 else "")
        kind = (
            FdKind.DIRECTORY
            if flags & _O_DIRECTORY
            else kind_of_link(path)
            if path.startswith("/")
            else FdKind.FILE
        )
        return (
            FdEvent(
                seq, ts, tid, Op.CREATE, ret, -1, kind, path or f"<{name}>", name, bool(flags & _O_CLOEXEC)
            ),
        )
    if name == "close":
        return (FdEvent(seq, ts, tid, Op.CLOSE, _int(f[0]), syscall=name),)
    if name == "socket":
        ret, family, stype = int(f[0]), int(f[1]), int(f[2])
        return (
            FdEvent(
                seq,
                ts,
                tid,
                Op.CREATE,
                ret,
                -1,
                FdKind.SOCKET,
                _proto(family, stype),
                name,
                bool(stype & _O_CLOEXEC),
            ),
        )
    if name in ("connect", "bind"):
        fd = _int(f[0])
        address = _address(f[1:])
        if address is None:
            return ()
        return (FdEvent(seq, ts, tid, Op.ANNOTATE, fd, target=address, syscall=name, kind=FdKind.SOCKET),)
    if name in ("accept", "accept4"):
        ret, listener, flags, family = int(f[0]), _int(f[1]), _int(f[2]), int(f[3])
        peer = _address(f[3:])
        proto = "TCPv6" if family == _AF_INET6 else "UNIX" if family == _AF_UNIX else "TCP"
        # the engine puts the listener's bound address before the arrow
        target = f"{proto} ->{peer}" if peer else proto
        return (
            FdEvent(
                seq, ts, tid, Op.CREATE, ret, listener, FdKind.SOCKET, target, name, bool(flags & _O_CLOEXEC)
            ),
        )
    if name in ("pipe", "pipe2"):
        cloexec = bool(_int(f[2]) & _O_CLOEXEC)
        target = f"pipe:[{f[3]}]" if len(f) > 3 and f[3] != "0" else "pipe"
        return tuple(
            FdEvent(seq, ts, tid, Op.CREATE, int(fd), -1, FdKind.PIPE, target, name, cloexec) for fd in f[:2]
        )
    if name == "socketpair":
        family, stype = int(f[2]), int(f[3])
        target = f"{_proto(family, stype)} socketpair"
        cloexec = bool(stype & _O_CLOEXEC)
        return tuple(
            FdEvent(seq, ts, tid, Op.CREATE, int(fd), -1, FdKind.SOCKET, target, name, cloexec)
            for fd in f[:2]
        )
    if name in ("dup", "dup2", "dup3"):
        old, new = _int(f[0]), int(f[1])
        if new < 0 or old == new:
            return ()  # failed, or dup2(fd, fd): nothing changes
        return (FdEvent(seq, ts, tid, Op.DUP, old, new, syscall=name, cloexec=bool(_int(f[2]) & _O_CLOEXEC)),)
    if name == "fcntl":
        fd, cmd, arg, ret = _int(f[0]), int(f[1]), _int(f[2]), int(f[3])
        if ret < 0:
            return ()
        if cmd == 2:  # F_SETFD
            return (FdEvent(seq, ts, tid, Op.SET_CLOEXEC, fd, syscall=name, cloexec=bool(arg & 1)),)
        return (FdEvent(seq, ts, tid, Op.DUP, fd, ret, syscall=name, cloexec=cmd == 1030),)
    if name == "ioctl":
        return (FdEvent(seq, ts, tid, Op.SET_CLOEXEC, _int(f[0]), syscall=name, cloexec=int(f[1]) == 0x5451),)
    if name == "memfd_create":
        ret, flags = int(f[0]), _int(f[1])
        label = f[2] if len(f) > 2 else ""
        return (
            FdEvent(seq, ts, tid, Op.CREATE, ret, -1, FdKind.MEMFD, f"/memfd:{label}", name, bool(flags & 1)),
        )
    if name in ANON:
        kind, target, bit, always = ANON[name]
        ret, flags = int(f[0]), _int(f[1])
        return (FdEvent(seq, ts, tid, Op.CREATE, ret, -1, kind, target, name, always or bool(flags & bit)),)
    if name == "recvmsg":
        count, flags = int(f[0]), _int(f[1])
        cloexec = bool(flags & _MSG_CMSG_CLOEXEC)
        return tuple(
            FdEvent(seq, ts, tid, Op.CREATE, int(fd), -1, FdKind.OTHER, "<SCM_RIGHTS>", name, cloexec)
            for fd in f[2 : 2 + min(count, 4)]
        )
    if name == "close_range":
        first, last, flags = _int(f[0]), int(f[1]), _int(f[2])
        last = min(last, 1 << 31)  # ~0U: all the rest
        events = []
        if flags & _CLOSE_RANGE_UNSHARE:
            events.append(FdEvent(seq, ts, tid, Op.UNSHARE, syscall=name))
        events.append(
            FdEvent(
                seq,
                ts,
                tid,
                Op.CLOSE_RANGE,
                first,
                last,
                syscall=name,
                cloexec=bool(flags & _CLOSE_RANGE_CLOEXEC),
            )
        )
        return tuple(events)
    if name == "unshare":
        return (FdEvent(seq, ts, tid, Op.UNSHARE, syscall=name),) if _int(f[0]) & _CLONE_FILES else ()
    if name == "fork":
        child, flags = int(f[0]), int(f[1])
        return (
            FdEvent(
                seq,
                ts,
                tid,
                Op.FORK,
                syscall="clone",
                child=child,
                shares_table=bool(flags & _CLONE_FILES),
                thread=bool(flags & _CLONE_THREAD),
            ),
        )
    if name == "exec":
        old = int(f[0])
        reader.forget_cwd(tgid)
        command = reader.commands.pop(tgid, None) or (f[1] if len(f) > 1 else "")
        if old != tid:
            # a non-leader thread's execve: it carries on as the leader's pid
            return (
                FdEvent(seq, ts, tid, Op.PID_CHANGE, child=old, syscall="execve"),
                FdEvent(seq, ts, tid, Op.EXEC, syscall="execve", target=command),
            )
        return (FdEvent(seq, ts, tid, Op.EXEC, syscall="execve", target=command),)
    if name == "exit":
        code = int(f[0])
        status = None if code < 0 else -(code & 0x7F) if code & 0x7F else (code >> 8) & 0xFF
        if f[1] == "1":
            reader.forget_cwd(tgid)
        return (FdEvent(seq, ts, tid, Op.EXIT, status=status),)
    raise ValueError(name)
