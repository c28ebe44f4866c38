"""The demo's steps: start the worker, watch it grow, trace its children, join the Python origins.

Each step tells the user what it does through ``say``; the report it returns is an
ordinary strace report of the traced window, whose leaks carry the origin the Python
tracker saw (the task and the line of tasks.py).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fdleak.analysis.merge import with_origins
from fdleak.demo.worker import CHILDREN, DemoWorker, celery_missing
from fdleak.discovery.follow import Follower
from fdleak.discovery.select import find
from fdleak.errors import AccessDenied, FdleakError, InputError, TraceFailed
from fdleak.model.report import Report
from fdleak.pipeline.reports import merged, report_files
from fdleak.pipeline.trace import TraceStart, trace_processes
from fdleak.pipeline.watch import Watch
from fdleak.procfs.ptrace import CAP_SYS_PTRACE, has_capability, sibling_denial, yama_scope
from fdleak.system import find_strace

LEAKY_TASK = "tasks.leaky_file_task"
WATCH_INTERVAL = 0.1
WATCH_SECONDS = 3.0  # tasks are paced over this long, so that watch sees a trend
TRACE_SECONDS = 2.0  # and here so that the trace's verdict has a span of time to judge
TRACE_TAIL = 0.5  # traced after the last task is done: its last closes are seen
TRACE_CAP = 120.0  # the trace's duration, should the tasks never finish
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoResult:
    report: Report  # the traced window, with origins
    watched: Report  # what watch saw while the first tasks ran
    warning: list[str]  # the tracker's first warning in the worker's log, line by line
    work_dir: Path


def check_broker(url: str | None) -> None:
    """Bad --broker values and unreachable Redis servers fail before anything starts."""
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise InputError(f"unsupported broker {url!r}", "give redis://HOST:PORT/DB, or no --broker")
    try:
        host, port = parts.hostname or "localhost", parts.port or 6379
    except ValueError:  # a port that is no number, or out of range
        raise InputError(f"bad broker address {url!r}", "give redis://HOST:PORT/DB") from None
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as error:
        raise InputError(f"cannot reach the broker at {host}:{port}: {error.strerror or error}") from None


@contextlib.contextmanager
def demo_worker(broker: str | None) -> Iterator[DemoWorker]:
    """A started worker in a new work directory. On the way out the worker is stopped and
    the directory removed, unless the demo failed: then its log is kept for the user."""
    error = celery_missing()
    if error is not None:
        raise error
    find_strace()  # before anything starts: the demo traces with strace
    why = sibling_denial(yama_scope(), has_capability(CAP_SYS_PTRACE))
    if why is not None:
        raise AccessDenied(f"the demo cannot trace its worker: {why}", "run it as root: sudo fdleak demo")
    check_broker(broker)
    work = Path(tempfile.mkdtemp(prefix="fdleak-demo-"))
    worker = DemoWorker(work, broker)
    failed = False
    try:
        worker.start()
        yield worker
    except FdleakError:
        failed = True
        raise
    finally:
        worker.stop()
        if not failed:
            shutil.rmtree(work, ignore_errors=True)


def run_demo(worker: DemoWorker, tasks: int, say: Say) -> DemoResult:
    started = time.monotonic()
    say(f"starting a Celery worker (prefork, {CHILDREN} children) with fdleak's Python tracker ...")
    worker.finish(worker.send(leaky=0, clean=CHILDREN, first=0))  # it answers: it is ready
    tree = find([worker.pid])
    children = [c.pid for c in tree if c.parent == worker.pid]
    say(f"  ready in {time.monotonic() - started:.1f} s: parent {worker.pid}, children {_pids(children)}")

    what = f"{2 * tasks} tasks run, for {WATCH_SECONDS:.0f} s"
    say(f"watch: sampling the fd counts of the worker's processes while {what} ...")
    watched = _watch(worker, tasks)
    for series in watched.series:
        first, last = series.samples[0][1], series.samples[-1][1]
        growing = series.trend is not None and series.trend.growing
        trend = "  growing" if growing else ""
        say(f"  pid {series.pid:<7} {series.role:<14} {first:>3} -> {last:>3} fds{trend}")
    for leak in watched.leaks:
        say(f"  what grew: {leak.signature} (+{leak.count}) in pids {_pids(leak.pids)}")

    say(f"trace: strace on every process of the worker while {2 * tasks} more tasks run ...")
    clients: list[subprocess.Popen[str]] = []

    def send_while_traced(start: TraceStart) -> None:
        # strace is attached: send the tasks, and end the trace a moment after the last
        # one is done (the duration is only a cap)
        say(f"  strace attached to {len(start.attached)} processes")
        client = worker.send(leaky=tasks, clean=tasks, first=tasks, pace=TRACE_SECONDS / tasks)
        clients.append(client)

        def end_when_done() -> None:
            client.wait()
            time.sleep(TRACE_TAIL)
            start.stop()

        threading.Thread(target=end_when_done, daemon=True).start()

    report = trace_processes([worker.pid], duration=TRACE_CAP, on_start=send_while_traced)
    for client in clients:
        if client.poll() is None:
            raise KeyboardInterrupt  # the trace was cut short (Ctrl-C, SIGTERM): so is the demo
        worker.finish(client)
    python = _python_report(worker, expected=2 * tasks)
    if python is not None:
        report = with_origins(report, python)
    warning = worker.first_warning("leaked")
    return DemoResult(report, watched, warning, worker.work_dir)


def _watch(worker: DemoWorker, tasks: int) -> Report:
    watch = Watch(Follower((worker.pid,)))
    watch.step()
    client = worker.send(leaky=tasks, clean=tasks, first=0, pace=WATCH_SECONDS / tasks)
    while client.poll() is None:
        time.sleep(WATCH_INTERVAL)
        watch.step()
    worker.finish(client)
    watch.step()
    watch.finish()
    return watch.report()


def _python_report(worker: DemoWorker, expected: int, timeout: float = 5.0) -> Report | None:
    """The tracker's reports, once they hold every leaky task sent (a process writes its
    report just after the task's result is stored: the client may be a moment ahead)."""
    deadline = time.monotonic() + timeout
    report = None
    while time.monotonic() < deadline:
        with contextlib.suppress(FdleakError):
            if report_files([str(worker.reports)]):
                report = merged([str(worker.reports)])
                if _leaked_by(report, LEAKY_TASK) >= expected:
                    return report
        time.sleep(0.1)
    worker.check_alive()
    if report is None:
        raise TraceFailed("the demo worker's processes wrote no fdleak report", f"see {worker.log_path}")
    return report


def _leaked_by(report: Report, task: str) -> int:
    return sum(leak.count for leak in report.leaks if leak.origin is not None and leak.origin.task == task)


def _pids(pids: Iterable[int]) -> str:
    return ", ".join(str(p) for p in pids)
