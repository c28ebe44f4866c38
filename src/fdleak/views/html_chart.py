"""The HTML report's chart: fd count over time, one line per process, as inline SVG."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from fdleak.views.html_page import esc, num, table

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 34
COLOURS = (
    "#1f6fd1",
    "#d1421f",
    "#2a9d46",
    "#8e44ad",
    "#d18b1f",
    "#16a2a8",
    "#c2185b",
    "#5d6b1f",
    "#6d4c41",
    "#455a64",
)


@dataclass(frozen=True, slots=True)
class Line:
    """One process on the chart: what the legend says of it and its (time, count) samples."""

    pid: int
    label: str  # command or role (plain text: escaped here)
    samples: Sequence[tuple[float, int]]
    note: str = ""  # an extra legend column (HTML, escaped by the caller)


def chart(lines: Sequence[Line], note_header: str = "") -> str:
    """An SVG line chart and its legend table; a short sentence when there is nothing to draw."""
    drawn = [line for line in lines if line.samples]
    if not drawn:
        return '<p class="muted">No fd counts over time in this report.</p>'
    times = [t for line in drawn for t, _ in line.samples]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0
    top = _nice(max(max(n for _, n in line.samples) for line in drawn))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * inner_w

    def y(n: float) -> float:
        return TOP + inner_h - n / top * inner_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="open fds over time">'
    ]
    for i in range(6):  # horizontal grid and the count axis: fifths of 1, 2 or 5 x 10^k
        value = top * i / 5
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#e6e9ef"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{value:,.0f}</text>"
        )
    for i in range(6):  # the time axis: seconds after the first sample
        at = t0 + span * i / 5
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        parts.append(
            f'<text x="{x(at):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">'
            f"+{_seconds(at - t0)}</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + inner_h}" stroke="#9aa3b2"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + inner_h}" y2="{TOP + inner_h}" stroke="#9aa3b2"/>'
    )
    for index, line in enumerate(drawn):
        colour = COLOURS[index % len(COLOURS)]
        title = f"<title>pid {esc(line.pid)}: {esc(line.label)}</title>"
        if len(line.samples) == 1:
            (t, n) = line.samples[0]
            parts.append(
                f'<circle class="series" data-pid="{esc(line.pid)}" data-samples="1" cx="{x(t):.1f}" '
                f'cy="{y(n):.1f}" r="3" fill="{colour}">{title}</circle>'
            )
            continue
        # steps, not slopes: a count holds until the next sample says otherwise
        (t, n), rest = line.samples[0], line.samples[1:]
        path = f"M{x(t):.1f},{y(n):.1f}" + "".join(f"H{x(t):.1f}V{y(n):.1f}" for t, n in rest)
        parts.append(
            f'<path class="series" data-pid="{esc(line.pid)}" data-samples="{len(line.samples)}" '
            f'd="{path}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round">'
            f"{title}</path>"
        )
    parts.append("</svg>")
    start = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t0))
    caption = f'<p class="muted">Open fds per process; time in seconds after {start}.</p>'
    return "".join(parts) + caption + _legend(drawn, note_header)


def _legend(lines: Sequence[Line], note_header: str) -> str:
    headers = ["", "pid", "process", "samples", "highest", "last"] + ([note_header] if note_header else [])
    rows = []
    for index, line in enumerate(lines):
        swatch = f'<span class="swatch" style="background:{COLOURS[index % len(COLOURS)]}"></span>'
        counts = [n for _, n in line.samples]
        row = [swatch, esc(line.pid), esc(line.label), num(len(counts)), num(max(counts)), num(counts[-1])]
        rows.append(row + ([line.note] if note_header else []))
    return table(headers, rows, "legend")


def _nice(value: int) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 4)."""
    value = max(value, 4)
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def _seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    if seconds < 1:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


__all__ = ["Line", "chart"]
