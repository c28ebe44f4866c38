"""Threads: the fds belong to the process. Threads that open and keep fds (some
exit, some stay alive), threads that open and close, a thread that closes an fd
the main thread opened, and a thread that unshares its fd table (CLONE_FILES) and
then closes and opens in its own copy before it exits.

argv: DIR THREADS
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
import threading

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory, count = sys.argv[1], int(sys.argv[2])
kept: list[object] = []
lock = threading.Lock()
stop = threading.Event()
# the fd work of all worker threads starts at once, so that their calls overlap in
# the log ("<unfinished ...>" / "<... resumed>")
start = threading.Barrier(count)


def keeper(i: int, done: threading.Event, stay: bool) -> None:
    start.wait(30)
    handle = open(os.path.join(directory, f"thread_{i}.txt"), "w")  # noqa: SIM115 - kept
    read_end, write_end = os.pipe()
    os.close(write_end)
    with lock:
        kept.extend([handle, read_end])
    done.set()
    if stay:
        stop.wait()


def churner(i: int, done: threading.Event) -> None:
    start.wait(30)
    for j in range(20):
        with open(os.path.join(directory, f"churn_{i}_{j}.txt"), "w"):
            pass
        socket.socket().close()
    done.set()


def closer(fd: int, done: threading.Event) -> None:
    os.close(fd)
    done.set()


CLONE_FILES = 0x400


def private(fd: int, done: threading.Event) -> None:
    """unshare(CLONE_FILES): from here on this thread has its own copy of the table,
    so its close and open touch the process's table no more; it goes when the thread
    exits."""
    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_FILES) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    os.close(fd)
    os.open(os.path.join(directory, "private.txt"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
    done.set()


main_opened = os.open(os.path.join(directory, "main.txt"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
main_kept = os.open(os.path.join(directory, "main_kept.txt"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
unshared = os.open(os.path.join(directory, "unshared.txt"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC)
staying = []  # alive at the end, blocked on ``stop``
leaving = []  # gone before the ready line
events = []
for i in range(count):
    done = threading.Event()
    if i % 3 == 1:
        thread = threading.Thread(target=churner, args=(i, done))
    else:
        stay = i % 3 == 0
        thread = threading.Thread(target=keeper, args=(i, done, stay))
    (staying if i % 3 == 0 else leaving).append(thread)
    thread.start()
    events.append(done)
for target, fd in ((closer, main_opened), (private, unshared)):
    done = threading.Event()
    leaving.append(threading.Thread(target=target, args=(fd, done)))
    leaving[-1].start()
    events.append(done)
for done in events:
    assert done.wait(30)
for thread in leaving:
    thread.join(30)
    assert not thread.is_alive()

ready(os.getpid())
block()
stop.set()
for thread in staying:
    thread.join(30)
