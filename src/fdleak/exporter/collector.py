"""Read the selected process trees from /proc at each scrape, and keep each process's recent history.

The exporter samples only when scraped: Prometheus sets the pace, and an idle exporter
costs nothing. Each process is followed by (pid, start time), so a recycled prefork child
starts a history (and series) of its own, and one that exited leaves the next scrape.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from fdleak import __version__
from fdleak.analysis.trend import judge, theil_sen
from fdleak.discovery.follow import Follower
from fdleak.discovery.select import Candidate
from fdleak.errors import AccessDenied, FdleakError, ProcessGone
from fdleak.model.kinds import kind_of_link
from fdleak.model.metrics import ExporterMetrics, ProcessMetrics
from fdleak.procfs.fds import count_fds, fd_links
from fdleak.procfs.process import fd_limits, read_process

_MAX_SAMPLES = 2_000  # per process: scraped very often over a long window, older samples are thinned


@dataclass
class _History:
    candidate: Candidate
    app: str
    samples: list[tuple[float, int]] = field(default_factory=list)
    kinds_seen: set[str] = field(default_factory=set)


class Collector:
    """``collect()`` once per scrape; safe to call from several server threads."""

    def __init__(self, follower: Follower, window: float) -> None:
        self.follower = follower
        self.window = window
        self.scrapes = 0
        self._histories: dict[tuple[int, float], _History] = {}
        self._lock = threading.Lock()

    def collect(self) -> tuple[list[ProcessMetrics], ExporterMetrics]:
        with self._lock:
            started = time.monotonic()
            current, _ = self.follower.refresh()
            alive = {candidate.key for candidate in current}
            # exited processes (and recycled pids' predecessors) lose their series now
            for key in self._histories.keys() - alive:
                del self._histories[key]
            rows = [row for candidate in current if (row := self._read(candidate)) is not None]
            self.scrapes += 1
            exporter = ExporterMetrics(
                __version__, time.monotonic() - started, self.scrapes, len(rows), self.window
            )
            return rows, exporter

    def _read(self, candidate: Candidate) -> ProcessMetrics | None:
        history = self._histories.get(candidate.key)
        if history is None:
            history = _History(candidate, candidate.app or _command_name(candidate))
        try:
            soft, hard = fd_limits(candidate.pid)
            kinds: Counter[str] | None
            try:
                kinds = Counter(kind_of_link(link).value for _, link in fd_links(candidate.pid))
                count = sum(kinds.values())
            except AccessDenied:
                # another user's process, fdleak not root: the kernel still gives the count
                kinds, count = None, count_fds(candidate.pid)
        except FdleakError:
            return None  # exited between the refresh and this read: gone at the next scrape
        if count == 0 and history.samples:
            return None  # exiting: the kernel closed its table (exit_files) before it became a zombie
        self._histories[candidate.key] = history
        now = time.time()
        samples = history.samples
        samples.append((now, count))
        horizon = now - self.window
        first_kept = next((i for i, (t, _) in enumerate(samples) if t >= horizon), len(samples) - 1)
        del samples[:first_kept]
        if len(samples) > _MAX_SAMPLES:
            del samples[1:-1:2]
        if kinds is not None:
            history.kinds_seen.update(kinds)
            by_kind = tuple((kind, kinds.get(kind, 0)) for kind in sorted(history.kinds_seen))
        else:
            by_kind = ()
        trend = judge(samples, soft)
        if trend is not None:
            growth: float | None = trend.rate_per_hour / 3600
        elif len(samples) >= 2 and samples[-1][0] > samples[0][0]:
            growth = theil_sen([(t, float(c)) for t, c in samples])[0]
        else:
            growth = None
        return ProcessMetrics(
            candidate.pid,
            candidate.start_time,
            candidate.role,
            history.app,
            count,
            by_kind,
            soft,
            hard,
            growth,
            trend is not None and trend.growing,
        )


def _command_name(candidate: Candidate) -> str:
    """The kernel's name for the command (what ps -o comm shows): a script run by its
    shebang is its script's name, a plain interpreter run is the interpreter's."""
    try:
        return read_process(candidate.pid).name
    except (ProcessGone, AccessDenied):
        word = candidate.command.split(" ", 1)[0]
        return word.rsplit("/", 1)[-1]
