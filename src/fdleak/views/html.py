"""The HTML view: a report as one self-contained page (chart, leaks with evidence and origin)."""

from __future__ import annotations

from fdleak.model.report import Report
from fdleak.model.series import Series
from fdleak.views.html_chart import Line, chart
from fdleak.views.html_leaks import Snippets, fd_row, leak_card
from fdleak.views.html_page import clock, esc, facts, num, page, table, write_page

MAX_CHARTED = 20  # processes drawn from a watch's series (a trace's timeline is chosen already)
MAX_ROWS = 2000  # rows of a long table shown; the JSON report has them all
_MODES = {
    "strace-log": "strace log (fdleak analyze)",
    "strace": "live strace (fdleak run / trace)",
    "ebpf": "eBPF",
    "python": "Python tracker",
    "procfs": "/proc samples (fdleak watch)",
}


def render(report: Report, snippets: Snippets | None = None) -> str:
    """The whole page. ``snippets``: source lines around the origin frames, read by the caller."""
    body = [
        "<header><h1>fdleak report</h1>",
        _summary(report),
        "</header>",
        "<h2>Run</h2>",
        _run(report),
        _problems(report),
        "<h2>Open fds over time</h2>",
        _chart(report),
        f"<h2>Leaks ({len(report.leaks)})</h2>",
        "".join(leak_card(leak, snippets or {}) for leak in report.leaks)
        or '<p class="clean">No leak found.</p>',
        _groups(report),
        _open_fds(report),
        _processes(report),
        f"<footer>Made by fdleak {esc(report.tool_version)} from a report in format {esc(report.schema)}. "
        "Times are UTC.</footer>",
    ]
    return page("fdleak report", "\n".join(body))


def write(report: Report, path: str, snippets: Snippets | None = None) -> None:
    write_page(render(report, snippets), path)


def _summary(report: Report) -> str:
    serious = [leak for leak in report.leaks if leak.confidence in ("high", "medium")]
    if not serious:
        return '<p class="summary"><span class="clean">No leak found</span></p>'
    pids = sorted({pid for leak in serious for pid in leak.pids})
    shown = ", ".join(esc(p) for p in pids[:12]) + (f" and {len(pids) - 12} more" if len(pids) > 12 else "")
    word = "leak" if len(serious) == 1 else "leaks"
    return (
        f'<p class="summary"><span class="found">{len(serious)} {word} found</span> '
        f"in pid{'s' if len(pids) != 1 else ''} {shown}</p>"
    )


def _run(report: Report) -> str:
    source, window = report.source, report.window
    command = " ".join(source.command) if source.command is not None else None
    span = (
        f" ({num(round(window.end - window.start, 1))} s)"
        if isinstance(window.start, (int, float)) and isinstance(window.end, (int, float))
        else ""
    )
    pairs = [
        ("source", esc(_MODES.get(source.mode, source.mode))),
        ("command", f"<code>{esc(command)}</code>" if command is not None else "—"),
        ("inputs", "<br>".join(f"<code>{esc(i)}</code>" for i in source.inputs) or "—"),
        ("pids attached", ", ".join(esc(p) for p in source.pids) or "—"),
        ("window", f"{clock(window.start)} to {clock(window.end)}{span}"),
        ("fd events", num(window.events)),
    ]
    if source.mode != "procfs":
        pairs.append(("lines read", f"{num(window.lines)} ({num(window.unparsed_lines)} not understood)"))
    if window.lost_events:
        pairs.append(("events lost", num(window.lost_events)))
    pairs.append(("processes", num(len(report.processes))))
    pairs.append(("fdleak", esc(report.tool_version)))
    return facts(pairs)


def _problems(report: Report) -> str:
    out = []
    if report.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in report.warnings)
        out.append(f'<h2>Warnings</h2><ul class="warnings warn">{items}</ul>')
    if report.fd_errors:
        rows = [
            [
                f"<b>{esc(e.errno)}</b>",
                esc(e.pid),
                esc(e.syscall),
                num(e.count),
                clock(e.first_ts),
                num(e.first_line) if e.first_line is not None else "—",
                "the process ran out of fds" if e.errno == "EMFILE" else "the system ran out of fds",
            ]
            for e in report.fd_errors
        ]
        headers = ["error", "pid", "call", "times", "first at", "first line", "meaning"]
        out.append("<h2>Failed fd calls</h2>" + table(headers, rows))
    return "".join(out)


