"""A busy Celery-like prefork worker for benchmarks: real fd traffic and a slow file leak.

The parent runs a loopback "broker" (a TCP server on 127.0.0.1, in a thread), a
timer thread, and a pool of prefork children, each with a result pipe to the
parent. A child is replaced after --max-tasks-per-child tasks, as Celery's
worker_max_tasks_per_child does. Each child has a heartbeat thread and loops over
tasks that open, use and close files, directories, TCP and UDP sockets, pipes,
socketpairs (passing fds over SCM_RIGHTS), eventfds, epolls and memfds; that
dup, dup2, dup3 and close_range fds; and that now and then run a subprocess.
One task kind, the leak, opens <tmpdir>/leaky_task_file_<n>.txt and never closes it.

It stops after --seconds, after about --syscalls fd syscalls, or on SIGTERM or
SIGINT: it stops its children, removes its temp dir and exits 0.

    python busy_worker.py --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import mmap
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
# per pool slot, shared with the children: tasks run, fd syscalls made (both cumulative)
SLOT = struct.Struct("qq")
REPORT_EVERY = 50  # tasks between a child's progress messages on its result pipe
# a deployed app's layout under the temp dir; the leaky files sit at its top
CONFIG = "srv/celery-app/current/config/worker.d"
REPORTS = "srv/celery-app/shared/var/reports/daily"


@dataclass(frozen=True)
class Settings:
    children: int
    max_tasks_per_child: int
    leak_every: int
    leak_cap: int
    subprocess_every: int
    workdir: Path
    broker: tuple[str, int]
    high_fd: int  # dup2 target, above every fd the capped leak can reach


# the leak's shape in real code: a module-level cache nobody empties. Being global,
# it is not collected when the task loop ends, so the files stay open until exit.
LEAKED: deque[IO[str]] = deque()


@dataclass(frozen=True)
class Worker:
    """One child's settings, with the paths its tasks use."""

    settings: Settings

    def path(self, name: str) -> Path:
        return self.settings.workdir / name

    def config(self, n: int) -> Path:
        return self.settings.workdir / CONFIG / f"settings_{n % 20}.ini"


# -- tasks: each returns about how many traced fd syscalls it makes (counted in a log, Python 3.11)


def read_config(w: Worker, n: int) -> int:
    with open(w.config(n)) as handle:
        handle.read()
    if n % 10 == 0:
        os.listdir(w.path(CONFIG))  # openat(O_DIRECTORY) + close
        return 5
    return 3


def write_report(w: Worker, n: int) -> int:
    report = w.path(f"{REPORTS}/report_{n}.csv")
    with open(report, "w") as handle:
        handle.write(f"task,{n}\n" * 20)
    report.unlink()
    return 3


def http_call(w: Worker, n: int) -> int:
    # with a timeout, connect() is non-blocking: EINPROGRESS, as in requests/urllib3
    with socket.create_connection(w.settings.broker, timeout=5) as conn:
        conn.sendall(f"GET /task/{n}\n".encode())
        conn.recv(64)
    if n % 7 == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect(("127.0.0.1", 53))  # a resolver-style UDP socket; nothing is sent
        return 7
    return 4


def pipe_pair(w: Worker, n: int) -> int:
    r, wr = os.pipe()  # pipe2(O_CLOEXEC)
    os.write(wr, b"x")
    os.read(r, 1)
    r2, w2 = os.pipe2(os.O_NONBLOCK)  # inheritable: no O_CLOEXEC
    for fd in (r, wr, r2, w2):
        os.close(fd)
    return 6


def socketpair_fds(w: Worker, n: int) -> int:
    a, b = socket.socketpair()
    with a, b, open(w.config(n)) as handle:
        socket.send_fds(a, [b"fd"], [handle.fileno()])
        _, fds, _, _ = socket.recv_fds(b, 16, 4)  # recvmsg: SCM_RIGHTS makes a new fd
        for fd in fds:
            os.close(fd)
    return 8


def event_loop(w: Worker, n: int) -> int:
    efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    r, wr = os.pipe()
    with select.epoll() as poller:
        poller.register(efd, select.EPOLLIN)
        poller.register(r, select.EPOLLIN)
        os.eventfd_write(efd, 1)
        poller.poll(0)
    for fd in (efd, r, wr):
        os.close(fd)
    return 7


def dup_juggle(w: Worker, n: int) -> int:
    high = w.settings.high_fd
    fd = os.open(w.config(n), os.O_RDONLY | os.O_CLOEXEC)
    other = os.open(w.path(CONFIG), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    copy = os.dup(fd)
    os.dup2(fd, high)  # onto a free fd
    os.dup2(fd, other, inheritable=False)  # dup3 onto an open fd: the kernel closes it first
    cloexec = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 0)
    for each in (fd, other, copy, high, cloexec):
        os.close(each)
    return 11


