"""Keep a set of process trees current between samples: new pool children join, exited ones leave.

A full process-table scan with command lines costs far more than a sample, so after the
first ``find`` each pid is examined once, when first seen: its parent decides whether it
joins. Tracked pids are re-read each time so a recycled pid is never taken for its
predecessor.
"""

from __future__ import annotations

import os

from fdleak.discovery.select import Candidate, app_of, compile_pattern, find, framework_of, matches
from fdleak.errors import AccessDenied, FdleakError, ProcessGone
from fdleak.procfs.process import PROC, read_process, read_state


class Follower:
    """The processes selected by pids, --celery or a pattern, kept current by ``refresh``."""

    def __init__(self, pids: tuple[int, ...] = (), celery: bool = False, pattern: str | None = None) -> None:
        self._pattern_mode = celery or pattern is not None or not pids
        self._celery = celery
        self._regex = compile_pattern(pattern)
        self.tracked: dict[int, Candidate] = {c.pid: c for c in find(pids, celery, pattern)}
        self._seen = set(int(name) for name in os.listdir(PROC) if name.isdigit())

    def refresh(self) -> tuple[list[Candidate], list[Candidate]]:
        """(processes now tracked, processes that ended since the last call)."""
        ended = []
        for pid, candidate in list(self.tracked.items()):
            try:
                state, _, start_time = read_state(pid)
            except FdleakError:
                ended.append(self.tracked.pop(pid))
                continue
            # a zombie has closed every fd: it has exited, its parent just has not reaped it
            if state in ("Z", "X") or abs(start_time - candidate.start_time) > 1.0:
                ended.append(self.tracked.pop(pid))
        current = set(int(name) for name in os.listdir(PROC) if name.isdigit())
        undecided = {pid for pid in sorted(current - self._seen) if not self._consider(pid)}
        self._seen = current - undecided
        return list(self.tracked.values()), ended

    def _consider(self, pid: int) -> bool:
        """Track ``pid`` if it belongs; False when that cannot be told yet (look again next time)."""
        try:
            info = read_process(pid)
        except (ProcessGone, AccessDenied):
            return True
        parent = self.tracked.get(info.parent)
        if parent is not None and info.nameless:
            # no command line any more (exiting, past exit_mm) or never: its role cannot be told,
            # and taking it as a plain "child" would give a pool child a wrong series
            return False
        if parent is not None:
            role = _child_role(parent, info.command)
            self.tracked[pid] = Candidate(
                pid, info.start_time, info.parent, role, parent.app, info.command, parent.depth + 1
            )
        elif self._pattern_mode and pid != os.getpid() and matches(info.command, self._celery, self._regex):
            # a worker started after the watch began: a new root
            framework = framework_of(info.command)
            role = f"{framework} parent" if framework else "process"
            app = app_of(info.command)
            self.tracked[pid] = Candidate(pid, info.start_time, info.parent, role, app, info.command, 0)
        return True


def _child_role(parent: Candidate, command: str) -> str:
    framework = framework_of(command)
    if framework is not None and parent.role.startswith(framework):
        return f"{framework} child"
    return "child"
