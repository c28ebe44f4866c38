"""fd counts over time from a trace: one timeline per process, as the fd-table engine saw it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timeline:
    """How many fds one process held over time (trace modes: analyze, run, trace).

    The count is of the fds fdleak knows: those created inside the window, plus those
    read from /proc when ``trace`` attached. A log cannot show fds opened before it began,
    nor pairs it folded away (an fd opened and closed a few lines apart)."""

    pid: int
    command: str | None
    exited: bool
    peak: int  # the highest count seen, before any thinning
    samples: tuple[tuple[float, int], ...]  # (epoch seconds, open fds), oldest first


__all__ = ["Timeline"]
