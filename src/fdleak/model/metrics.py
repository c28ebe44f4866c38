"""What fdleak exporter publishes on each scrape: one row per process, and its own state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessMetrics:
    """One process (pid + start time) as read from /proc at a scrape."""

    pid: int
    start_time: float  # epoch seconds
    role: str  # "celery parent", "celery child", "process", "child"...
    app: str  # the Celery -A/--app value, else the command's name
    fds: int
    # (kind, count) for every kind this process has held since the exporter first saw it,
    # 0 for a kind it no longer holds (a series that drops to 0 is clearer than one that
    # vanishes); () when its fds cannot be listed (another user's process, not root)
    kinds: tuple[tuple[str, int], ...]
    soft_limit: int | None  # RLIMIT_NOFILE; None when unreadable
    hard_limit: int | None
    growth_per_second: float | None  # Theil-Sen slope over the window; None before 2 samples
    leak_suspected: bool  # the trend verdict of fdleak watch, over the window

    @property
    def used(self) -> float | None:
        """Fraction of the soft limit in use."""
        if not self.soft_limit:
            return None
        return self.fds / self.soft_limit


@dataclass(frozen=True, slots=True)
class ExporterMetrics:
    """The exporter's own state at a scrape."""

    version: str
    scrape_seconds: float  # reading /proc for this scrape
    scrapes: int  # since the exporter started, this one included
    processes: int  # watched at this scrape
    window_seconds: float  # the span growth and the leak verdict are judged over
