"""What tracing costs the traced program: fdleak run and fdleak trace -p against plain strace.

In one run, for a syscall-heavy workload (bench/workloads/syscall_heavy.py: one thread,
four threads, four forked children) and for a real Celery worker's task throughput
(2,000 tiny tasks through a real Redis), each of:
  untraced
  plain strace -f -e trace=<fdleak's set> -o FILE            (the seed article's way)
  plain strace -f --seccomp-bpf -e trace=<same> -o FILE, then with -ttt, then with
      fdleak's options (-ttt -y -s 256), to a file and to a FIFO that cat drains
  fdleak run -- CMD, with --no-python, and with --no-python --no-fd-paths (no -y)
  plain strace -f -p PID ... (attached)                       (workload only)
  fdleak trace -p PID (attached)
  fdleak run --backend ebpf -- CMD
  fdleak trace -p PID --backend ebpf (attached)
  bpftrace with the same probes doing nothing (attached; bench/bare_probes.py): the floor
and, apart, how long the ebpf backend takes to start (until attached) and to end; then
two untraced Celery workers raced side by side, one of them traced by the ebpf backend
in each round (and a control round with neither), compared at equal CPU with the
tracer's own CPU charged to the traced worker (--side-by-side N rounds).
Targets (issue 4): fdleak run adds at most 10% to plain strace --seccomp-bpf: the
workload's median time under fdleak run --no-python against strace with the same options
(-y included), and under fdleak run --no-python --no-fd-paths against plain strace;
Celery throughput under fdleak run at least half of untraced. (issue 7): the ebpf attach
slows the workload by at most 1.5x (its start-up apart; medians of the rounds, as for
issue 4) and costs Celery under 5% of its throughput, with strace attach's figures
beside them.

    python3 bench/overhead.py [--pairs 50000] [--tasks 2000] [--rounds 3] [--skip-celery]
                              [--variants plain,threads,fork] [--side-by-side 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from procs import die_with_parent

HERE = Path(__file__).parent
WORKLOAD = HERE / "workloads" / "syscall_heavy.py"
CELERY_APP = HERE / "workloads"
ENV = dict(os.environ, NO_COLOR="1", COLUMNS="120")
SECONDS = re.compile(r"^\d+\.\d+$")
# fdleak run's own strace options, as plain strace to a file: what fdleak adds beyond it is
# reading and parsing the output as it streams
REFERENCE = "strace -f -ttt -y -s 256 --seccomp-bpf"
TIMESTAMPS = "strace -f -ttt --seccomp-bpf"
# fdleak run starts its Python tracker in a Python command (the workload is one): without
# it, what fdleak adds to strace alone
NO_PYTHON = "fdleak run --no-python"
# and without -y, strace's own largest cost after its stops: against plain strace's options
NO_PATHS = "fdleak run --no-python --no-fd-paths"
PLAIN = "strace -f --seccomp-bpf"
THROUGH_FIFO = f"{REFERENCE} -o FIFO, cat reading it"


@dataclass(frozen=True)
class Result:
    label: str
    inside: float  # seconds the workload's own steps took (or tasks/s for Celery)
    wall: float  # the whole command, tracer start-up and report included
    start: float = 0.0  # attached rows: seconds until the tracer was attached
    end: float = 0.0  # attached rows: seconds from the workload's end to the tracer's
    median: float = 0.0  # the median of the rounds' ``inside``


EBPF_RUN = "fdleak run --backend ebpf"
# the ebpf backend's probes testing each call's number and nothing more (bench/bare_probes.py)
FLOOR = "bpftrace, the same probes doing nothing (attached)"
EBPF_TRACE = "fdleak trace -p --backend ebpf (attached)"
STRACE_TRACE = "fdleak trace -p (attached)"


def fdleak() -> list[str]:
    return [sys.executable, "-m", "fdleak"]


def fd_syscalls() -> str:
    from fdleak.sources.strace.decode import FD_SYSCALLS

    return FD_SYSCALLS


def strace_launch(
    output: str, seccomp: bool, fdleaks_options: bool = False, timestamps: bool = False
) -> list[str]:
    """Plain strace; ``fdleaks_options``: with the decoding fdleak asks for (-ttt -y -s 256);
    ``timestamps``: with -ttt alone (what the timestamps cost strace). Both run strace as
    fdleak does, with TZ set (with none, glibc stats /etc/localtime for each time strace
    prints), the command without it, as it was."""
    argv = [shutil.which("strace") or "strace", "-f", "-e", f"trace={fd_syscalls()}", "-o", output]
    if fdleaks_options:
        argv += ["-ttt", "-y", "-s", "256"]
    elif timestamps:
        argv += ["-ttt"]
    if fdleaks_options or timestamps:
        argv = ["env", "TZ=UTC", *argv, "-E", "TZ"]
    return [*argv, "--seccomp-bpf"] if seccomp else argv


# -- the syscall-heavy workload ----------------------------------------------------------


def launched(label: str, prefix: list[str], variant: str, pairs: int) -> Result:
    started = time.perf_counter()
    proc = subprocess.run(
        [*prefix, sys.executable, str(WORKLOAD), variant, str(pairs)],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )
    wall = time.perf_counter() - started
    inside = [float(line) for line in proc.stdout.splitlines() if SECONDS.match(line.strip())]
    if not inside:
        raise SystemExit(f"{label}: no timing in the output\n{proc.stdout}\n{proc.stderr}")
    return Result(label, inside[0], wall)


def through_a_fifo(label: str, scratch: str, variant: str, pairs: int) -> Result:
    """strace with fdleak's options writing to a FIFO that ``cat`` drains to /dev/null: what
    streaming the output costs strace before anyone parses it (fdleak run must use a pipe)."""
    fifo = os.path.join(scratch, "strace.fifo")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    os.mkfifo(fifo)
    reader = subprocess.Popen(
        ["cat", fifo], stdout=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGKILL)
    )
    try:
        return launched(label, strace_launch(fifo, seccomp=True, fdleaks_options=True), variant, pairs)
    finally:
        reader.wait(timeout=60)
        os.unlink(fifo)


def attached(
    label: str, tracer: Callable[[int], list[str]], variant: str, pairs: int, ebpf: bool = False
) -> Result:
    """Start the workload waiting, attach ``tracer(pid)``, then let it run. ``ebpf``: the
    tracer is fdleak's ebpf backend, attached once it says "tracing" (no TracerPid)."""
    work = subprocess.Popen(
        [sys.executable, str(WORKLOAD), variant, str(pairs), "--wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )
    assert work.stdin is not None and work.stdout is not None
    work.stdout.readline()
    started = time.perf_counter()
    trace = subprocess.Popen(
        tracer(work.pid),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if ebpf else subprocess.DEVNULL,
        text=True,
        env=ENV,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )
    if ebpf:
        assert trace.stderr is not None
        line = trace.stderr.readline()
        if not line.startswith("fdleak: tracing"):
            raise SystemExit(f"{label}: {line}{trace.stderr.read()}")
    else:
        wait_traced(work.pid)
    start = time.perf_counter() - started
    work.stdin.write("go\n")
    work.stdin.flush()
    inside = float(work.stdout.readline())
    work.wait()
    ended = time.perf_counter()
    if ebpf:
        assert trace.stderr is not None
        trace.communicate(timeout=600)  # fdleak ends with its last target, like strace
    else:
        trace.wait(timeout=600)  # strace ends with its last tracee
    wall = time.perf_counter() - started
    work.stdin.close()
    work.stdout.close()
    return Result(label, inside, wall, start, time.perf_counter() - ended)


def wait_traced(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        if re.search(r"^TracerPid:\s*[1-9]", status, re.M):
            time.sleep(0.2)  # let the attach finish its announcements
            return
        time.sleep(0.01)
    raise SystemExit(f"nothing attached to {pid} in {timeout} s")


def workload_rows(variant: str, pairs: int, scratch: str, rounds: int) -> list[Result]:
    log = os.path.join(scratch, "strace.out")
    measures: list[Callable[[], Result]] = [
        lambda: launched("untraced", [], variant, pairs),
        lambda: launched("strace -f (seed article)", strace_launch(log, seccomp=False), variant, pairs),
        lambda: launched(PLAIN, strace_launch(log, seccomp=True), variant, pairs),
        lambda: launched(TIMESTAMPS, strace_launch(log, seccomp=True, timestamps=True), variant, pairs),
        lambda: launched(REFERENCE, strace_launch(log, seccomp=True, fdleaks_options=True), variant, pairs),
        lambda: through_a_fifo(THROUGH_FIFO, scratch, variant, pairs),
        lambda: launched("fdleak run", [*fdleak(), "run", "-q", "--"], variant, pairs),
        lambda: launched(NO_PYTHON, [*fdleak(), "run", "-q", "--no-python", "--"], variant, pairs),
        lambda: launched(
            NO_PATHS, [*fdleak(), "run", "-q", "--no-python", "--no-fd-paths", "--"], variant, pairs
        ),
        lambda: attached(
            "strace -f -p (attached)",
            lambda pid: [*strace_launch(log, seccomp=False), "-p", str(pid)],
            variant,
            pairs,
        ),
        lambda: attached(
            STRACE_TRACE,
            lambda pid: [*fdleak(), "trace", "-q", "-p", str(pid), "--duration", "600"],
            variant,
            pairs,
        ),
        lambda: launched(
            EBPF_RUN, [*fdleak(), "run", "-q", "--no-python", "--backend", "ebpf", "--"], variant, pairs
        ),
        lambda: attached(
            EBPF_TRACE,
            lambda pid: [*fdleak(), "trace", "-p", str(pid), "--backend", "ebpf", "--duration", "600"],
            variant,
            pairs,
            ebpf=True,
        ),
        lambda: attached(
            FLOOR,
            lambda pid: [sys.executable, str(HERE / "bare_probes.py"), str(pid)],
            variant,
            pairs,
            ebpf=True,
        ),
    ]
    # round after round of every row, not each row's rounds in a row: a noisy minute on this
    # shared machine then slows one run of every row, and the best of each still compares
    runs = [[measure() for measure in measures] for _ in range(rounds)]
    rows = [
        replace(min(column, key=lambda r: r.inside), median=statistics.median(r.inside for r in column))
        for column in zip(*runs, strict=True)
    ]
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log)
    return rows


def print_workload(variant: str, pairs: int, rows: list[Result]) -> None:
    base = rows[0].inside
    work = f"{pairs:,} open/close pairs + {4 * pairs:,} stat calls"
    print(f"\n## syscall-heavy workload, {variant}: {work} (the best and the median of each row's runs)")
    print("| | workload's own time, best | median | x untraced (best) | whole command |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.label} | {row.inside:.2f} s | {row.median:.2f} s | {row.inside / base:.1f}x | "
            f"{row.wall:.2f} s |"
        )
    by_label = {row.label: row.median for row in rows}
    # medians: with several rounds, one slow or lucky run moves them least on this machine
    for run, reference in ((NO_PYTHON, REFERENCE), (NO_PATHS, PLAIN)):
        added = by_label[run] / by_label[reference] - 1
        verdict = "met" if added <= 0.10 else "MISSED"
        print(f"{run} vs {reference}: {added:+.0%} (medians; target at most +10%: {verdict})")
    print(
        f"  strace's own costs, over {PLAIN}: -ttt {by_label[TIMESTAMPS] / by_label[PLAIN] - 1:+.0%}, "
        f"-ttt -y -s 256 {by_label[REFERENCE] / by_label[PLAIN] - 1:+.0%}; writing to a FIFO "
        f"instead of a file: {by_label[THROUGH_FIFO] / by_label[REFERENCE] - 1:+.0%} (medians)"
    )
    ebpf = next(r for r in rows if r.label == EBPF_TRACE)
    strace = next(r for r in rows if r.label == STRACE_TRACE)
    # medians, as for the strace rows above: a best-of ratio moves with one lucky untraced run
    slower = by_label[EBPF_TRACE] / rows[0].median
    met = "met" if slower <= 1.5 else "MISSED"
    print(
        f"{EBPF_TRACE}: {slower:.2f}x untraced (medians; target at most 1.5x: {met}; best runs "
        f"{ebpf.inside / base:.2f}x); {STRACE_TRACE}: {strace.inside / base:.1f}x"
    )
    print(f"  the floor, {FLOOR}: {by_label[FLOOR] / rows[0].median:.2f}x untraced (medians)")
    print(
        f"ebpf backend start-up (until attached) {ebpf.start:.2f} s, end (after the workload) "
        f"{ebpf.end:.2f} s; strace attach {strace.start:.2f} s, {strace.end:.2f} s"
    )


# -- a real Celery worker ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis(scratch: str) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", scratch],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )
    assert server.stdout is not None
    for line in server.stdout:
        if "Ready to accept connections" in line:
            break
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait()
        server.stdout.close()


class CeleryRun:
    """A worker (prefork, 2 children) started under ``prefix``; sends and counts tasks."""

    def __init__(self, broker: str, scratch: str, prefix: list[str], tag: str) -> None:
        self.log = Path(scratch) / f"worker-{tag}.log"
        # the caller's PYTHONPATH too: fdleak from a source tree, not only an installed one
        path = os.pathsep.join(p for p in (str(CELERY_APP), os.environ.get("PYTHONPATH", "")) if p)
        self.env = dict(ENV, CELERY_BROKER_URL=broker, BENCH_DIR=scratch, PYTHONPATH=path)
        self.name = f"fdleakbench{tag}{os.getpid()}"
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "-P", "prefork",
             "-c", "2", "-n", f"{self.name}@localhost", "--without-heartbeat", "--without-mingle",
             "--without-gossip", "-l", "INFO", "-f", str(self.log)],
            cwd=CELERY_APP, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent(signal.SIGKILL),
        )  # fmt: skip
        self.wait_for(lambda: "ready." in self.text(), 120, "the worker to start")

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def done(self) -> int:
        return self.text().count("] succeeded in ")

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.05)

    def throughput(self, tasks: int) -> tuple[float, int]:
        """Send ``tasks`` tiny tasks; (tasks per second until the last one succeeded, lost)."""
        before = self.done()
        started = time.perf_counter()
        if self.send(tasks).wait() != 0:
            raise SystemExit("sending the tasks failed")
        self.wait_for(lambda: self.done() - before >= tasks, 600, f"{tasks} tasks")
        seconds = time.perf_counter() - started
        return tasks / seconds, tasks - (self.done() - before)

    def send(self, tasks: int) -> subprocess.Popen[bytes]:
        """A producer sending ``tasks`` tiny tasks to this worker's broker, running."""
        return subprocess.Popen(
            [sys.executable, "-c", f"from celery_tasks import send; send({tasks})"],
            cwd=CELERY_APP,
            env=self.env,
        )

    def cpu_seconds(self) -> float:
        """User and system CPU so far of every process in the worker's session (it was
        started in a new one): the worker, its pool and whatever wraps it."""
        import psutil

        total = 0.0
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if os.getsid(proc.pid) == self.proc.pid:
                    times = proc.cpu_times()
                    total += times.user + times.system
        return total

    def children(self) -> list[int]:
        from procs import children_of

        return children_of(self.proc.pid)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)  # fdleak/strace: stop, and the worker
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker's pool, whatever stopped first


