"""The in-process fd tracker: install the hooks once, then baseline and diff as often as needed.

from fdleak.python import tracker

track = tracker.install()            # idempotent; or at interpreter start (bootstrap)
base = track.baseline()              # e.g. at task start
...
for fd in track.opened_since(base):  # e.g. at task end: fds opened and still open
    print(fd.kind.value, fd.target, fd.origin_frame())
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fdleak.python.checkpoint import (
    Baseline,
    FdCounter,
    OpenedFd,
    opened_since,
    take_baseline,
    take_quick_baseline,
    unchanged,
)
from fdleak.python.pids import getpid
from fdleak.python.registry import Created, Registry

if TYPE_CHECKING:
    from fdleak.python.hooks import _Patch

DEFAULT_DEPTH = 10
DEPTH_VARIABLE = "FDLEAK_PYTHON_DEPTH"


@dataclass(frozen=True, slots=True)
class Config:
    depth: int = DEFAULT_DEPTH  # frames kept per fd (more when none of them is user code)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The configuration a bootstrapped child reads from its environment."""
        env = os.environ if env is None else env
        try:
            depth = int(env.get(DEPTH_VARIABLE, DEFAULT_DEPTH))
        except ValueError:
            depth = DEFAULT_DEPTH
        return cls(depth=max(1, depth))


class Tracker:
    """Records where Python made each fd; ``baseline``/``opened_since`` read /proc/self/fd."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.registry = Registry(config.depth)
        self._patches: list[_Patch] = []
        self._last_quick: tuple[int, Baseline] | None = None  # (pid, the last quick baseline)
        self._counter = FdCounter()

    @property
    def installed(self) -> bool:
        return bool(self._patches)

    def baseline(self) -> Baseline:
        """The fds open now (cost: one listing of /proc/self/fd and a readlink per fd)."""
        return take_baseline(self.registry)

    def quick_baseline(self) -> Baseline:
        """The fd numbers open now, and their count: for a task's start, where the cost
        counts. One fstat() when the count and Python's fds show no change since the last
        one, else one listing (no readlink). Diffed by ``opened_since``, it is blind only to
        C code replacing an fd inside the window: re-made under the same number, or freed
        one and made another while no fd Python made in the window stays open."""
        pid = getpid()
        last = self._last_quick
        # not one a forked child inherited: its table has been its own since the fork
        previous = last[1] if last and last[0] == pid else None
        baseline = take_quick_baseline(self.registry, self._counter, previous)
        self._last_quick = (pid, baseline)
        return baseline

    def opened_since(self, baseline: Baseline) -> tuple[OpenedFd, ...]:
        """The fds open now that were not at ``baseline``, each with the stack that made it
        when Python did; fds made by C code are listed too, with no stack."""
        same = unchanged(self.registry, self._counter, baseline)
        if same is not None:
            # nothing new: and the next quick baseline starts from this one, as of now
            self._last_quick = (getpid(), same)
            return ()
        return opened_since(self.registry, baseline)

    def absorb(self, baseline: Baseline, fds: tuple[OpenedFd, ...]) -> Baseline:
        """``baseline`` extended with ``fds``: opened inside the window but not its to close
        (a wider-scoped fixture, a pool created by the first task)."""
        return baseline.including(fds, self.registry.last)

    def created(self, fd: int) -> Created | None:
        """The last record of ``fd`` made from Python (maybe stale: the fd may be closed)."""
        return self.registry.records.get(fd)


_current: Tracker | None = None


def install(config: Config | None = None) -> Tracker:
    """Install the hooks (once per process) and return the tracker. A second call returns
    the installed tracker unchanged."""
    global _current
    if _current is not None:
        return _current
    from fdleak.python.hooks import install_hooks  # imports socket and select: only when asked

    tracker = Tracker(config or Config.from_env())
    tracker._patches = install_hooks(tracker.registry)
    _current = tracker
    return tracker


def uninstall() -> None:
    """Undo the hooks (each only if nobody replaced it since). Records are dropped."""
    global _current
    if _current is None:
        return
    for patch in reversed(_current._patches):
        patch.undo()
    _current._patches = []
    _current._counter.close()
    _current = None


def current() -> Tracker | None:
    """The installed tracker, or None."""
    return _current


__all__ = ["Baseline", "Config", "Created", "OpenedFd", "Tracker", "current", "install", "uninstall"]
