"""A small prefork worker with one leaky task, to show fdleak at work.

The parent forks two children, as Celery's prefork pool does, and hands each a share
of the tasks. Most tasks are clean; ``leaky_file_task`` opens a file and never
closes it. When its tasks are done a child exits without cleaning up, the way a
worker recycled by max-tasks-per-child does.

    strace -f -ttt -y -o trace.txt python examples/leaky_worker.py --dir /tmp/demo
    fdleak analyze trace.txt
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

leaked: list[object] = []


def leaky_file_task(workdir: Path, n: int) -> None:
    handle = open(workdir / f"leaky_task_file_{n}.txt", "w")  # noqa: SIM115 - the bug on show
    handle.write("report\n")
    leaked.append(handle)


def clean_file_task(workdir: Path, n: int) -> None:
    with open(workdir / f"clean_task_file_{n}.txt", "w") as handle:
        handle.write("report\n")


def clean_socket_task(peer: tuple[str, int]) -> None:
    with socket.create_connection(peer) as conn:
        conn.sendall(b"ping")


def child(workdir: Path, tasks: range, peer: tuple[str, int]) -> None:
    pool = [socket.create_connection(peer) for _ in range(2)]  # a connection pool: kept, not a leak
    for n in tasks:
        if n % 3 == 0:
            leaky_file_task(workdir, n)
        elif n % 3 == 1:
            clean_file_task(workdir, n)
        else:
            clean_socket_task(peer)
    del pool
    os._exit(0)  # recycled: the kernel closes whatever is still open


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the tasks write their files")
    parser.add_argument("--tasks", type=int, default=60, help="tasks per child")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))  # loopback only
    server.listen(256)
    peer = server.getsockname()
    children = []
    for index in range(2):
        pid = os.fork()
        if pid == 0:
            server.close()
            first = index * args.tasks
            child(args.dir, range(first, first + args.tasks), peer)
        children.append(pid)
    server.settimeout(10)
    alive = set(children)
    while alive:
        try:
            conn, _ = server.accept()
            conn.close()
        except TimeoutError:
            break
        for pid in list(alive):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                alive.discard(pid)
    for pid in alive:
        os.waitpid(pid, 0)
    print(f"worker done: {2 * args.tasks} tasks in 2 children", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
