"""Terminal views of /proc readings: fdleak ps and a snapshot diff (rich tables)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from fdleak.model.census import ProcessCensus
from fdleak.model.snapshot import SnapshotDiff
from fdleak.views.text import safe

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


def _short(command: str, width: int = _COMMAND_WIDTH) -> str:
    # a long command line would squeeze the numbers out of the table; --json has it whole
    return command if len(command) <= width else command[: width - 1] + "…"


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


def _pids(pids: tuple[int, ...]) -> str:
    return ", ".join(map(str, pids[:8])) + (f" +{len(pids) - 8}" if len(pids) > 8 else "")