def best_rate(worker: CeleryRun, tasks: int, rounds: int) -> tuple[float, int]:
    """The best throughput of ``rounds`` batches (other load only ever slows one down)."""
    runs = [worker.throughput(tasks) for _ in range(rounds)]
    return max(rate for rate, _ in runs), sum(lost for _, lost in runs)


def celery_rows(tasks: int, scratch: str, rounds: int) -> list[tuple[str, float, int]]:
    rows = []
    log = os.path.join(scratch, "celery.strace")
    with redis(scratch) as broker:
        launches = [
            ("untraced", []),
            ("strace -f (seed article)", strace_launch(log, seccomp=False)),
            (PLAIN, strace_launch(log, seccomp=True)),
            (REFERENCE, strace_launch(log, seccomp=True, fdleaks_options=True)),
            ("fdleak run", [*fdleak(), "run", "-q", "--json", os.devnull, "--"]),
            (EBPF_RUN, [*fdleak(), "run", "-q", "--backend", "ebpf", "--json", os.devnull, "--"]),
        ]
        for tag, (label, prefix) in enumerate(launches):
            worker = CeleryRun(broker, scratch, prefix, str(tag))
            try:
                worker.throughput(20)  # warm: both children have run tasks
                rate, lost = best_rate(worker, tasks, rounds)
            finally:
                worker.stop()
            rows.append((label, rate, lost))
        for label, backend in ((STRACE_TRACE, "strace"), (EBPF_TRACE, "ebpf")):
            rows.append((label, *attached_celery(broker, scratch, tasks, rounds, backend)))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(log)
    return rows


