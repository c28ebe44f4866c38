"""Threads that name each other's fds, for the ebpf backend's creates held per thread.

    python shared_fds.py DIR

Prints "ready" and waits for a line on stdin. Then each of nine holder threads makes one
fd (a file, a socket or a pipe) as its last fd call, which the kernel may hold back, and
waits, while the main thread names each of those fds: it closes one, dups one, dup2s
onto one, connects one, makes one inheritable (ioctl), closes a pipe's read end, and
closes one whose number a second holder then makes again, and that one too once the first
holder has made another fd call. It then prints lines for longer than the reader's
reorder window, so that a create printed only by its own thread would come too late;
closes one with close_range and forks a child that keeps the others; prints lines as
long again; and the holders carry on: each closes its fd (those already closed fail, as
they should), but the socket and the inheritable file, which stay open.

Then, in a second child (whose numbers cannot hide a wrong one of the parent's by being
reused), producer threads open files that consumer threads close (every 10th kept open),
so creates held by one thread are closed by another while both run.

Prints "done PID KEEPER WORKER" and waits for a line on stdin before it exits (the
children with it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from fdleak.sources.bpftrace.records import REORDER_NS

DIR = sys.argv[1]
REORDER_WINDOW = REORDER_NS / 1e9  # seconds
kept: list[object] = []


def path(name: str) -> str:
    return os.path.join(DIR, name)


def opened(name: str) -> int:
    return os.open(path(name), os.O_CREAT | os.O_WRONLY, 0o600)


def close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):  # closed by another thread already
        os.close(fd)


class Holder(threading.Thread):
    """Makes its fds, says so, waits for ``go``, then does ``after`` with them."""

    def __init__(
        self, make: Callable[[], tuple[int, ...]], after: Callable[..., object], go: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self.make, self.after, self.go = make, after, go
        self.made = threading.Event()
        self.fds: tuple[int, ...] = ()

    def run(self) -> None:
        self.fds = self.make()
        self.made.set()
        self.go.wait()
        self.after(*self.fds)


def named_by_others(listener: socket.socket) -> int:
    """The held creates named by the main thread; returns the forked child's pid."""
    null = os.open("/dev/null", os.O_RDONLY)
    go = threading.Event()
    holders = {
        "closed": Holder(lambda: (opened("closed_by_other.txt"),), close_quietly, go),
        "duped": Holder(lambda: (opened("dup_source.txt"),), os.close, go),
        "dup2": Holder(lambda: (opened("dup2_target.txt"),), os.close, go),
        "socket": Holder(lambda: (socket.socket().detach(),), lambda fd: None, go),
        "inheritable": Holder(lambda: (opened("inheritable.txt"),), lambda fd: None, go),
        "range": Holder(lambda: (opened("closed_by_range.txt"),), close_quietly, go),
        "pipe": Holder(lambda: os.pipe(), lambda r, w: (close_quietly(r), os.close(w)), go),
        "forked": Holder(lambda: (opened("inherited.txt"),), os.close, go),
        "own": Holder(lambda: (opened("own.txt"),), os.close, go),  # named by nobody else
    }
    for holder in holders.values():
        holder.start()
        holder.made.wait()
    (fd,) = holders["duped"].fds
    kept.append(os.dup(fd))  # (first: a number freed below would be the dup's)
    (fd,) = holders["closed"].fds
    os.close(fd)
    (fd,) = holders["dup2"].fds
    os.dup2(null, fd)
    (fd,) = holders["socket"].fds
    connected = socket.socket(fileno=fd)
    connected.connect(listener.getsockname())
    kept.append(connected)
    (fd,) = holders["inheritable"].fds
    os.set_inheritable(fd, True)
    read_end, _ = holders["pipe"].fds
    os.close(read_end)
    reused(null, go)
    # (close_range and fork print every thread's held create: after the wait, too late for
    # the calls above)
    move_the_window_on(null)
    (fd,) = holders["range"].fds
    os.closerange(fd, fd + 1)  # close_range(fd, fd)
    child = os.fork()
    if child == 0:
        wait_for_the_end()
    move_the_window_on(null)
    go.set()
    for holder in holders.values():
        holder.join()
    os.close(null)
    return child


def reused(null: int, go: threading.Event) -> None:
    """A holder's fd closed by the main thread, its number made again by a second holder;
    then the first makes another fd call, which must leave the second's create findable
    when the main thread closes it too."""
    step = threading.Event()
    first = Holder(lambda: (opened("first_holder.txt"),), lambda fd: os.close(os.dup(null)), step)
    first.start()
    first.made.wait()
    os.close(first.fds[0])
    second = Holder(lambda: (opened("second_holder.txt"),), close_quietly, go)
    second.start()
    second.made.wait()
    step.set()
    first.join()
    os.close(second.fds[0])


def move_the_window_on(fd: int) -> None:
    """For longer than the reader's reorder window, print lines (a dup is never held back)
    that name no number a holder made."""
    for _ in range(15):
        os.close(os.dup2(fd, 1000))
        time.sleep(REORDER_WINDOW / 10)


def wait_for_the_end() -> None:
    """A child's end: it dies with its parent."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    time.sleep(600)
    os._exit(0)


def producers_and_consumers(per_producer: int = 300) -> None:
    handed: queue.Queue[int] = queue.Queue()

    def produce(n: int) -> None:
        for i in range(per_producer):
            handed.put(opened(f"handed_{n}_{i % 7}.txt"))

    def consume() -> None:
        count = 0
        while (fd := handed.get()) >= 0:
            count += 1
            if count % 10 == 0:
                kept.append(fd)
            else:
                os.close(fd)

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(3)]
    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in (*producers, *consumers):
        thread.start()
    for thread in producers:
        thread.join()
    for _ in consumers:
        handed.put(-1)
    for thread in consumers:
        thread.join()


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    # made before: the parent makes no fd after its first part, whose freed numbers stay free
    worked, working = os.pipe()
    print("ready", flush=True)
    sys.stdin.readline()
    keeper = named_by_others(listener)
    worker = os.fork()
    if worker == 0:
        producers_and_consumers()
        os.write(working, b"x")
        wait_for_the_end()
    os.read(worked, 1)
    print("done", os.getpid(), keeper, worker, flush=True)
    sys.stdin.readline()
    for child in (keeper, worker):
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
