"""fdleak ps and fdleak snapshot: select processes, then read their fds from /proc."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fdleak.errors import AccessDenied, NothingToAnalyze, ProcessGone
from fdleak.model.kinds import kind_of_link
from fdleak.procfs.fds import count_fds, fd_links
from fdleak.procfs.process import fd_limits
from fdleak.procfs.snapshot import take_snapshot

if TYPE_CHECKING:
    from fdleak.discovery.select import Candidate
    from fdleak.model.census import ProcessCensus
    from fdleak.model.snapshot import Snapshot


def census(pids: Sequence[int] = (), celery: bool = False, pattern: str | None = None) -> list[ProcessCensus]:
    from fdleak.discovery.select import find  # psutil: only for commands that walk trees

    candidates = find(pids, celery, pattern)
    if not candidates:
        what = "Celery worker" if celery else f"process matching {pattern!r}" if pattern else "worker process"
        raise NothingToAnalyze(f"no {what} found", "give a pid with -p PID, or a PATTERN")
    return [row for c in candidates if (row := _count(c)) is not None]


def snapshot(pids: Sequence[int], tree: bool = False) -> Snapshot:
    """Every fd of ``pids`` (with their descendants when ``tree``); raises for a missing pid."""
    if tree:
        from fdleak.discovery.select import find  # psutil: only for commands that walk trees

        chosen = [c.pid for c in find(pids)]
    else:
        chosen = list(pids)
    return take_snapshot(chosen)


def _count(candidate: Candidate) -> ProcessCensus | None:
    from fdleak.model.census import ProcessCensus  # ps only: snapshot starts without it

    pid = candidate.pid
    note = None
    kinds: tuple[tuple[str, int], ...] = ()
    fds: int | None = None
    try:
        soft, hard = fd_limits(pid)
        fds = count_fds(pid)
        counted = Counter(kind_of_link(link).value for _, link in fd_links(pid))
        kinds = tuple(counted.most_common())
    except ProcessGone:
        return None  # exited since it was found
    except AccessDenied as error:
        note = error.message  # another user's process: the count may still be known
    return ProcessCensus(
        pid,
        candidate.parent,
        candidate.depth,
        candidate.role,
        candidate.app,
        candidate.command,
        fds,
        soft,
        hard,
        kinds,
        note,
    )


def timed_snapshot(pids: Sequence[int], tree: bool, wait: float) -> tuple[Snapshot, Snapshot]:
    first = snapshot(pids, tree)
    time.sleep(wait)
    return first, snapshot(pids, tree)
