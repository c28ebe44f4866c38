"""One bpftrace record (a syscall's name and fields, as program.py prints them) -> FdEvents.

The same meanings as the strace backend's decode.py gives each call, from numbers
instead of strace's text: flags are tested bit by bit, sockaddrs are formatted here.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Protocol

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind, kind_of_link


class Paths(Protocol):
    """What decoding asks of the reader: paths as /proc shows them, per process."""

    commands: dict[int, str]

    def path(self, tgid: int, text: str) -> str: ...

    def name(self, number: int) -> str: ...

    def forget_cwd(self, tgid: int) -> None: ...


_O_CLOEXEC = 0o2000000  # also SOCK_CLOEXEC, EFD_, EPOLL_, TFD_, SFD_, IN_CLOEXEC
_O_DIRECTORY = 0o200000
_CLONE_FILES = 0x400
_CLONE_THREAD = 0x10000
_CLOSE_RANGE_UNSHARE = 2
_CLOSE_RANGE_CLOEXEC = 4
_MSG_CMSG_CLOEXEC = 0x40000000
_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_SUN_PATH_AT = 2  # sockaddr_un: sun_family, then sun_path
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


def _int(text: str) -> int:
    value = int(text)
    # bpftrace prints a 64-bit slot with %d as its low 32 bits: signed, as the kernel means
    return value - (1 << 32) if value >= 1 << 31 and value < 1 << 32 else value


def _address(reader: Paths, f: list[str]) -> str | None:
    """The five fields program.py prints for a sockaddr -> ``127.0.0.1:6379``,
    ``[::1]:53``, ``/run/x.sock``, ``@abstract`` (an AF_UNIX path as the hash of its text)."""
    family = int(f[0])
    if family == _AF_UNIX:
        abstract, length = f[1] == "1", int(f[2])
        if 0 < length <= _SUN_PATH_AT:
            return None  # unnamed: the family alone (an accepted peer that never bound)
        path = reader.name(int(f[4])) if len(f) > 4 else ""
        if abstract:
            # an abstract name is not NUL-terminated: its length is addrlen less the family
            # and the leading NUL (not known: read to the first NUL)
            return "@" + (path[: length - _SUN_PATH_AT - 1] if length > _SUN_PATH_AT + 1 else path)
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


def decode(
    reader: Paths, seq: int, ts: float, tid: int, tgid: int, name: str, f: list[str]
) -> tuple[FdEvent, ...]:
    if name in ("open", "openat", "openat2", "creat"):
        ret, flags = int(f[0]), _int(f[1])
        path = reader.path(tgid, reader.name(int(f[2])) if len(f) > 2 else "")
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
        address = _address(reader, f[1:])
        if address is None:
            return ()
        return (FdEvent(seq, ts, tid, Op.ANNOTATE, fd, target=address, syscall=name, kind=FdKind.SOCKET),)
    if name in ("accept", "accept4"):
        ret, listener, flags, family = int(f[0]), _int(f[1]), _int(f[2]), int(f[3])
        peer = _address(reader, f[3:])
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
        label = reader.name(int(f[2])) if len(f) > 2 else ""
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
