"""Where each fd a Python process still holds was opened: the tracker's side of ``fdleak run``.

``fdleak run -- python ...`` starts the tracker in the command (and every Python it
starts) with this module as its init hook. Each process writes, every few seconds and at
exit, the origins of the fds it opened and still holds into $FDLEAK_REPORT_DIR; fdleak
then joins them to the leaks strace found, by pid, fd and time. Written periodically, not
only at exit: a command ended by SIGKILL with its tracer runs no exit handler.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from fdleak.model.report import FdEntry, Leak, Report
from fdleak.python.celery import REPORT_DIR_VARIABLE
from fdleak.python.reporting import by_origin, leak_of, process_report
from fdleak.python.tracker import Tracker
from fdleak.views import json_view

LOG = logging.getLogger("fdleak")
INTERVAL = 1.0  # seconds between reports
PREFIX = "fdleak-process-"


class ProcessTracking:
    """The fds this process opened since the tracker started, by origin."""

    def __init__(self, tracker: Tracker, report_dir: str) -> None:
        self.tracker = tracker
        self.report_dir = report_dir
        self.pid = os.getpid()
        self.started = time.time()
        self.baseline = tracker.baseline()

    def report(self) -> Report:
        items = self.tracker.opened_since(self.baseline)
        leaks: list[Leak] = []
        open_fds: list[FdEntry] = []
        for group in by_origin(items).values():
            leak, still = leak_of(
                group, pid=self.pid, task=None, confidence="low", reason="opened and still open"
            )
            leaks.append(leak)
            open_fds += still
        return process_report(self.pid, self.started, len(items), leaks, open_fds)

    def write(self) -> None:
        if os.getpid() != self.pid:
            return  # a forked child: its own tracking writes its own report
        path = os.path.join(self.report_dir, f"{PREFIX}{self.pid}.json")
        try:
            json_view.write(self.report(), path)  # via a temporary file: never half a report
        except OSError as error:
            LOG.debug("fdleak: cannot write %s: %s", path, error)

    def every(self, seconds: float) -> None:
        while True:
            time.sleep(seconds)
            self.write()


def install(tracker: Tracker) -> None:
    """The FDLEAK_PYTHON_INIT hook: report this process, and each child it forks."""
    report_dir = os.environ.get(REPORT_DIR_VARIABLE)
    if not report_dir:
        return

    def start() -> None:
        tracking = ProcessTracking(tracker, report_dir)
        atexit.register(tracking.write)
        threading.Thread(target=tracking.every, args=(INTERVAL,), name="fdleak-report", daemon=True).start()

    start()
    os.register_at_fork(after_in_child=start)
