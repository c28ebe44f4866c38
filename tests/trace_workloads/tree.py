"""A small process tree for `fdleak trace` tests: threads, an existing child, fds from before.

Prints one JSON line when ready: {"pid", "child", "threads"}. Each line "burst" on stdin
makes the tree do a known amount of fd work and answers "done" with what it did:
  - the parent closes its 20 old files, opens 7 leak_parent_*.txt and keeps them, and its
    thread makes a socketpair it keeps and opens and closes 50 scratch files;
  - the existing child closes its 5 old files and keeps 6 leak_child_*.txt;
  - a new child is forked that keeps 4 leak_new_*.txt and then waits.
All the while a heartbeat thread in the parent and the child rewrite heartbeat_<pid>
(open, write, close) every 20 ms, so a test can see each process still opening files;
"pause" stops them (no fd in flight while a test reads /proc) and "resume" restarts them.
The tree exits when stdin closes; children die with their parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time

DIR = sys.argv[1]
kept: list[object] = []
# held while a heartbeat file is open: a fork then copies no half-written heartbeat
quiet = threading.Lock()


def die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def heartbeat() -> None:
    path = os.path.join(DIR, f"heartbeat_{os.getpid()}")
    beat = 0
    while True:
        beat += 1
        with quiet, open(path + ".tmp", "w") as handle:
            handle.write(str(beat))
        os.replace(path + ".tmp", path)
        time.sleep(0.02)


def keep_files(prefix: str, count: int) -> None:
    for i in range(count):
        kept.append(open(os.path.join(DIR, f"{prefix}_{os.getpid()}_{i}.txt"), "w"))  # noqa: SIM115


def child_main(orders: int, answers: int) -> None:
    die_with_parent()
    old = [open(os.path.join(DIR, f"child_old_{i}.txt"), "w") for i in range(5)]  # noqa: SIM115
    threading.Thread(target=heartbeat, daemon=True).start()
    while order := os.read(orders, 1):
        if order == b"b":
            for handle in old:
                handle.close()
            old.clear()
            keep_files("leak_child", 6)
        elif order == b"p":
            quiet.acquire()
        elif order == b"r":
            quiet.release()
        os.write(answers, b"k")
    os._exit(0)


def new_child(ready: int) -> None:
    die_with_parent()
    keep_files("leak_new", 4)
    os.write(ready, b"k")
    os.close(ready)
    while True:
        time.sleep(1)


def thread_burst(done: threading.Event) -> None:
    kept.extend(socket.socketpair())
    for i in range(50):
        with open(os.path.join(DIR, f"scratch_{i}.txt"), "w") as handle:
            handle.write("x")
    done.set()


def main() -> None:
    old = [open(os.path.join(DIR, f"parent_old_{i}.txt"), "w") for i in range(20)]  # noqa: SIM115
    orders_r, orders_w = os.pipe()
    answers_r, answers_w = os.pipe()
    child = os.fork()
    if child == 0:
        child_main(orders_r, answers_w)
    threading.Thread(target=heartbeat, daemon=True).start()
    time.sleep(0.1)  # the child's heartbeat thread has started: its threads are there to see
    threads = sorted(int(t) for t in os.listdir(f"/proc/{os.getpid()}/task"))
    print(json.dumps({"pid": os.getpid(), "child": child, "threads": threads}), flush=True)
    for line in sys.stdin:
        if line.strip() == "pause":
            quiet.acquire()
            os.write(orders_w, b"p")
            os.read(answers_r, 1)
            print(json.dumps({"paused": True}), flush=True)
            continue
        if line.strip() == "resume":
            quiet.release()
            os.write(orders_w, b"r")
            os.read(answers_r, 1)
            print(json.dumps({"resumed": True}), flush=True)
            continue
        if line.strip() != "burst":
            continue
        for handle in old:
            handle.close()
        old.clear()
        keep_files("leak_parent", 7)
        done = threading.Event()
        threading.Thread(target=thread_burst, args=(done,)).start()
        done.wait()
        os.write(orders_w, b"b")
        os.read(answers_r, 1)
        ready_r, ready_w = os.pipe()
        with quiet:
            newborn = os.fork()
        if newborn == 0:
            os.close(ready_r)
            new_child(ready_w)
        os.close(ready_w)
        # its files are open, and its end of the pipe closed (EOF): the test's ground truth
        # is read next, and must not catch the child between its write and its close
        while os.read(ready_r, 1):
            pass
        os.close(ready_r)
        print(json.dumps({"done": True, "new_child": newborn}), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
