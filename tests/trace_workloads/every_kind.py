"""Every kind of fd the ebpf backend names, made while it traces, and kept.

    python every_kind.py DIR

Prints "ready" and waits for a line; then makes files, a directory, a memfd, UNIX sockets
on a path and an abstract name, TCP and UDP sockets with their peers, an eventfd, an
epoll, a pidfd, an inotify, a timerfd, a signalfd, dups by fcntl and dup3, and a pipe end
received over a UNIX socket (SCM_RIGHTS); closes 2,000 numbers never opened. Writes
DIR/names.json, {fd: fdleak's name for it}, prints "done PID" and waits for a line,
everything still open.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import socket
import sys

DIR = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)


def made(fd: int) -> int:
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return fd


def main() -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    names: dict[int, str] = {}
    kept: list[object] = []

    path = os.path.join(DIR, "kept.txt")
    file_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
    names[file_fd] = path
    names[os.open(DIR, os.O_RDONLY | os.O_DIRECTORY)] = DIR
    names[os.memfd_create("zoo cache")] = "/memfd:zoo cache"
    names[fcntl.fcntl(file_fd, fcntl.F_DUPFD_CLOEXEC, 50)] = path
    names[os.dup2(file_fd, 60, inheritable=False)] = path  # dup3

    sock_path = os.path.join(DIR, "zoo.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(sock_path)
    listener.listen()
    client = socket.socket(socket.AF_UNIX)
    client.connect(sock_path)
    accepted, _ = listener.accept()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0zoo-{os.getpid()}")
    names[listener.fileno()] = f"UNIX {sock_path}"
    names[client.fileno()] = f"UNIX ->{sock_path}"
    names[accepted.fileno()] = "UNIX"  # its peer never bound: no name (as strace has it)
    names[abstract.fileno()] = f"UNIX @zoo-{os.getpid()}"

    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    port = tcp.getsockname()[1]
    tcp_client = socket.create_connection(("127.0.0.1", port))
    tcp_accepted, _ = tcp.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    # (bound to port 0: the kernel picked the port after the bind, which says "*")
    names[tcp.fileno()] = "TCP 127.0.0.1:*"
    names[tcp_client.fileno()] = f"TCP ->127.0.0.1:{port}"
    names[tcp_accepted.fileno()] = f"TCP 127.0.0.1:*->127.0.0.1:{tcp_client.getsockname()[1]}"
    names[udp.fileno()] = "UDP 127.0.0.1:*"
    kept += [listener, client, accepted, abstract, tcp, tcp_client, tcp_accepted, udp]

    names[os.eventfd(0)] = "anon_inode:[eventfd]"
    epoll = select.epoll()
    names[epoll.fileno()] = "anon_inode:[eventpoll]"
    names[os.pidfd_open(os.getpid())] = "anon_inode:[pidfd]"
    names[made(libc.inotify_init1(os.O_CLOEXEC))] = "anon_inode:inotify"
    names[made(libc.timerfd_create(1, 0))] = "anon_inode:[timerfd]"  # CLOCK_MONOTONIC
    mask = ctypes.c_uint64(1 << (10 - 1))  # SIGUSR1
    names[made(libc.signalfd(-1, ctypes.byref(mask), 0))] = "anon_inode:[signalfd]"
    kept.append(epoll)

    left, right = socket.socketpair()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    socket.send_fds(left, [b"x"], [read_end])
    _, (received, *_), _, _ = socket.recv_fds(right, 1, 1)
    names[received] = "<SCM_RIGHTS>"
    kept += [left, right, read_end, write_end]

    for number in range(1000, 3000):  # numbers never opened, as a close-everything loop does
        with contextlib.suppress(OSError):
            os.close(number)
    with open(os.path.join(DIR, "names.json"), "w") as out:
        json.dump(names, out)
    print(f"done {os.getpid()}", flush=True)
    sys.stdin.readline()
    os._exit(0)


if __name__ == "__main__":
    main()
