"""A process that holds a known set of fds, for /proc readers to be checked against.

Prints one JSON line {"pid": ..., "fds": {fd: what}, "child": pid|null} once everything is
open, then behaves as asked (hold still, leak, churn, fill a pool) until standard input
reaches end of file. Run: python holder.py [--files N] [--sockets] [--leak-every S] ...
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import select
import signal
import socket
import sys
import tempfile
import threading
import time

_KEEP: list[object] = []  # objects whose fds must stay open


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=0, help="regular files to hold")
    parser.add_argument("--mixed", type=int, default=0, help="this many fds of rotating kinds")
    parser.add_argument("--sockets", action="store_true", help="TCP (incl. CLOSE_WAIT), UDP, UNIX sockets")
    parser.add_argument("--special", action="store_true", help="pipes (peer in a child), eventfd, epoll, dir")
    parser.add_argument("--leak-every", type=float, default=0.0, help="leak one file every S seconds")
    parser.add_argument("--churn", type=int, default=0, help="open and close up to N files, over and over")
    parser.add_argument("--pool", type=int, default=0, help="open N files over 2.5 s, then keep them")
    parser.add_argument(
        "--recycle", action="store_true", help="children that leak 8 files each in 0.8 s, one after another"
    )
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    held: dict[int, str] = {}
    keep: list[object] = []
    child = None
    if args.mixed or args.files > 1000:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = args.mixed + args.files + 1000
        try:  # with CAP_SYS_RESOURCE the hard limit may rise up to fs.nr_open
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(want, hard)), hard))
    for n in range(args.files):
        fd = os.open(os.path.join(args.dir, f"held_{n}.txt"), os.O_CREAT | os.O_RDWR, 0o600)
        held[fd] = "file"
    if args.mixed:
        _mixed(args.mixed, args.dir, held)
    if args.sockets:
        _sockets(held, keep)
    if args.special:
        child = _special(held)
    print(json.dumps({"pid": os.getpid(), "fds": held, "child": child}), flush=True)
    if args.leak_every:
        threading.Thread(target=_leak, args=(args.dir, args.leak_every), daemon=True).start()
    if args.churn:
        threading.Thread(target=_churn, args=(args.dir, args.churn), daemon=True).start()
    if args.pool:
        threading.Thread(target=_pool, args=(args.dir, args.pool, keep), daemon=True).start()
    if args.recycle:
        threading.Thread(target=_recycle, args=(args.dir,), daemon=True).start()
    while os.read(0, 4096):
        pass
    if child is not None:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    os._exit(0)  # no clean-up: the test reads /proc while we hold everything


def _mixed(count: int, directory: str, held: dict[int, str]) -> None:
    path = os.path.join(directory, "mixed.txt")
    open(path, "w").close()
    made = 0
    for round_ in itertools.count():
        if made >= count:
            break
        kind = round_ % 4
        if kind == 0:
            held[os.open(path, os.O_RDONLY)] = "file"
            made += 1
        elif kind == 1:
            r, w = os.pipe()
            held[r], held[w] = "pipe", "pipe"
            made += 2
        elif kind == 2:
            a, b = socket.socketpair()
            held[a.detach()], held[b.detach()] = "socket", "socket"
            made += 2
        else:
            held[os.eventfd(0)] = "eventfd"
            made += 1


def _sockets(held: dict[int, str], keep: list[object]) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held[server.fileno()] = "socket listen"
    for n in range(4):
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        held[client.fileno()] = "socket established"
        if n < 2:
            accepted.close()  # the peer hangs up and we never close: CLOSE_WAIT
            held[client.fileno()] = "socket close_wait"
        else:
            held[accepted.fileno()] = "socket established"
            keep.append(accepted)
        keep.append(client)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    held[udp.fileno()] = "socket udp"
    listener_path = tempfile.mktemp(suffix=".sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(listener_path)
    unix.listen(1)
    held[unix.fileno()] = "socket unix " + listener_path
    keep.extend([server, udp, unix])


def _special(held: dict[int, str]) -> int:
    r, w = os.pipe()
    held[r], held[w] = "pipe", "pipe"
    held[os.eventfd(0)] = "eventfd"
    poller = select.epoll()
    held[poller.fileno()] = "epoll"
    _KEEP.append(poller)
    held[os.open(tempfile.gettempdir(), os.O_RDONLY | os.O_DIRECTORY)] = "directory"
    child = os.fork()
    if child == 0:  # holds the same pipe: its pid is the pipe's peer
        while True:
            time.sleep(60)
    return child


def _leak(directory: str, every: float) -> None:
    n = 0
    while True:
        os.open(os.path.join(directory, f"leaky_{n}.txt"), os.O_CREAT | os.O_WRONLY, 0o600)
        n += 1
        time.sleep(every)


def _churn(directory: str, most: int) -> None:
    """Bursts of a random size, each closed again: busy, but level over time."""
    while True:
        fds = [
            os.open(os.path.join(directory, f"churn_{i}.txt"), os.O_CREAT | os.O_WRONLY, 0o600)
            for i in range(random.randint(1, most))
        ]
        time.sleep(0.01)
        for fd in fds:
            os.close(fd)


def _recycle(directory: str) -> None:
    """Like a pool whose children are replaced after a few tasks, each leaking on every task."""
    for generation in itertools.count():
        child = os.fork()
        if child == 0:
            for n in range(8):
                os.open(
                    os.path.join(directory, f"recycled_{generation}_{n}.txt"), os.O_CREAT | os.O_WRONLY, 0o600
                )
                time.sleep(0.1)
            os._exit(0)
        os.waitpid(child, 0)


def _pool(directory: str, size: int, keep: list[object]) -> None:
    for n in range(size):
        keep.append(os.open(os.path.join(directory, f"pool_{n}.txt"), os.O_CREAT | os.O_WRONLY, 0o600))
        # slow enough that a watch started under load still sees most of the growth
        time.sleep(2.5 / size)


if __name__ == "__main__":
    sys.exit(main())
