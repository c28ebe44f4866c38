"""The snapshot view: a summary by signature, then every fd as an lsof-like line.

Plain text, no rich: a snapshot is read on busy boxes and piped into grep, and the whole
command should cost less than lsof, start-up included.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from fdleak.views.escape import plain

if TYPE_CHECKING:
    from typing import TextIO

    from fdleak.model.snapshot import OpenFile, ProcessSnapshot, Snapshot

_TOP_GROUPS = 15
_SHOWN_FDS = 3


def render_snapshot(snapshot: Snapshot, out: TextIO, listing: bool = True) -> None:
    for process in snapshot.processes:
        _summary(process, out)
        if listing:
            _listing(process, out)


def _summary(process: ProcessSnapshot, out: TextIO) -> None:
    limit = f" of {process.soft_limit:,} allowed" if process.soft_limit else ""
    note = f" ({plain(process.note)})" if process.note else ""
    out.write(f"pid {process.pid} {plain(process.command)}: {len(process.fds):,} fds{limit}{note}\n")
    groups = sorted(process.by_group().items(), key=lambda item: (-len(item[1]), item[0]))
    rows = [
        (f"{len(entries):,}", kind, plain(signature), _detail(entries))
        for (kind, signature), entries in groups
    ]
    shown = rows[:_TOP_GROUPS]
    count_width = max([5, *(len(r[0]) for r in shown)])
    kind_width = max([4, *(len(r[1]) for r in shown)])
    signature_width = min(72, max([9, *(len(r[2]) for r in shown)]))
    out.write(
        f"{'COUNT':>{count_width}}  {'KIND':<{kind_width}}  {'SIGNATURE':<{signature_width}}  STATES / FDS\n"
    )
    for count, kind, signature, detail in shown:
        out.write(f"{count:>{count_width}}  {kind:<{kind_width}}  {signature:<{signature_width}}  {detail}\n")
    if len(rows) > _TOP_GROUPS:
        out.write(f"… {len(rows) - _TOP_GROUPS} more groups (--json for all)\n")
    out.write("\n")


def _detail(entries: list[OpenFile]) -> str:
    states = Counter(e.state for e in entries if e.state)
    if states:
        text = ", ".join(f"{state} {count}" for state, count in states.most_common())
        # the peer hung up and this process never closed: the classic socket leak
        return text + ("  <- peer closed, still open here" if "CLOSE_WAIT" in states else "")
    more = ", …" if len(entries) > _SHOWN_FDS else ""
    return "fd " + ", ".join(str(e.fd) for e in entries[:_SHOWN_FDS]) + more


def _listing(process: ProcessSnapshot, out: TextIO) -> None:
    out.write(f"{'FD':>6} {'MODE':<5} {'KIND':<9} {'POS':>10} {'STATE':<17} TARGET\n")
    # a line is its fd, a middle (mode, kind, offset) and an end (state, target, peers);
    # both repeat (a file opened many times, both ends of a pipe, offsets of 0), and
    # escaping and padding them was most of a line's cost: each is made once
    middles: dict[tuple[str, bool, str, int | None], str] = {}
    ends: dict[tuple[str | None, str, tuple[int, ...]], str] = {}
    lines: list[str] = []
    append = lines.append
    for e in process.fds:
        middle = middles.get((e.mode, e.cloexec, e.kind, e.pos))
        if middle is None:
            mode = e.mode + "e" if e.cloexec else e.mode  # e: close-on-exec
            pos = "" if e.pos is None else e.pos
            middle = middles[(e.mode, e.cloexec, e.kind, e.pos)] = f"{mode:<5} {e.kind:<9} {pos:>10} "
        end = ends.get((e.state, e.target, e.peers))
        if end is None:
            peers = f"  (also held by pid {', '.join(map(str, e.peers))})" if e.peers else ""
            end = ends[(e.state, e.target, e.peers)] = f"{e.state or '':<17} {plain(e.target)}{peers}\n"
        append(f"{e.fd:>6} {middle}{end}")
    out.write("".join(lines))
    out.write("\n")
