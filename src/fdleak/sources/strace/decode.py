"""Per-syscall meaning: a completed strace call -> the FdEvents it implies."""

from __future__ import annotations

import re
from collections.abc import Callable

from fdleak.model.events import FdEvent, Op
from fdleak.model.kinds import FdKind, kind_of_link
from fdleak.sources.strace.args import (
    fd_and_decoration,
    first_string,
    sockaddr,
    socket_decoration,
    split_top,
    unquote,
)
from fdleak.sources.strace.lines import is_number

Events = tuple[FdEvent, ...]
NONE: Events = ()
# (seq, ts, pid, name, args, ret, decoration of the returned fd) -> events
Handler = Callable[[int, "float | None", int, str, str, int, "str | None"], Events]

# The syscalls strace should trace to rebuild fd tables (run/trace use this list).
FD_SYSCALLS = (
    "open,openat,openat2,creat,open_by_handle_at,socket,socketpair,accept,accept4,"
    "pipe,pipe2,dup,dup2,dup3,fcntl,ioctl,eventfd,eventfd2,epoll_create,epoll_create1,"
    "timerfd_create,signalfd,signalfd4,inotify_init,inotify_init1,fanotify_init,"
    "memfd_create,pidfd_open,pidfd_getfd,userfaultfd,perf_event_open,io_uring_setup,"
    "recvmsg,recvmmsg,close,close_range,execve,execveat,clone,clone3,fork,vfork,unshare,"
    "connect,bind,exit,exit_group"
)

FORK_CALLS = frozenset({"clone", "clone3", "fork", "vfork"})


def kind_of_path(path: str, args: str) -> FdKind:
    if "O_DIRECTORY" in args:
        return FdKind.DIRECTORY
    return kind_of_link(path)


