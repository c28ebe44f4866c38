"""Per-task fd accounting in Celery workers: which task leaked which fd, from which line.

Every pool process (prefork children, the solo pool, each thread of a thread pool) takes
a baseline of its fds when a task starts and diffs at its end (celery_entry says how
Celery tells it): fds the task opened and still holds are that task's. Each leak is
logged as a warning at once; per task name and opening line the runs that kept fds are
counted, so confidence rises as the same task leaks again from the same line (one run
that keeps an fd is what a cache or a pool looks like). Each process writes its own
fdleak JSON report into the report directory (after each leaking task, and at exit);
``fdleak merge DIR`` joins them.

Two ways in: ``fdleak celery -- celery -A proj worker ...`` (nothing to change in the
app), or ``fdleak.celery.install(app)`` in the app's module.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from fdleak.model.report import FdEntry, Leak, Report
from fdleak.python.checkpoint import Baseline, OpenedFd
from fdleak.python.describe import leak_message
from fdleak.python.pids import getpid
from fdleak.python.reporting import by_origin, leak_of, process_report
from fdleak.python.tracker import Tracker
from fdleak.python.tracker import install as install_tracker
from fdleak.views import json_view

LOG = logging.getLogger("fdleak")
REPORT_DIR_VARIABLE = "FDLEAK_REPORT_DIR"
MAX_KEPT = 1_000  # leaked fds remembered per task name (the count goes on)


@dataclass(eq=False, slots=True)  # compared and hashed by identity: kept in a set
class _Run:
    """One task running in this process: its baseline, and whether another ran beside it."""

    baseline: Baseline
    overlapped: bool = False


@dataclass
class _TaskRecord:
    """One task name's runs in this process and the fds its runs kept."""

    name: str
    runs: int = 0
    leaked: int = 0
    kept: list[tuple[str, OpenedFd]] = field(default_factory=list)  # (task id, fd)


