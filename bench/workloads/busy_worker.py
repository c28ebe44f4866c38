"""A busy prefork worker for benchmarks: the fd traffic of a Celery worker, leak included.

The parent forks two children and replaces each after a number of tasks (as
max-tasks-per-child does). Each task opens and reads files, talks to a loopback
server, makes pipes, socketpairs, eventfds and epolls, dups fds, and now and then
runs a subprocess. One task kind leaks a file; the oldest leaked files are closed
after a while so a long run never hits the fd limit. Runs until SIGTERM.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

TASKS_PER_CHILD = 20_000


class Stopped(Exception):
    """SIGTERM: the benchmark has the log it wanted."""


def task(n: int, workdir: Path, peer: tuple[str, int], leaked: list[object]) -> None:
    with open(workdir / f"input_{n % 50}.txt", "w") as handle:
        handle.write("payload\n")
    with open(workdir / f"input_{n % 50}.txt") as handle:
        handle.read()
    with socket.create_connection(peer) as conn:
        conn.sendall(b"x")
    r, w = os.pipe()
    copy = os.dup(r)
    os.dup2(w, 1000)  # above anything the capped leak reaches, below the default limit of 1024
    for fd in (r, w, copy, 1000):
        os.close(fd)
    a, b = socket.socketpair()
    a.close()
    b.close()
    os.close(os.eventfd(0))
    select.epoll().close()
    if n % 25 == 0:
        leaked.append(open(workdir / f"leaky_task_file_{n}.txt", "w"))  # noqa: SIM115 - the leak
        if len(leaked) > 500:
            leaked.pop(0).close()  # type: ignore[attr-defined]
    if n % 2000 == 0:
        subprocess.run(["true"], check=False)


def child(index: int, workdir: Path, peer: tuple[str, int]) -> None:
    leaked: list[object] = []
    for n in range(index * TASKS_PER_CHILD, (index + 1) * TASKS_PER_CHILD):
        task(n, workdir, peer, leaked)
    os._exit(0)


def serve(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.close()


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="fdleak-bench-"))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))  # loopback only
    server.listen(1024)
    peer = server.getsockname()
    server_pid = os.fork()
    if server_pid == 0:
        serve(server)
        os._exit(0)
    children: dict[int, int] = {}
    spawned = 0

    def on_term(signum: int, frame: object) -> None:
        raise Stopped  # os.wait() is retried after a signal unless the handler raises

    signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            while len(children) < 2:
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    server.close()
                    child(spawned, workdir, peer)
                children[pid] = spawned
                spawned += 1
            pid, _ = os.wait()
            children.pop(pid, None)
    except (Stopped, ChildProcessError):
        pass
    for pid in [*children, server_pid]:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    print(f"busy_worker: {spawned} children", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