def close_range(w: Worker, n: int) -> int:
    first = w.settings.high_fd + 1
    fd = os.open(w.config(n), os.O_RDONLY | os.O_CLOEXEC)
    for target in range(first, first + 4):
        os.dup2(fd, target)
    os.close(fd)
    os.closerange(first, first + 4)  # close_range(2) on Linux >= 5.9
    return 7


def memfd_blob(w: Worker, n: int) -> int:
    fd = os.memfd_create(f"blob-{n}", os.MFD_CLOEXEC)
    os.write(fd, b"\0" * 4096)
    os.close(fd)
    return 2


def leaky_task(w: Worker, n: int) -> int:
    handle = open(w.path(f"leaky_task_file_{n}.txt"), "w")  # noqa: SIM115 - the leak under study
    handle.write("partial result\n")
    handle.flush()
    LEAKED.append(handle)
    if len(LEAKED) > w.settings.leak_cap:
        LEAKED.popleft().close()  # a slow leak, never EMFILE
        return 3
    return 2


def run_subprocess(w: Worker, n: int) -> int:
    with subprocess.Popen(["true"], stdout=subprocess.DEVNULL) as proc:
        pidfd = os.pidfd_open(proc.pid)
        select.select([pidfd], [], [], 5)
        os.close(pidfd)
    return 25


Task = Callable[[Worker, int], int]
# the common mix; the leak and the subprocess come every --leak-every / --subprocess-every tasks
SCHEDULE: tuple[Task, ...] = (
    read_config,
    http_call,
    write_report,
    pipe_pair,
    http_call,
    event_loop,
    read_config,
    dup_juggle,
    socketpair_fds,
    memfd_blob,
    http_call,
    close_range,
)


def run_task(w: Worker, n: int) -> int:
    made = SCHEDULE[n % len(SCHEDULE)](w, n)
    if n % w.settings.leak_every == 0:
        made += leaky_task(w, n)
    if n % w.settings.subprocess_every == 0:
        made += run_subprocess(w, n)
    return made


# -- threads


def heartbeat(settings: Settings) -> None:
    """A child's side thread: memory checks and broker heartbeats, like Celery's."""
    beat = 0
    while True:
        with open("/proc/self/statm") as handle:
            handle.read()
        if beat % 5 == 0:
            with socket.create_connection(settings.broker) as conn:
                conn.sendall(b"HEARTBEAT\n")
                conn.recv(64)
        beat += 1
        time.sleep(0.1)


def serve(server: socket.socket, stop: threading.Event) -> None:
    """The loopback broker: answer each connection with one line and close it."""
    server.settimeout(0.2)  # so that the thread notices `stop`
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(256)
                conn.sendall(b"OK\n")
            except OSError:
                pass  # the child was killed mid-request


def timer(stop: threading.Event) -> None:
    """The parent's housekeeping thread: reads its own status, lists its fds."""
    while not stop.wait(0.25):
        with open("/proc/self/status") as handle:
            handle.read()
        os.listdir("/proc/self/fd")


# -- the pool


def die_with_parent(sig: int) -> None:
    # PR_SET_PDEATHSIG: signalled when the parent dies, even by SIGKILL, when nobody cleans up
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def child_main(settings: Settings, counters: mmap.mmap, slot: int, first_task: int, result_w: int) -> None:
    parent = os.getppid()
    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=heartbeat, args=(settings,), daemon=True).start()
    worker = Worker(settings)
    made = 0
    for done, n in enumerate(range(first_task, first_task + settings.max_tasks_per_child), 1):
        made += run_task(worker, n)
        SLOT.pack_into(counters, slot * SLOT.size, done, made)
        if done % REPORT_EVERY == 0:
            os.write(result_w, b"r")


