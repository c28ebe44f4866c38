"""Terminal views of /proc readings: fdleak ps, a snapshot (lsof-like), and a diff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table

from fdleak.model.census import ProcessCensus
from fdleak.model.snapshot import ProcessSnapshot, Snapshot, SnapshotDiff
from fdleak.views.text import plain, safe

_TOP_GROUPS = 15
_SHOWN_FDS = 3
_COMMAND_WIDTH = 120


def render_census(rows: Sequence[ProcessCensus], console: Console) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("PID", "ROLE", "FDS", "SOFT", "HARD", "USED"):
        table.add_column(name, justify="left" if name in ("PID", "ROLE") else "right", no_wrap=True)
    table.add_column("BY KIND", overflow="fold", max_width=40)
    table.add_column("COMMAND", no_wrap=True, overflow="ellipsis")
    # the numbers and kinds first: the command line gets what width is left
    command_width = max(12, min(_COMMAND_WIDTH, console.width - 80))
    for row in rows:
        used = row.used
        style = "bold red" if used is not None and used >= 0.8 else ""
        kinds = ", ".join(f"{kind} {count}" for kind, count in row.kinds) or safe(row.note or "")
        table.add_row(
            f"{'  ' * row.depth}{row.pid}",
            safe(row.role),
            "?" if row.fds is None else f"{row.fds:,}",
            _limit(row.soft_limit),
            _limit(row.hard_limit),
            "" if used is None else f"[{style}]{used:.0%}[/]" if style else f"{used:.0%}",
            kinds,
            safe(_short(row.command, command_width)),
        )
    console.print(table)


def render_snapshot(snapshot: Snapshot, console: Console, out: TextIO, listing: bool = True) -> None:
    """A summary by signature (rich), then every fd as a plain lsof-like line (fast for 100k fds)."""
    for process in snapshot.processes:
        _process_summary(process, console)
        if listing:
            _listing(process, out)


def render_diff(diff: SnapshotDiff, console: Console) -> None:
    span = diff.after - diff.before
    grew = [c for c in diff.changes if c.growth > 0]
    shrank = [c for c in diff.changes if c.growth < 0]
    console.print(
        f"fdleak: {len(grew)} group{'s' if len(grew) != 1 else ''} grew and {len(shrank)} shrank "
        f"in {span:.1f} s"
        + (f"; processes started: {_pids(diff.started)}" if diff.started else "")
        + (f"; ended: {_pids(diff.ended)}" if diff.ended else "")
    )
    if not diff.changes:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("CHANGE", "BEFORE", "AFTER", "KIND"):
        table.add_column(name, justify="left" if name == "KIND" else "right", no_wrap=True)
    table.add_column("SIGNATURE", overflow="fold")
    table.add_column("FOR EXAMPLE", overflow="fold")
    for change in diff.changes[: _TOP_GROUPS * 2]:
        sample = change.appeared or change.disappeared
        example = ", ".join(f"pid {pid} fd {f.fd} {f.target}" for pid, f in sample[:2])
        style = "red" if change.growth > 0 else "green" if change.growth < 0 else ""
        growth = f"{change.growth:+,}" if change.growth else f"±{len(change.appeared)}"
        table.add_row(
            f"[{style}]{growth}[/]" if style else growth,
            f"{change.before:,}",
            f"{change.after:,}",
            change.kind,
            safe(change.signature),
            safe(example),
        )
    console.print(table)


def _process_summary(process: ProcessSnapshot, console: Console) -> None:
    limit = f" of {process.soft_limit:,} allowed" if process.soft_limit else ""
    note = f" [yellow]({safe(process.note)})[/]" if process.note else ""
    console.print(
        f"[bold]pid {process.pid}[/] {safe(process.command)}: {len(process.fds):,} fds{limit}{note}"
    )
    groups = sorted(process.by_group().items(), key=lambda item: (-len(item[1]), item[0]))
    table = Table(box=None, header_style="dim", pad_edge=False)
    table.add_column("COUNT", justify="right")
    table.add_column("KIND")
    table.add_column("SIGNATURE", overflow="fold")
    table.add_column("STATES / FDS", overflow="fold")
    for (kind, signature), entries in groups[:_TOP_GROUPS]:
        states: dict[str, int] = {}
        for entry in entries:
            if entry.state:
                states[entry.state] = states.get(entry.state, 0) + 1
        detail = ", ".join(f"{state} {count}" for state, count in sorted(states.items(), key=lambda s: -s[1]))
        fds = ", ".join(str(e.fd) for e in entries[:_SHOWN_FDS]) + (
            ", …" if len(entries) > _SHOWN_FDS else ""
        )
        style = "bold red" if "CLOSE_WAIT" in states else ""
        table.add_row(
            f"{len(entries):,}",
            kind,
            safe(signature),
            f"[{style}]{detail}[/]" if style else (detail or f"fd {fds}"),
        )
    console.print(table)
    if len(groups) > _TOP_GROUPS:
        console.print(f"[dim]… {len(groups) - _TOP_GROUPS} more groups (--json for all)[/]")
    console.print()


def _listing(process: ProcessSnapshot, out: TextIO) -> None:
    out.write(f"{'FD':>6} {'MODE':<5} {'KIND':<9} {'POS':>10} {'STATE':<17} TARGET\n")
    lines = []
    for e in process.fds:
        mode = e.mode + ("e" if e.cloexec else "")  # e: close-on-exec
        pos = "" if e.pos is None else str(e.pos)
        peers = f"  (also held by pid {', '.join(map(str, e.peers))})" if e.peers else ""
        lines.append(
            f"{e.fd:>6} {mode:<5} {e.kind:<9} {pos:>10} {e.state or '':<17} {plain(e.target)}{peers}\n"
        )
    out.write("".join(lines))
    out.write("\n")


def _short(command: str, width: int = _COMMAND_WIDTH) -> str:
    # a long command line would squeeze the numbers out of the table; --json has it whole
    return command if len(command) <= width else command[: width - 1] + "…"


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def _pids(pids: tuple[int, ...]) -> str:
    return ", ".join(map(str, pids[:8])) + (f" +{len(pids) - 8}" if len(pids) > 8 else "")
