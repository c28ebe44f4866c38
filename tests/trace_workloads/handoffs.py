"""Threads that make fds and hand them to each other at random, for the ebpf backend.

    python handoffs.py DIR SEED

Prints "ready" and waits for a line on stdin. Then eight threads run for a second or so,
each step drawn from a random generator seeded with SEED and the thread's number: make a
file, pipe, socketpair or socket; close one of its fds; dup one or dup2 one onto another
of its own; or hand one to another thread (which owns it from then on). Twice all stop,
most of them holding what they made last, while one forks a child that keeps every fd and
waits. (Not while others run: the kernel copies the table inside the fork at a moment no
probe sees, so a create or close in flight then may or may not be the child's.) Every fd
has one owner at a time, as in a program without races, but which thread runs when is the
scheduler's. Each thread keeps what it owns at the end. Prints "done PID..." (the process, then its children) and waits for a
line on stdin before it exits (the children with it).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import sys
import threading
import time

DIR, SEED = sys.argv[1], int(sys.argv[2])
THREADS, STEPS = 8, 400
FORKS = (STEPS // 3, 2 * STEPS // 3)  # the steps after which a child is forked
mailboxes: list[queue.SimpleQueue[int]] = [queue.SimpleQueue() for _ in range(THREADS)]
children: list[int] = []


def make(rng: random.Random) -> list[int]:
    kind = rng.randrange(4)
    if kind == 0:
        name = os.path.join(DIR, f"handed_{rng.randrange(5)}.txt")
        return [os.open(name, os.O_CREAT | os.O_WRONLY, 0o600)]
    if kind == 1:
        return list(os.pipe())
    if kind == 2:
        return [end.detach() for end in socket.socketpair()]
    return [socket.socket().detach()]


def step(rng: random.Random, number: int, owned: list[int]) -> None:
    while True:  # what others handed over is this thread's now
        try:
            owned.append(mailboxes[number].get_nowait())
        except queue.Empty:
            break
    action = rng.randrange(100)
    if action < 30 or not owned:
        owned.extend(make(rng))
    elif action < 75:
        os.close(owned.pop(rng.randrange(len(owned))))
    elif action < 83:
        owned.append(os.dup(rng.choice(owned)))
    elif action < 90 and len(owned) > 1:
        source, target = rng.sample(owned, 2)
        os.dup2(source, target)
    else:
        mailboxes[rng.randrange(THREADS)].put(owned.pop(rng.randrange(len(owned))))


def fork_a_child() -> None:
    parent = os.getpid()
    child = os.fork()
    if child == 0:  # (no ctypes here: another thread may have held a lock it takes)
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(0)
    children.append(child)


def work(number: int, start: threading.Barrier, pause: threading.Barrier, end: threading.Barrier) -> None:
    rng = random.Random(SEED * 100 + number)
    owned: list[int] = []
    start.wait()
    for at in range(STEPS):
        step(rng, number, owned)
        if rng.randrange(8) == 0:
            time.sleep(0.001)
        if at in FORKS:
            pause.wait()  # its action, fork_a_child, runs in one thread once all have come
    end.wait()  # every thread done: nothing more is handed over
    while True:
        try:
            owned.append(mailboxes[number].get_nowait())
        except queue.Empty:
            break


def main() -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    start, end = threading.Barrier(THREADS), threading.Barrier(THREADS)
    pause = threading.Barrier(THREADS, action=fork_a_child)
    threads = [threading.Thread(target=work, args=(n, start, pause, end)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("done", os.getpid(), *children, flush=True)
    sys.stdin.readline()
    for child in children:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


if __name__ == "__main__":
    main()