@dataclass
class Pool:
    settings: Settings
    counters: mmap.mmap
    poller: select.epoll
    keep_closed_in_child: tuple[int, ...]
    slots: dict[int, tuple[int, int]]  # pid -> (slot, result pipe read end)
    forked: int = 0
    retired_tasks: int = 0
    retired_syscalls: int = 0

    def fill(self) -> None:
        free = set(range(self.settings.children)) - {slot for slot, _ in self.slots.values()}
        for slot in sorted(free):
            self.fork(slot)

    def fork(self, slot: int) -> None:
        SLOT.pack_into(self.counters, slot * SLOT.size, 0, 0)
        r, w = os.pipe()
        first_task = self.forked * self.settings.max_tasks_per_child
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (r, *self.keep_closed_in_child, *(fd for _, fd in self.slots.values())):
                    os.close(fd)
                child_main(self.settings, self.counters, slot, first_task, w)
            finally:
                os._exit(0)
        os.close(w)
        self.poller.register(r, select.EPOLLIN)
        self.slots[pid] = (slot, r)
        self.forked += 1

    def drain(self, timeout: float) -> None:
        for fd, _ in self.poller.poll(timeout):
            if not os.read(fd, 4096):
                self.poller.unregister(fd)  # the child is gone; reap() closes the pipe

    def reap(self) -> None:
        while self.slots:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            if pid in self.slots:
                self.retire(pid)

    def retire(self, pid: int) -> None:
        slot, r = self.slots.pop(pid)
        tasks, made = SLOT.unpack_from(self.counters, slot * SLOT.size)
        self.retired_tasks += tasks
        self.retired_syscalls += made
        with contextlib.suppress(OSError, ValueError):
            self.poller.unregister(r)  # unless drain() saw the EOF first
        with contextlib.suppress(OSError):
            os.close(r)  # ENOSYS if strace is gone (see shutdown)

    def totals(self) -> tuple[int, int]:
        tasks, made = self.retired_tasks, self.retired_syscalls
        for slot, _ in self.slots.values():
            t, m = SLOT.unpack_from(self.counters, slot * SLOT.size)
            tasks, made = tasks + t, made + m
        return tasks, made

    def stop(self) -> None:
        for pid in self.slots:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while self.slots and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.02)
        for pid in list(self.slots):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.retire(pid)


def prepare_workdir(root: str | None) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="busy_worker-", dir=root))
    (workdir / CONFIG).mkdir(parents=True)
    (workdir / REPORTS).mkdir(parents=True)
    for i in range(20):
        (workdir / CONFIG / f"settings_{i}.ini").write_text(f"[worker]\nconcurrency = 2\nid = {i}\n" * 10)
    return workdir


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def make_settings(args: argparse.Namespace, workdir: Path, broker: tuple[str, int]) -> Settings:
    high_fd = min(raise_fd_limit(), 8192) - 16
    return Settings(
        children=args.children,
        max_tasks_per_child=args.max_tasks_per_child,
        leak_every=args.leak_every,
        leak_cap=max(10, min(2000, high_fd - 200)),
        subprocess_every=args.subprocess_every,
        workdir=workdir,
        broker=broker,
        high_fd=high_fd,
    )


def supervise(pool: Pool, args: argparse.Namespace, stop: threading.Event, started: float) -> str:
    """Keep the pool full until a limit is reached; say which one."""
    while not stop.is_set():
        pool.fill()
        pool.drain(0.2)
        pool.reap()
        if args.seconds and time.monotonic() - started >= args.seconds:
            return "deadline"
        if args.syscalls and pool.totals()[1] >= args.syscalls:
            return "syscalls"
    return "signal"


def shutdown(pool: Pool, server: socket.socket, poller: select.epoll, workdir: Path) -> None:
    # Each step on its own: if strace died, its seccomp filter stays and every traced
    # syscall (close, openat, ...) fails with ENOSYS, yet the children must still go.
    pool.stop()
    for step in (server.close, poller.close, lambda: shutil.rmtree(workdir)):
        with contextlib.suppress(OSError):
            step()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long (0: no limit)")
    parser.add_argument("--syscalls", type=int, default=0, help="stop after about this many fd syscalls")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--max-tasks-per-child", type=int, default=20_000)
    parser.add_argument("--leak-every", type=int, default=25, help="one leaked file per this many tasks")
    parser.add_argument("--subprocess-every", type=int, default=400)
    parser.add_argument("--tmp-root", help="where to make the temp dir (default: the system's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    die_with_parent(signal.SIGTERM)  # under strace, strace is the parent: stop when it dies
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workdir = prepare_workdir(args.tmp_root)
    server = socket.create_server(("127.0.0.1", 0), backlog=256)  # loopback only
    settings = make_settings(args, workdir, server.getsockname())
    for name, target, extra in (("broker", serve, (server,)), ("timer", timer, ())):
        # daemons: a shutdown that cannot close their sockets must not hang on them
        threading.Thread(target=target, args=(*extra, stop), name=name, daemon=True).start()
    poller = select.epoll()
    counters = mmap.mmap(-1, SLOT.size * args.children)  # MAP_SHARED: children write, we read
    pool = Pool(settings, counters, poller, (server.fileno(), poller.fileno()), {})
    print(f"busy_worker: ready pid={os.getpid()} broker={settings.broker} dir={workdir}", file=sys.stderr)
    try:
        reason = supervise(pool, args, stop, started)
    finally:
        stop.set()
        shutdown(pool, server, poller, workdir)
    tasks, made = pool.totals()
    print(
        f"busy_worker: stopped ({received[0] if received else reason}) after "
        f"{time.monotonic() - started:.1f} s: {tasks:,} tasks, {pool.forked} children forked, "
        f"about {made:,} fd syscalls in children, {tasks // args.leak_every:,} files leaked",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
