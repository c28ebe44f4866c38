"""The watch view: one row per process with its fd count, a sparkline, the trend and time left."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from typing import TextIO

from rich.table import Table

from fdleak.model.durations import human
from fdleak.model.series import RoleTrend, Series
from fdleak.model.snapshot import SnapshotDiff
from fdleak.views.escape import plain
from fdleak.views.text import safe

_BARS = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 24


def watch_table(
    series: Sequence[Series],
    growth: Mapping[int, SnapshotDiff],
    title: str = "",
    roles: Sequence[RoleTrend] = (),
) -> Table:
    table = Table(title=title or None, box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("PID", justify="right", no_wrap=True)
    table.add_column("ROLE", no_wrap=True)
    table.add_column("FDS", justify="right")
    table.add_column("HISTORY", no_wrap=True)
    table.add_column("FDS/HOUR (95%)", justify="right", no_wrap=True)
    table.add_column("LIMIT IN", justify="right", no_wrap=True)
    table.add_column("STATUS", overflow="fold")
    for item in series:
        count = item.samples[-1][1] if item.samples else 0
        trend = item.trend
        if item.exited:
            status, style = "exited", "dim"
        elif trend is None:
            status, style = "sampling…", "dim"
        elif trend.growing:
            status, style = f"GROWING: {trend.reason}", "bold red"
        else:
            status, style = trend.reason, ""
        diff = growth.get(item.pid)
        if diff is not None and trend is not None and trend.growing:
            grown = [c for c in diff.changes if c.growth > 0][:2]
            status += "".join(f"; +{c.growth} {c.signature}" for c in grown)
        rate = "" if trend is None else f"{trend.rate_per_hour:+,.0f} (≥{trend.low_per_hour:,.0f})"
        table.add_row(
            str(item.pid),
            safe(item.role),
            f"{count:,}",
            sparkline([n for _, n in item.samples]),
            rate,
            human(trend.seconds_left) if trend and trend.seconds_left is not None else "",
            f"[{style}]{safe(status)}[/]" if style else safe(status),
        )
    pooled = [r for r in roles if r.trend is not None and r.processes > 1]
    if pooled:
        table.add_section()
    for role in pooled:
        assert role.trend is not None
        trend = role.trend
        status = f"pooled: {'GROWING: ' if trend.growing else ''}{trend.reason}"
        table.add_row(
            "all",
            safe(role.role),
            f"{role.alive}/{role.processes}",
            "",
            f"{trend.rate_per_hour:+,.0f} (≥{trend.low_per_hour:,.0f})",
            "",
            f"[bold red]{safe(status)}[/]" if trend.growing else safe(status),
        )
    return table


def sparkline(values: Sequence[int], width: int = _SPARK_WIDTH) -> str:
    """The newest ``width`` values as block characters, scaled to their own range."""
    shown = list(values[-width:])
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high == low:
        return _BARS[0] * len(shown)
    scale = (len(_BARS) - 1) / (high - low)
    return "".join(_BARS[round((v - low) * scale)] for v in shown)


def write_csv(series: Sequence[Series], out: TextIO) -> None:
    """One row per sample: time, pid, role, fd count (long format, for spreadsheets and pandas)."""
    writer = csv.writer(out)
    writer.writerow(["time", "pid", "start_time", "role", "fds", "soft_limit", "command"])
    for item in series:
        for when, count in item.samples:
            writer.writerow(
                [
                    f"{when:.3f}",
                    item.pid,
                    f"{item.start_time:.2f}",
                    item.role,
                    count,
                    item.soft_limit or "",
                    plain(item.command),
                ]
            )