def _open(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    # -y prints the resolved path of the new fd; without it, the path argument is all we have
    path = deco if deco is not None else (first_string(args) or f"<{name}>")
    kind = kind_of_link(deco) if deco is not None and not deco.startswith("/") else kind_of_path(path, args)
    if kind is FdKind.FILE and "O_DIRECTORY" in args:
        kind = FdKind.DIRECTORY
    cloexec = "O_CLOEXEC" in args[args.rfind('"') + 1 :] if '"' in args else "O_CLOEXEC" in args
    return (FdEvent(seq, ts, pid, Op.CREATE, ret, -1, kind, path, name, cloexec),)


_FAMILY_PROTO = {
    ("AF_INET", "SOCK_STREAM"): "TCP",
    ("AF_INET", "SOCK_DGRAM"): "UDP",
    ("AF_INET6", "SOCK_STREAM"): "TCPv6",
    ("AF_INET6", "SOCK_DGRAM"): "UDPv6",
    ("AF_INET", "SOCK_RAW"): "RAW",
    ("AF_INET6", "SOCK_RAW"): "RAWv6",
}


def socket_proto(args: str) -> str:
    """socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) -> "TCP"."""
    parts = args.split(",", 2)
    family = parts[0].strip()
    stype = parts[1].strip().split("|", 1)[0] if len(parts) > 1 else ""
    if family in ("AF_UNIX", "AF_LOCAL"):
        return "UNIX"
    proto = _FAMILY_PROTO.get((family, stype))
    if proto:
        return proto
    return family[3:] if family.startswith("AF_") else family


def _socket(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    target = (socket_decoration(deco) if deco else None) or socket_proto(args)
    return (FdEvent(seq, ts, pid, Op.CREATE, ret, -1, FdKind.SOCKET, target, name, "SOCK_CLOEXEC" in args),)


# [3<pipe:[4616]>, 4<pipe:[4616]>]: a decoration may itself hold brackets
# inside: plain text, a [bracketed] part that may hold "->" (-yy sockets), or a nested <...>
_DECO = r"(<(?:[^<>\[]|\[[^\]]*\]|<[^<>]*>)*>)?"
_FD_LIST = re.compile(r"\[(-?\d+)" + _DECO + r", (-?\d+)" + _DECO + r"\]")
_FD_LIST_PLAIN = re.compile(r"\[(\d+)(<[^<>]*>)?, (\d+)(<[^<>]*>)?\]")  # no -yy nesting: the usual case


def _two_ends(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    # pipe2([3<pipe:[4616]>, 4<pipe:[4616]>], O_CLOEXEC) = 0; socketpair(..., [6, 7]) = 0
    match = _FD_LIST_PLAIN.search(args) or _FD_LIST.search(args)
    if match is None:
        return NONE
    cloexec = "CLOEXEC" in args[match.end() :] or "SOCK_CLOEXEC" in args[: match.start()]
    events = []
    for fd_text, deco_text in ((match.group(1), match.group(2)), (match.group(3), match.group(4))):
        link = deco_text[1:-1] if deco_text else None
        if name.startswith("pipe"):
            kind, target = FdKind.PIPE, link or "pipe"
        else:
            kind = FdKind.SOCKET
            target = (socket_decoration(link) if link else None) or f"{socket_proto(args)} socketpair"
        events.append(FdEvent(seq, ts, pid, Op.CREATE, int(fd_text), -1, kind, target, name, cloexec))
    return tuple(events)


def _accept(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    listener, listener_deco = fd_and_decoration(args.split(",", 1)[0])
    target = socket_decoration(deco) if deco else None
    if target is None:
        peer = sockaddr(args)
        proto = "UNIX" if "AF_UNIX" in args else ("TCPv6" if "AF_INET6" in args else "TCP")
        if listener_deco and (known := socket_decoration(listener_deco)):
            proto = known  # the listener's "TCP 127.0.0.1:8080" gives our local end
        joiner = "->" if " " in proto else " ->"
        target = f"{proto}{joiner}{peer}" if peer else proto
    cloexec = "SOCK_CLOEXEC" in args
    fd2 = listener if listener is not None else -1
    return (FdEvent(seq, ts, pid, Op.CREATE, ret, fd2, FdKind.SOCKET, target, name, cloexec),)


def _anon(kind: FdKind, target: str, flag: str, always_cloexec: bool = False) -> Handler:
    def handler(
        seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
    ) -> Events:
        cloexec = always_cloexec or flag in args
        return (FdEvent(seq, ts, pid, Op.CREATE, ret, -1, kind, deco or target, name, cloexec),)

    return handler


def _signalfd(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    if not args.startswith("-1"):
        return NONE  # an existing signalfd's mask was changed: no new fd
    return _anon(FdKind.SIGNALFD, "anon_inode:[signalfd]", "SFD_CLOEXEC")(seq, ts, pid, name, args, ret, deco)


def _memfd(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    label = first_string(args) or ""
    target = deco or f"/memfd:{label}"
    return (FdEvent(seq, ts, pid, Op.CREATE, ret, -1, FdKind.MEMFD, target, name, "MFD_CLOEXEC" in args),)


def _from_decoration(default_kind: FdKind, always_cloexec: bool) -> Handler:
    # pidfd_getfd and open_by_handle_at: only the decoration tells what the fd is
    def handler(
        seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
    ) -> Events:
        kind = kind_of_link(deco) if deco else default_kind
        cloexec = always_cloexec or "O_CLOEXEC" in args
        return (FdEvent(seq, ts, pid, Op.CREATE, ret, -1, kind, deco or f"<{name}>", name, cloexec),)

    return handler


def _dup(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    old, old_deco = fd_and_decoration(args.split(",", 1)[0])
    if old is None or old == ret:
        return NONE  # dup2(fd, fd) changes nothing
    cloexec = name == "dup3" and "O_CLOEXEC" in args
    target = deco or old_deco or ""
    kind = kind_of_link(target) if target else FdKind.OTHER
    return (FdEvent(seq, ts, pid, Op.DUP, old, ret, kind, target, name, cloexec),)


def _fcntl(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    parts = args.split(",", 2)
    if len(parts) < 2:
        return NONE
    command = parts[1].strip()
    fd, old_deco = fd_and_decoration(parts[0])
    if fd is None:
        return NONE
    if command in ("F_DUPFD", "F_DUPFD_CLOEXEC"):
        # os.dup() is fcntl(fd, F_DUPFD_CLOEXEC, 0)
        target = deco or old_deco or ""
        kind = kind_of_link(target) if target else FdKind.OTHER
        return (FdEvent(seq, ts, pid, Op.DUP, fd, ret, kind, target, name, command == "F_DUPFD_CLOEXEC"),)
    if command == "F_SETFD" and len(parts) > 2:
        return (FdEvent(seq, ts, pid, Op.SET_CLOEXEC, fd, syscall=name, cloexec="FD_CLOEXEC" in parts[2]),)
    return NONE


def _ioctl(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    # os.set_inheritable() uses ioctl(FIOCLEX / FIONCLEX) where it can
    if "FIOCLEX" not in args and "FIONCLEX" not in args:
        return NONE
    fd, _ = fd_and_decoration(args.split(",", 1)[0])
    if fd is None:
        return NONE
    return (FdEvent(seq, ts, pid, Op.SET_CLOEXEC, fd, syscall=name, cloexec="FIONCLEX" not in args),)


def _close(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    number = args.partition("<")[0].strip()
    fd = int(number) if is_number(number) else fd_and_decoration(args)[0]
    if fd is None:
        return NONE
    return (FdEvent(seq, ts, pid, Op.CLOSE, fd, syscall=name),)


_HUGE_FD = 1 << 31


def _close_range(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    parts = split_top(args)
    if len(parts) < 2:
        return NONE
    first = _int_or(parts[0], 0)
    last = _int_or(parts[1], _HUGE_FD)  # "~0U" and other spellings of "all the rest"
    flags = parts[2] if len(parts) > 2 else ""
    events = []
    if "CLOSE_RANGE_UNSHARE" in flags:
        events.append(FdEvent(seq, ts, pid, Op.UNSHARE, syscall=name))
    events.append(
        FdEvent(
            seq, ts, pid, Op.CLOSE_RANGE, first, last, syscall=name, cloexec="CLOSE_RANGE_CLOEXEC" in flags
        )
    )
    return tuple(events)


def _int_or(text: str, default: int) -> int:
    text = text.strip().split("<", 1)[0]
    try:
        return int(text, 0)
    except ValueError:
        return default


def _connect_or_bind(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    fd, _ = fd_and_decoration(args.split(",", 1)[0])
    address = sockaddr(args)
    if fd is None or address is None:
        return NONE
    return (FdEvent(seq, ts, pid, Op.ANNOTATE, fd, target=address, syscall=name, kind=FdKind.SOCKET),)


_CMSG_FDS = re.compile(r"cmsg_type=SCM_RIGHTS, cmsg_data=\[")


def _recvmsg(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    # fds passed over a UNIX socket arrive as new fds in the receiver
    if "SCM_RIGHTS" not in args:
        return NONE
    cloexec = "MSG_CMSG_CLOEXEC" in args
    events = []
    for match in _CMSG_FDS.finditer(args):
        for item in split_top(_bracketed(args, match.end())):
            fd, link = fd_and_decoration(item)
            if fd is None:
                continue
            kind = kind_of_link(link) if link else FdKind.OTHER
            events.append(
                FdEvent(seq, ts, pid, Op.CREATE, fd, -1, kind, link or "<SCM_RIGHTS>", name, cloexec)
            )
    return tuple(events)


def _bracketed(text: str, start: int) -> str:
    """The text from ``start`` up to the "]" that closes the "[" just before it."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "[":
            depth += 1
        elif c == "]":
            if depth == 0:
                return text[start:i]
            depth -= 1
    return text[start:]


def _execve(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    argv = re.search(r"\[(.*?)\](?:, 0x|, \[|$)", args)
    command = " ".join(_strings(argv.group(1))) if argv else (first_string(args) or "")
    return (FdEvent(seq, ts, pid, Op.EXEC, syscall=name, target=command),)


_STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _strings(text: str) -> list[str]:
    return [unquote(m.group(1)) for m in _STRINGS.finditer(text)]


def _fork(seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None) -> Events:
    return (fork_event(seq, ts, pid, name, args, ret),)


def fork_event(seq: int, ts: float | None, pid: int, name: str, args: str, child: int) -> FdEvent:
    """clone/clone3/fork/vfork; ``child`` 0 while the call is still unfinished."""
    shares = name in ("clone", "clone3") and "CLONE_FILES" in args
    thread = name in ("clone", "clone3") and "CLONE_THREAD" in args
    return FdEvent(seq, ts, pid, Op.FORK, syscall=name, child=child, shares_table=shares, thread=thread)


def _unshare(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret: int, deco: str | None
) -> Events:
    if "CLONE_FILES" not in args:
        return NONE
    return (FdEvent(seq, ts, pid, Op.UNSHARE, syscall=name),)


# The calls that make one anonymous-inode fd: name -> (kind, target when strace -y
# names none, the flag that makes it close-on-exec, always close-on-exec). The compiled
# decoder (_decode.c) reads this table too.
ANON: dict[str, tuple[FdKind, str, str, bool]] = {
    "eventfd": (FdKind.EVENTFD, "anon_inode:[eventfd]", "EFD_CLOEXEC", False),
    "eventfd2": (FdKind.EVENTFD, "anon_inode:[eventfd]", "EFD_CLOEXEC", False),
    "epoll_create": (FdKind.EPOLL, "anon_inode:[eventpoll]", "EPOLL_CLOEXEC", False),
    "epoll_create1": (FdKind.EPOLL, "anon_inode:[eventpoll]", "EPOLL_CLOEXEC", False),
    "timerfd_create": (FdKind.TIMERFD, "anon_inode:[timerfd]", "TFD_CLOEXEC", False),
    "inotify_init": (FdKind.INOTIFY, "anon_inode:inotify", "IN_CLOEXEC", False),
    "inotify_init1": (FdKind.INOTIFY, "anon_inode:inotify", "IN_CLOEXEC", False),
    "fanotify_init": (FdKind.OTHER, "anon_inode:[fanotify]", "FAN_CLOEXEC", False),
    # pidfd_open and io_uring_setup always set O_CLOEXEC on the new fd
    "pidfd_open": (FdKind.PIDFD, "anon_inode:[pidfd]", "", True),
    "userfaultfd": (FdKind.OTHER, "anon_inode:[userfaultfd]", "O_CLOEXEC", False),
    "perf_event_open": (FdKind.OTHER, "anon_inode:[perf_event]", "PERF_FLAG_FD_CLOEXEC", False),
    "io_uring_setup": (FdKind.OTHER, "anon_inode:[io_uring]", "", True),
}

HANDLERS: dict[str, Handler] = {
    "open": _open,
    "openat": _open,
    "openat2": _open,
    "creat": _open,
    "open_by_handle_at": _from_decoration(FdKind.FILE, False),
    "socket": _socket,
    "socketpair": _two_ends,
    "pipe": _two_ends,
    "pipe2": _two_ends,
    "accept": _accept,
    "accept4": _accept,
    "dup": _dup,
    "dup2": _dup,
    "dup3": _dup,
    "fcntl": _fcntl,
    "fcntl64": _fcntl,
    "ioctl": _ioctl,
    "signalfd": _signalfd,
    "signalfd4": _signalfd,
    "memfd_create": _memfd,
    # pidfd_getfd always sets O_CLOEXEC on the new fd
    "pidfd_getfd": _from_decoration(FdKind.OTHER, True),
    "recvmsg": _recvmsg,
    "recvmmsg": _recvmsg,
    "close": _close,
    "close_range": _close_range,
    "execve": _execve,
    "execveat": _execve,
    "clone": _fork,
    "clone3": _fork,
    "fork": _fork,
    "vfork": _fork,
    "unshare": _unshare,
    "connect": _connect_or_bind,
    "bind": _connect_or_bind,
    **{name: _anon(*spec) for name, spec in ANON.items()},
}


def decode(
    seq: int, ts: float | None, pid: int, name: str, args: str, ret_text: str, deco: str | None, tail: str
) -> Events:
    """The events of one completed call (unknown syscalls and failures: none)."""
    handler = HANDLERS.get(name)
    if handler is None:
        return NONE
    if deco is not None:
        # -yy nests more after the path ("/dev/null<char 1:3>"); -y escapes like strings
        if "<" in deco:
            deco = deco[: deco.index("<")]
        if "\\" in deco:
            deco = unquote(deco)
    if ret_text[0] == "-" or ret_text == "?":
        if name in FORK_CALLS:  # a failed clone: whoever waits for its child can stop
            return (fork_event(seq, ts, pid, name, args, -1),)
        # close() releases the fd on Linux whatever it returns, except with EBADF;
        # a non-blocking connect() says EINPROGRESS but has its peer already
        if name == "close" and "EBADF" not in tail:
            return handler(seq, ts, pid, name, args, 0, deco)
        if name == "connect" and "EINPROGRESS" in tail:
            return handler(seq, ts, pid, name, args, 0, deco)
        return NONE
    ret = int(ret_text, 16) if ret_text.startswith("0x") else int(ret_text)
    return handler(seq, ts, pid, name, args, ret, deco)