def _chart(report: Report) -> str:
    if report.timeline:
        lines = [Line(t.pid, t.command or "", t.samples) for t in report.timeline]
        note = ""
        if report.source.mode != "procfs":
            note = (
                '<p class="muted">Counted from the trace: fds opened in the window (and, for trace -p, '
                "those open when fdleak attached); an fd opened and closed a few lines apart is not "
                "drawn.</p>"
            )
        return chart(lines) + note
    series = sorted(report.series, key=lambda s: -max((n for _, n in s.samples), default=0))
    lines = [
        Line(s.pid, f"{s.role}: {s.command}" if s.role else s.command, s.samples, _trend(s)) for s in series
    ]
    hidden = len(lines) - MAX_CHARTED
    more = f'<p class="muted">{hidden} more processes in the JSON report.</p>' if hidden > 0 else ""
    if not lines:
        return (
            '<p class="muted">This report has no fd counts over time (a log without -ttt timestamps, '
            "or a merged report).</p>"
        )
    return chart(lines[:MAX_CHARTED], "growth") + more


def _trend(series: Series) -> str:
    trend = series.trend
    if trend is None:
        return "—"
    flag = '<span class="badge high">growing</span> ' if trend.growing else ""
    return f"{flag}{num(round(trend.rate_per_hour))} fds/h ({esc(trend.confidence)}): {esc(trend.reason)}"


def _groups(report: Report) -> str:
    if not report.groups:
        return ""
    rows = [
        [
            esc(g.verdict),
            esc(g.kind),
            f"<code>{esc(g.signature)}</code>",
            num(g.count),
            num(g.opened),
            num(g.closed),
            ", ".join(esc(p) for p in g.pids[:10]) + (" …" if len(g.pids) > 10 else ""),
            esc(g.reason),
        ]
        for g in report.groups[:MAX_ROWS]
    ]
    headers = ["verdict", "kind", "signature", "open", "opened", "closed", "pids", "why"]
    return (
        f"<h2>Open at the end, by group ({len(report.groups)})</h2>"
        + table(headers, rows)
        + _cut(len(report.groups))
    )


def _open_fds(report: Report) -> str:
    if not report.open_fds:
        return ""
    rows = [[esc(e.kind), *fd_row(e)] for e in report.open_fds[:MAX_ROWS]]
    headers = ["kind", "line", "pid", "fd", "call", "target", "opened at"]
    return (
        f"<h2>Open fds ({len(report.open_fds)})</h2><details><summary>every fd created in the window "
        f"and still open at its end</summary>{table(headers, rows, 'open-fds')}"
        f"{_cut(len(report.open_fds))}</details>"
    )


def _processes(report: Report) -> str:
    if not report.processes:
        return ""
    rows = []
    for p in report.processes[:MAX_ROWS]:
        status = (
            "running"
            if not p.exited
            else f"exited ({esc(p.exit_status)})"
            if p.exit_status is not None
            else "exited"
        )
        rows.append(
            [
                f'<span class="pid">{esc(p.pid)}</span>',
                esc(p.parent) if p.parent is not None else "—",
                f"<code>{esc(p.command)}</code>" if p.command else "—",
                status,
                num(p.opened),
                num(p.closed),
                num(p.open_at_end),
                num(p.inherited_open),
                num(p.fd_soft_limit) if p.fd_soft_limit is not None else "—",
            ]
        )
    headers = [
        "pid",
        "parent",
        "command",
        "state",
        "opened",
        "closed",
        "open at end",
        "inherited",
        "soft limit",
    ]
    return (
        f"<h2>Processes ({len(report.processes)})</h2>"
        + table(headers, rows, "processes")
        + _cut(len(report.processes))
    )


def _cut(total: int) -> str:
    return (
        f'<p class="muted">First {MAX_ROWS} of {total:,}; the JSON report has all.</p>'
        if total > MAX_ROWS
        else ""
    )


__all__ = ["render", "write"]
