"""The HTML view of /proc readings: a snapshot (every fd, grouped) and a diff of two."""

from __future__ import annotations

from collections.abc import Iterable

from fdleak.model.snapshot import OpenFile, ProcessSnapshot, Snapshot, SnapshotDiff
from fdleak.views.html_page import clock, esc, facts, num, page, table, write_page

MAX_FDS = 5000  # fds listed per process; the JSON snapshot has them all
MAX_SHOWN = 5  # appeared / disappeared fds shown per group of a diff


def render_snapshot(snapshot: Snapshot) -> str:
    total = sum(len(p.fds) for p in snapshot.processes)
    body = [
        "<header><h1>fdleak snapshot</h1>",
        f'<p class="summary">{num(total)} fds in {num(len(snapshot.processes))} '
        f"process{'es' if len(snapshot.processes) != 1 else ''}, taken {clock(snapshot.taken)}</p></header>",
        "".join(_process(p) for p in snapshot.processes),
        f"<footer>Made by fdleak {esc(snapshot.tool_version)} ({esc(snapshot.schema)}). "
        "Times are UTC.</footer>",
    ]
    return page("fdleak snapshot", "\n".join(body))


def render_diff(diff: SnapshotDiff) -> str:
    grew = [c for c in diff.changes if c.growth > 0]
    rows = [
        [
            esc(c.kind),
            f"<code>{esc(c.signature)}</code>",
            num(c.before),
            num(c.after),
            f"<b>{c.growth:+,}</b>" if isinstance(c.growth, int) else esc(c.growth),
            ", ".join(esc(p) for p in c.pids[:10]),
            _fds(c.appeared),
            _fds(c.disappeared),
        ]
        for c in diff.changes
    ]
    headers = ["kind", "signature", "before", "after", "change", "pids", "appeared", "disappeared"]
    body = [
        "<header><h1>fdleak diff</h1>",
        f'<p class="summary">{len(grew)} group{"s" if len(grew) != 1 else ""} grew between '
        f"{clock(diff.before)} and {clock(diff.after)}</p></header>",
        facts(
            [
                ("before", clock(diff.before)),
                ("after", clock(diff.after)),
                ("processes started", ", ".join(esc(p) for p in diff.started) or "—"),
                ("processes ended", ", ".join(esc(p) for p in diff.ended) or "—"),
            ]
        ),
        "<h2>Groups that changed, biggest growth first</h2>",
        table(headers, rows, "changes") if rows else '<p class="muted">Nothing changed.</p>',
        "<footer>Made by fdleak. Times are UTC.</footer>",
    ]
    return page("fdleak diff", "\n".join(body))


def write_snapshot(snapshot: Snapshot, path: str) -> None:
    write_page(render_snapshot(snapshot), path)


def write_diff(diff: SnapshotDiff, path: str) -> None:
    write_page(render_diff(diff), path)


def _process(process: ProcessSnapshot) -> str:
    used = (
        f" ({len(process.fds) / process.soft_limit:.0%} of the soft limit)"
        if isinstance(process.soft_limit, int) and process.soft_limit > 0
        else ""
    )
    head = facts(
        [
            ("command", f"<code>{esc(process.command)}</code>"),
            ("parent", esc(process.parent) if process.parent is not None else "—"),
            ("started", clock(process.start_time)),
            ("fds", f"{num(len(process.fds))}{used}"),
            ("limits", f"soft {_limit(process.soft_limit)}, hard {_limit(process.hard_limit)}"),
        ]
        + (
            [("incomplete", f'<span class="warn">{esc(process.note or "")}</span>')]
            if not process.complete
            else []
        )
    )
    groups = sorted(process.by_group().items(), key=lambda kv: (-len(kv[1]), kv[0]))
    summary = table(
        ["kind", "signature", "fds", "for example"],
        [
            [esc(kind), f"<code>{esc(sig)}</code>", num(len(fds)), _fds((process.pid, f) for f in fds)]
            for (kind, sig), fds in groups
        ],
        "groups",
    )
    listing = table(
        ["fd", "kind", "target", "mode", "close-on-exec", "offset", "state", "pipe peers"],
        [_fd(f) for f in process.fds[:MAX_FDS]],
        "fds",
    )
    more = (
        f'<p class="muted">First {MAX_FDS:,} of {len(process.fds):,} fds.</p>'
        if len(process.fds) > MAX_FDS
        else ""
    )
    return (
        f'<h2>pid <span class="pid">{esc(process.pid)}</span></h2>{head}<h3>By signature</h3>{summary}'
        f"<details><summary>every fd</summary>{listing}{more}</details>"
    )


def _fd(f: OpenFile) -> list[str]:
    return [
        esc(f.fd),
        esc(f.kind),
        f"<code>{esc(f.target)}</code>",
        esc(f.mode),
        "yes" if f.cloexec else "no",
        num(f.pos) if f.pos is not None else "—",
        esc(f.state) if f.state else "—",
        ", ".join(esc(p) for p in f.peers) or "—",
    ]


def _fds(items: Iterable[tuple[int, OpenFile]]) -> str:
    shown = []
    for index, (pid, f) in enumerate(items):
        if index == MAX_SHOWN:
            shown.append("…")
            break
        shown.append(f"<code>{esc(pid)}:{esc(f.fd)} {esc(f.target)}</code>")
    return "<br>".join(shown) or "—"


def _limit(value: int | None) -> str:
    return "—" if value is None else num(value)


__all__ = ["render_diff", "render_snapshot", "write_diff", "write_snapshot"]
