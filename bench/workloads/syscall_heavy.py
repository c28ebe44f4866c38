"""A syscall-heavy workload for bench/overhead.py: fd system calls among many others.

    python syscall_heavy.py VARIANT PAIRS [--wait]

Each step opens and closes a file and makes four other system calls (stat), so PAIRS
steps are PAIRS open/close pairs plus 4 x PAIRS calls that a seccomp-bpf filter lets
through untraced; every 10th step also makes a socketpair and a pipe and closes them.
VARIANT: "plain" (one thread), "threads" (4 threads share the steps) or "fork" (4 child
processes share them). With --wait it reads one line from stdin before starting (so a
tracer can attach first). Prints the seconds the steps took, measured inside.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

WORKERS = 4


def steps(count: int, path: str) -> None:
    for i in range(count):
        os.close(os.open(path, os.O_RDONLY))
        for _ in range(4):
            os.stat(path)
        if i % 10 == 0:
            left, right = socket.socketpair()
            left.close()
            right.close()
            read_end, write_end = os.pipe()
            os.close(read_end)
            os.close(write_end)


def run(variant: str, pairs: int, path: str) -> None:
    if variant == "plain":
        steps(pairs, path)
    elif variant == "threads":
        threads = [threading.Thread(target=steps, args=(pairs // WORKERS, path)) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elif variant == "fork":
        children = []
        for _ in range(WORKERS):
            pid = os.fork()
            if pid == 0:
                steps(pairs // WORKERS, path)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
    else:
        raise SystemExit(f"unknown variant {variant!r}")


def main() -> None:
    variant, pairs = sys.argv[1], int(sys.argv[2])
    if "--wait" in sys.argv:
        print("ready", flush=True)
        sys.stdin.readline()
    started = time.perf_counter()
    run(variant, pairs, sys.executable)
    print(f"{time.perf_counter() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