class CeleryTracking:
    """The per-task accounting of one worker process."""

    def __init__(self, tracker: Tracker, report_dir: str | None, root: str | None = None) -> None:
        self.tracker = tracker
        self.report_dir = report_dir
        self.root = root
        self.tasks: dict[str, _TaskRecord] = {}
        self._running: set[_Run] = set()  # the tasks running now (more than one: threads)
        self._by_id: dict[str, _Run] = {}  # the same, by task id (the signals' way in)
        self._starts = 0  # tasks started in this process so far
        self._lock = threading.Lock()  # the task records, and _by_id
        # held while a task is baselined or diffed (with _running), and while fdleak
        # writes its report; taken before _lock where both are
        self._own_io = threading.Lock()
        self._pid = os.getpid()
        self._started = time.time()
        self.way_in = ""  # how Celery reaches start() and finish(): "tracer" or "signals"

    # -- a task's start and end (celery_entry calls these) ---------------------------

    def start(self) -> _Run:
        """A task starts in this thread: its baseline."""
        if getpid() != self._pid:
            self._forked_check()
        # under the lock a task's end holds for its diff: neither sees the other's passing
        # fds (the listings' own, the probe of the lowest free number) as opened or as held
        with self._own_io:
            run = _Run(self.tracker.quick_baseline())
            self._starts += 1
            running = self._running
            running.add(run)
            if len(running) > 1:  # tasks run side by side (a thread pool)
                for other in tuple(running):  # tuple(): a task's end leaves without the lock
                    other.overlapped = True
        return run

    def finish(self, run: _Run, name: str, task_id: str | None) -> None:
        """The task of ``run`` (``name``, ``task_id``) ended in this thread: its diff."""
        # the task's code is done: a task starting from now on does not run beside it.
        # Both steps are atomic in Python: no lock is needed to leave the set
        starts = self._starts
        self._running.discard(run)
        with self._own_io:
            # an fd made outside Python's view (no thread known) is this task's only if no
            # other task ran beside it, nor started since its end (before this diff): the
            # listing may catch an fd of that one in the moment before its record exists
            alone = not run.overlapped and self._starts == starts
            opened = self.tracker.opened_since(run.baseline)
            record = self.tasks.get(name) or self._record_of(name)
            record.runs += 1  # ends are one at a time (the lock): no increment is lost
            if not opened:  # most tasks: this path is paid on each of them
                return
        me = threading.get_ident()
        # in a thread pool, an fd another thread made belongs to another task
        kept = [fd for fd in opened if fd.thread == me or (fd.thread is None and alone)]
        if not kept:
            return
        with self._lock:
            record.leaked += len(kept)
            room = MAX_KEPT - len(record.kept)
            record.kept.extend((task_id or "", fd) for fd in kept[: max(0, room)])
        LOG.warning("%s", leak_message(f"task {name}[{task_id}]", kept, self.root))
        self.write()

    def _record_of(self, name: str) -> _TaskRecord:
        with self._lock:  # report() reads the dict: it grows only under the lock
            return self.tasks.setdefault(name, _TaskRecord(name))

    # -- Celery's task_prerun and task_postrun signals, where the tracer cannot be wrapped

    def before(self, task_id: str | None = None, task: Any = None, **_: Any) -> None:
        run = self.start()
        with self._lock:
            self._by_id[task_id or ""] = run

    def after(self, task_id: str | None = None, task: Any = None, **_: Any) -> None:
        with self._lock:
            run = self._by_id.pop(task_id or "", None)
        if run is not None:
            self.finish(run, getattr(task, "name", None) or "unknown task", task_id)

    # -- the report ------------------------------------------------------------------

    def report(self) -> Report:
        """This process's report: one leak per task name, kind, signature and origin line.
        Its confidence rises with the runs that kept fds from that line: a task that
        leaks a file on every run and, on its first, also opens a connection pool (a
        Celery retry does) has a leak and a pool, not two leaks."""
        with self._lock:
            records = [(r, list(r.kept), r.runs) for r in self.tasks.values()]
        leaks: list[Leak] = []
        open_fds: list[FdEntry] = []
        for record, kept, runs in records:
            run_of = {id(item): task_id for task_id, item in kept}
            for items in by_origin((item for _, item in kept), self.root).values():
                leaking = len({run_of[id(item)] for item in items})
                confidence = "high" if leaking >= 3 else "medium" if leaking == 2 else "low"
                leak, still = leak_of(
                    items, pid=self._pid, task=record.name, confidence=confidence, reason="", root=self.root
                )
                if not still:
                    continue  # all closed since (later by the task's code, or by the collector)
                open_fds += still
                reason = (
                    f"{record.name} kept fds from this line in {leaking} of {runs} runs; "
                    f"{leak.count} of {leak.opened} still open"
                )
                leaks.append(replace(leak, reason=reason))
        return process_report(self._pid, self._started, sum(runs for _, _, runs in records), leaks, open_fds)

    def write(self) -> None:
        """This process's report, replaced whole (a reader never sees half of it); none from
        a process that ran no task (the worker's parent, a client that only sends)."""
        if not self.report_dir or not self.tasks:
            return
        try:
            # not while another thread's task is diffed: these fds are fdleak's, not its
            with self._own_io:
                os.makedirs(self.report_dir, exist_ok=True)
                path = os.path.join(self.report_dir, f"fdleak-python-{self._pid}.json")
                json_view.write(self.report(), path)  # via a temporary file: never half a report
        except OSError as error:
            LOG.error("fdleak: cannot write the report into %s: %s", self.report_dir, error)

    def _forked_check(self) -> None:
        """A prefork child inherits its parent's accounting: start its own (and its own
        locks: another thread of the parent may have held them at the fork)."""
        if getpid() != self._pid:
            self._lock, self._own_io = threading.Lock(), threading.Lock()
            self._pid = getpid()
            self._started = time.time()
            self.tasks.clear()
            self._running.clear()
            self._by_id.clear()


_installed: CeleryTracking | None = None


def install(app: Any = None, report_dir: str | None = None) -> CeleryTracking:
    """Track every task of this process, from the app's module: before the worker builds
    its tracers (``app`` is accepted for symmetry: the hooks are Celery's, for every app).
    Reports go to ``report_dir`` or $FDLEAK_REPORT_DIR, if either is set."""
    global _installed
    if _installed is not None:
        return _installed
    from celery import signals  # type: ignore[import-untyped]

    from fdleak.python.celery_entry import hook

    tracking = CeleryTracking(install_tracker(), report_dir or os.environ.get(REPORT_DIR_VARIABLE))
    tracking.way_in = hook(tracking)
    signals.worker_process_shutdown.connect(lambda **_: tracking.write(), weak=False)
    atexit.register(tracking.write)
    _installed = tracking
    return tracking


def bootstrap(tracker: Tracker) -> None:
    """The FDLEAK_PYTHON_INIT hook of ``fdleak celery``, run at every Python's start-up
    under it: hook Celery's signals where Celery is installed, and nothing elsewhere."""
    try:
        import celery  # noqa: F401
    except ImportError:
        return
    install()
