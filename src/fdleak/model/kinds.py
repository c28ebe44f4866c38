"""What an fd is: the kinds of the report contract."""

from __future__ import annotations

from enum import Enum


class FdKind(str, Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SOCKET = "socket"
    PIPE = "pipe"
    FIFO = "fifo"
    EVENTFD = "eventfd"
    EPOLL = "epoll"
    TIMERFD = "timerfd"
    SIGNALFD = "signalfd"
    INOTIFY = "inotify"
    MEMFD = "memfd"
    PIDFD = "pidfd"
    DEVICE = "device"
    OTHER = "other"


# anon_inode names as the kernel prints them in /proc/PID/fd and strace -y.
ANON_INODE_KINDS: dict[str, FdKind] = {
    "eventfd": FdKind.EVENTFD,
    "eventpoll": FdKind.EPOLL,
    "timerfd": FdKind.TIMERFD,
    "signalfd": FdKind.SIGNALFD,
    "inotify": FdKind.INOTIFY,
    "pidfd": FdKind.PIDFD,
    "memfd": FdKind.MEMFD,
}


def kind_of_link(text: str) -> FdKind:
    """Classify a /proc/PID/fd link text or an strace -y decoration."""
    if text.startswith("/"):
        if text.startswith("/memfd:"):
            return FdKind.MEMFD
        if text.startswith("/dev/") and not text.startswith("/dev/shm/"):
            return FdKind.DEVICE
        return FdKind.FILE
    if text.startswith("pipe:"):
        return FdKind.PIPE
    if text.startswith("socket:") or _is_socket_decoration(text):
        return FdKind.SOCKET
    if text.startswith("anon_inode:"):
        name = text[len("anon_inode:") :].strip("[]")
        return ANON_INODE_KINDS.get(name, FdKind.OTHER)
    return FdKind.OTHER


_SOCKET_PREFIXES = (
    "TCP",
    "UDP",
    "UNIX",
    "NETLINK",
    "RAW",
    "UDPLITE",
    "SCTP",
    "PACKET",
    "ICMP",
    "DCCP",
    "L2TP",
    "MPTCP",
    "XDP",
    "VSOCK",
    "TIPC",
    "BLUETOOTH",
    "AF_",
)


def _is_socket_decoration(text: str) -> bool:
    # strace -yy prints TCP:[...], TCPv6:[...], UNIX-STREAM:[...], NETLINK:[...]
    head = text.split(":", 1)[0].split("-", 1)[0]
    return head.upper().startswith(_SOCKET_PREFIXES) and ":[" in text