def attached_celery(broker: str, scratch: str, tasks: int, rounds: int, backend: str) -> tuple[float, int]:
    """Throughput of a running worker while ``fdleak trace --backend BACKEND`` is attached."""
    worker = CeleryRun(broker, scratch, [], f"attach{backend}")
    trace: subprocess.Popen[str] | None = None
    try:
        worker.throughput(20)
        trace = attach_trace(worker, backend)
        return best_rate(worker, tasks, rounds)
    finally:
        if trace is not None:
            stop_trace(trace)
        worker.stop()


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU so far of ``pid`` and its descendants (a tracer and its bpftrace)."""
    import psutil

    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def ebpf_side_by_side(tasks: int, rounds: int, window: float = 3.0) -> None:
    """Two untracked workers run at once, each on its own Redis database and sent more
    tasks than it can run in ``window`` seconds; in each round one of them (each in
    turn) is traced by ``fdleak trace -p --backend ebpf``, and in a control round
    neither is. The verdict's figure is throughput at equal CPU: the untraced worker's
    CPU a task against the traced one's with the tracer's own CPU (fdleak and bpftrace)
    charged to it. Unlike tasks done in the same seconds, it does not depend on how the
    scheduler shared the two cores between the workers and the tracer."""
    ratios: dict[str, list[float]] = {"traced": [], "control": []}
    with tempfile.TemporaryDirectory(prefix="fdleak-race-") as scratch, redis(scratch) as broker:
        server = broker.rsplit("/", 1)[0]
        for round_ in range(rounds):
            for kind in ("traced", "control"):
                tag = f"{kind}{round_}"
                tracer = (lambda worker: attach_trace(worker, "ebpf")) if kind == "traced" else None
                done, cpu = race(server, scratch, ([], []), tasks, window, tag, round_ % 2, tracer)
                ratios[kind].append(cpu[0] / cpu[1])
                note = " (tracer included)" if kind == "traced" else ""
                print(f"  side by side, round {round_ + 1}, {kind}: {done[0]} and {done[1]} tasks in "
                      f"{window:.0f} s; CPU a task {cpu[0] * 1e6:,.0f} and {cpu[1] * 1e6:,.0f} µs"
                      f"{note}: {ratios[kind][-1]:.1%}")  # fmt: skip
    middle = {kind: statistics.median(values) for kind, values in ratios.items()}
    spread = {kind: f"{min(values):.1%}-{max(values):.1%}" for kind, values in ratios.items()}
    met = "met" if middle["traced"] > 0.95 else "MISSED"
    print(f"{EBPF_TRACE}, side by side at equal CPU (tracer included): {middle['traced']:.1%} of untraced "
          f"({spread['traced']}; target over 95%: {met}); control {middle['control']:.1%} "
          f"({spread['control']})")  # fmt: skip


def race(
    server: str,
    scratch: str,
    prefixes: tuple[list[str], list[str]],
    tasks: int,
    window: float,
    tag: str,
    first: int,
    tracer: Callable[[CeleryRun], subprocess.Popen[str]] | None = None,
) -> tuple[tuple[int, int], tuple[float, float]]:
    """Two workers started under ``prefixes`` (the ``first`` of them started and fed
    first), on Redis databases of their own, both busy throughout the same ``window``
    seconds: (tasks each did, CPU seconds a task each then). ``tracer`` attaches to the
    second worker once warm; its own CPU (and its children's) is charged to that worker."""
    order = [0, 1] if first == 0 else [1, 0]
    workers: dict[int, CeleryRun] = {}
    trace: subprocess.Popen[str] | None = None
    try:
        for db, index in enumerate(order, start=1):
            workers[index] = CeleryRun(f"{server}/{db}", scratch, prefixes[index], f"race{tag}{db}")
            workers[index].throughput(300)  # warm
        if tracer is not None:
            trace = tracer(workers[1])
        before = {index: worker.done() for index, worker in workers.items()}
        senders = [workers[index].send(tasks) for index in order]
        while any(worker.done() - before[index] < 100 for index, worker in workers.items()):
            time.sleep(0.02)  # both busy before the window opens
        opened = {index: worker.done() for index, worker in workers.items()}
        used = {index: worker.cpu_seconds() for index, worker in workers.items()}
        traced = tree_cpu_seconds(trace.pid) if trace is not None else 0.0
        time.sleep(window)
        closed = {index: worker.done() for index, worker in workers.items()}
        cpu = {index: worker.cpu_seconds() - used[index] for index, worker in workers.items()}
        if trace is not None:
            cpu[1] += tree_cpu_seconds(trace.pid) - traced
        if any(closed[index] - before[index] >= tasks for index in workers):
            raise SystemExit("a worker ran out of tasks inside the window: send more (--tasks)")
        for sender in senders:
            sender.wait()
        for index, worker in workers.items():
            worker.wait_for(lambda w=worker, b=before[index]: w.done() - b >= tasks, 600, "every task")
        done = (closed[0] - opened[0], closed[1] - opened[1])
        return done, (cpu[0] / max(done[0], 1), cpu[1] / max(done[1], 1))
    finally:
        if trace is not None:
            stop_trace(trace)
        for worker in workers.values():
            worker.stop()


def attach_trace(worker: CeleryRun, backend: str) -> subprocess.Popen[str]:
    """``fdleak trace -p --backend BACKEND`` on ``worker``'s tree, returned once attached."""
    trace = subprocess.Popen(
        [*fdleak(), "trace", "-p", str(worker.proc.pid), "--backend", backend, "--duration", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )  # fmt: skip
    assert trace.stderr is not None
    line = trace.stderr.readline()  # "fdleak: tracing ...": attached to the tree
    if not line.startswith("fdleak: tracing"):
        raise SystemExit(f"fdleak trace --backend {backend}: {line}{trace.stderr.read()}")
    return trace


def stop_trace(trace: subprocess.Popen[str]) -> None:
    """End an attached ``fdleak trace`` as Ctrl-C would (it detaches and reports), killed
    if it has not ended within a minute."""
    trace.send_signal(signal.SIGINT)
    try:
        trace.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        trace.kill()
        trace.communicate()


def print_celery(tasks: int, rows: list[tuple[str, float, int]]) -> None:
    base = rows[0][1]
    print(
        f"\n## Celery worker (prefork, 2 children, Redis): {tasks:,} tiny tasks (the best batch of each row)"
    )
    print("| | tasks/s | x untraced | tasks lost |")
    print("|---|---:|---:|---:|")
    for label, rate, lost in rows:
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f} | {lost} |")
    run = next(rate for label, rate, _ in rows if label == "fdleak run")
    print(f"fdleak run keeps {run / base:.0%} of untraced throughput (target at least 50%: "
          f"{'met' if run / base >= 0.5 else 'MISSED'})")  # fmt: skip
    ebpf = next(rate for label, rate, _ in rows if label == EBPF_TRACE)
    strace = next(rate for label, rate, _ in rows if label == STRACE_TRACE)
    met = "met" if 1 - ebpf / base < 0.05 else "MISSED"
    print(f"{EBPF_TRACE} loses {1 - ebpf / base:.1%} of untraced throughput (target under 5%: {met}); "
          f"{STRACE_TRACE} loses {1 - strace / base:.1%}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--variants", default="plain,threads,fork", help="workload variants to run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each workload row (best and median)")
    parser.add_argument(
        "--side-by-side", type=int, default=5, metavar="N", help="rounds of the ebpf Celery race (0: skip)"
    )
    args = parser.parse_args(argv)
    strace = subprocess.run(["strace", "-V"], capture_output=True, text=True, check=True).stdout.splitlines()[
        0
    ]
    print(f"# fdleak overhead, {time.strftime('%Y-%m-%d')}: {strace}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="fdleak-overhead-") as scratch:
        for variant in filter(None, args.variants.split(",")):  # --variants "": Celery alone
            print_workload(variant, args.pairs, workload_rows(variant, args.pairs, scratch, args.rounds))
        if not args.skip_celery:
            print_celery(args.tasks, celery_rows(args.tasks, scratch, args.rounds))
            if args.side_by_side:
                ebpf_side_by_side(max(args.tasks, 5_000), args.side_by_side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
