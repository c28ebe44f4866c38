"""The terminal view: a summary line, each leak with its evidence, then what to do."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fdleak.model.report import FdEntry, Leak, Origin, Report
from fdleak.views.escape import plain

_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def safe(text: str) -> str:
    """A target is hostile input: no control characters, no rich markup."""
    return escape(plain(text))


def render(report: Report, console: Console) -> None:
    _summary(report, console)
    for leak in report.leaks:
        if leak.confidence != "low":
            _leak(leak, console)
    _too_few(report, console)
    _errors(report, console)
    _not_leaks(report, console)
    _next_steps(report, console)


def render_warnings(report: Report, console: Console) -> None:
    """Notes about the input (not the report): one line each, meant for standard error."""
    for warning in report.warnings:
        console.print(f"fdleak: [yellow]warning:[/] {safe(warning)}")


def _summary(report: Report, console: Console) -> None:
    w = report.window
    serious = [leak for leak in report.leaks if leak.confidence in ("high", "medium")]
    processes = len(report.processes)
    unparsed = f", {w.unparsed_lines:,} not understood" if w.unparsed_lines else ""
    lost = f", [yellow]{w.lost_events:,} lost[/]" if w.lost_events else ""
    plural = "es" if processes != 1 else ""
    seen = f"{w.lines:,} lines, {w.events:,} fd events{unparsed}{lost}, {processes} process{plural}"
    if report.source.mode == "procfs":
        span = f" over {w.end - w.start:.0f} s" if w.start is not None and w.end is not None else ""
        seen = f"{w.events:,} samples of {processes} process{plural}{span}, from /proc"
    if serious:
        pids = sorted({pid for leak in serious for pid in leak.pids})
        leaks = "leak" if len(serious) == 1 else "leaks"
        head = f"[bold red]{len(serious)} {leaks} found[/] in {_pid_word(pids)} {_pids(pids)}"
    else:
        head = "[green]no leak found[/]"
    console.print(f"fdleak: {head} ({seen})")


def _leak(leak: Leak, console: Console) -> None:
    style = _STYLE.get(leak.confidence, "")
    console.print()
    console.print(
        f"[{style}]{leak.id}[/]  {leak.kind:<8} [bold]{safe(leak.signature)}[/]  "
        f"[{style}]{leak.count} open[/] in pid{'s' if len(leak.pids) > 1 else ''} {_pids(leak.pids)}"
        f"  ({leak.confidence} confidence)"
    )
    since = f"since {_clock(leak.first_ts)}, " if leak.first_ts is not None else ""
    rate = f"{leak.rate_per_min:g}/min, " if leak.rate_per_min else ""
    console.print(f"    {safe(leak.reason)} ({since}{rate}{leak.opened} opened, {leak.closed} closed)")
    if leak.origin is not None:
        console.print(f"    [bold]{safe(_origin_text(leak.origin))}[/]")
    for example in leak.examples:
        console.print(f"    {_evidence(example)}")
    hidden = leak.count - len(leak.examples)
    if hidden > 0:
        console.print(f"    [dim]… and {hidden} more (--json for all)[/]")


def _origin_text(origin: Origin) -> str:
    """``opened at proj/tasks.py:12 in export, in task proj.tasks.export``."""
    frame = origin.fixable_frame()
    where = (
        f"opened at {frame.file}:{frame.line} in {frame.function}"
        if frame
        else "opened outside Python's view"
    )
    return f"{where}, in task {origin.task}" if origin.task else where


def _too_few(report: Report, console: Console) -> None:
    low = [leak for leak in report.leaks if leak.confidence == "low"]
    if low:
        console.print()
        names = ", ".join(f"{safe(leak.signature)} ({leak.count})" for leak in low[:5])
        console.print(f"[dim]growing, but too few or too young to judge: {names}[/]")


def _evidence(entry: FdEntry) -> str:
    if entry.line is not None:
        where = f"line {entry.line}"
    elif entry.ts is not None:
        where = time.strftime("%H:%M:%S", time.localtime(entry.ts))  # seen in a snapshot then
    else:
        where = "line ?"
    return f"[dim]{where:>12}[/]  pid {entry.pid} fd {entry.fd:<4} {entry.syscall:<8} {safe(entry.target)}"


def _errors(report: Report, console: Console) -> None:
    if not report.fd_errors:
        return
    console.print()
    for error in report.fd_errors:
        where = f" (first at line {error.first_line})" if error.first_line is not None else ""
        console.print(
            f"[bold red]{error.errno}[/]: {error.count} × {error.syscall} failed in pid {error.pid}{where}"
            + (" — the process ran out of fds" if error.errno == "EMFILE" else " — the system ran out of fds")
        )


def _not_leaks(report: Report, console: Console) -> None:
    others = [g for g in report.groups if g.verdict != "leak"]
    if not others:
        return
    console.print()
    table = Table(title=None, show_header=True, header_style="dim", box=None, pad_edge=False)
    table.add_column("open at end, not leaks", overflow="fold")
    table.add_column("kind")
    table.add_column("open", justify="right")
    table.add_column("why not", overflow="fold")
    for group in others[:8]:
        table.add_row(safe(group.signature), group.kind, str(group.count), safe(group.reason))
    console.print(table)
    if len(others) > 8:
        console.print(f"[dim]… {len(others) - 8} more groups in --json[/]")


def _next_steps(report: Report, console: Console) -> None:
    serious = [leak for leak in report.leaks if leak.confidence in ("high", "medium")]
    if not serious:
        return
    top = serious[0]
    console.print()
    if report.source.mode == "procfs":
        console.print(
            f"Next: see which code opens [bold]{safe(top.signature)}[/]: "
            f"fdleak trace -p {top.pids[0]} --duration 60s (attaches strace for a minute)"
        )
        return
    frame = top.origin.fixable_frame() if top.origin is not None else None
    if frame is not None:
        where = safe(f"{frame.file}:{frame.line}")
        console.print(
            f"Next: close what [bold]{where}[/] in {safe(frame.function)} opens "
            "on every path (a with-block, or a close in finally)."
        )
        return
    where = (
        "the evidence lines above point into the log"
        if report.source.inputs
        else "the evidence lines above count bpftrace's records"
        if report.source.mode == "ebpf"
        else "the evidence lines above count strace's output lines (--keep-trace FILE saves them)"
    )
    console.print(
        f"Next: find the code that opens [bold]{safe(top.signature)}[/] and close it on every path "
        f"(a with-block); {where}."
    )


def _pids(pids: tuple[int, ...] | list[int]) -> str:
    shown = ", ".join(map(str, pids[:6]))
    return shown + (f" +{len(pids) - 6}" if len(pids) > 6 else "")


def _pid_word(pids: tuple[int, ...] | list[int]) -> str:
    return "pid" if len(pids) == 1 else "pids"


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
