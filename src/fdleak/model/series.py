"""fd counts over time (procfs mode): one series per process, with the trend fitted to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trend:
    """A robust fit of fd count against time. Rates are fds per hour."""

    rate_per_hour: float  # Theil-Sen slope
    low_per_hour: float  # lower bound of its 95% confidence interval
    high_per_hour: float
    samples: int
    span: float  # seconds covered
    growing: bool  # the count grows with confidence and was still growing at the end
    confidence: str  # "high" | "medium" | "low"
    reason: str
    seconds_left: float | None = None  # before the soft limit at this rate; None when not growing


@dataclass(frozen=True, slots=True)
class Series:
    pid: int
    start_time: float
    role: str
    command: str
    soft_limit: int | None
    samples: tuple[tuple[float, int], ...]  # (epoch seconds, fd count)
    trend: Trend | None = None
    exited: bool = False


@dataclass(frozen=True, slots=True)
class RoleTrend:
    """How the processes of one role grow during their lives, pooled (recycled children)."""

    role: str
    processes: int  # seen during the watch
    alive: int
    trend: Trend | None
