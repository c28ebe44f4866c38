"""Leak or not: does a signature group keep accumulating as its process works?

The evidence is the fds of the group still open at the end (or at their process's
exit), per process:
- spread: where each was created within the group's active span in its process
  (from the group's first creation there to the process's end), in quarters. A pool
  or cache fills in a burst; a leak keeps adding as work goes on.
- rise: how much the group's open count climbed between the first and the last of
  them (the level stamped on each fd at creation). A pool that replaces its members
  stays level; a Celery parent's pipes rise and fall with its children.
Positions are input lines, not seconds: an idle worker writes no lines, so idling
after a burst of leaky tasks does not hide it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fdleak.model.records import OpenFd

STD_STREAMS = frozenset({0, 1, 2})


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str  # leak | pool | one-off | steady
    confidence: str | None  # high | medium | low for leaks, None otherwise
    accumulated: int  # fds that piled up with work, over all processes
    growing: bool  # still being added in the last quarter of the span
    reason: str


def judge(
    survivors: list[OpenFd],
    first_seq_by_pid: dict[int, int],
    end_seq_by_pid: dict[int, int],
    opened: int,
    closed: int,
    min_count: int,
) -> Verdict:
    own = [s for s in survivors if not s.record.copied and s.record.fd not in STD_STREAMS]
    by_pid: dict[int, list[OpenFd]] = {}
    for item in own:
        by_pid.setdefault(item.record.pid, []).append(item)
    accumulated = 0  # piled up over three quarters or more of the span: a leak
    young = 0  # piled up over two: a burst of new connections looks the same, too young to judge
    growing = False
    widest = 0
    for pid, items in by_pid.items():
        items.sort(key=lambda s: s.record.line or 0)
        start = first_seq_by_pid.get(pid, items[0].record.line or 0)
        end = max(end_seq_by_pid.get(pid, 0), items[-1].record.line or 0)
        span = max(1, end - start)
        quarter_of = {id(s): min(3, max(0, ((s.record.line or start) - start) * 4 // span)) for s in items}
        quarters = set(quarter_of.values())
        widest = max(widest, len(quarters))
        # only the unbroken run of quarters that ends with the newest fds: a leak keeps
        # adding up to there; a set-up burst followed by recent replacements leaves a gap
        newest = max(quarters)
        run_start = newest
        while run_start - 1 in quarters:
            run_start -= 1
        if newest - run_start < 1:
            continue
        run = [s for s in items if quarter_of[id(s)] >= run_start]
        rise = _record_highs(run)
        # nearly every fd of a leak is a new high; replaced members (a recycled child's
        # pipes, a pool's fresh connection) mostly return to a level seen before
        if rise >= 2 and rise * 4 >= len(run) * 3:
            if newest - run_start >= 2:
                accumulated += rise
            else:
                young += rise
            growing = growing or newest == 3
    n = len(own)
    never = f"{n} of {opened} opened never closed" if opened else f"{n} open"
    if accumulated >= min_count:
        confidence = "high" if accumulated >= 10 and growing and widest >= 3 else "medium"
        tail = "; still growing at the end" if growing else "; no longer growing at the end"
        return Verdict("leak", confidence, accumulated, growing, never + tail)
    if accumulated + young >= 2 and growing:
        reason = never + "; growing, but too few or too young to judge"
        return Verdict("leak", "low", accumulated + young, growing, reason)
    if n == 0:
        return Verdict("inherited", None, 0, False, "copies of a parent's fds, made at fork")
    if n <= len(by_pid):
        return Verdict("one-off", None, accumulated, growing, f"{n} open, one per process (opened once)")
    if closed and widest <= 2:
        return Verdict(
            "pool",
            None,
            accumulated,
            growing,
            f"{n} open at a steady level while {closed} were closed: a pool or cache",
        )
    if widest <= 1:
        return Verdict(
            "pool", None, accumulated, growing, f"{n} opened together and kept: a pool, cache or set-up"
        )
    return Verdict("steady", None, accumulated, growing, f"{n} open; the count does not climb with work")


def _record_highs(items: list[OpenFd]) -> int:
    """How many of ``items`` (oldest first) raised their group's open count to a new
    high: every fd of a leak does; a replaced pool member only returns to the old level."""
    highest = -1
    count = 0
    for item in items:
        if item.record.level > highest:
            highest = item.record.level
            count += 1
    return count
