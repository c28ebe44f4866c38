"""One line per leaked fd, for people: its number, kind, target and the line that opened it."""

from __future__ import annotations

from collections.abc import Sequence

from fdleak.python.checkpoint import OpenedFd
from fdleak.views.escape import plain

OUTSIDE_PYTHON = "opened outside Python's view (C code, an extension, or a call bound before fdleak started)"


def opened_at(item: OpenedFd, root: str | None = None) -> str:
    """``opened at tests/test_x.py:12 in test_x`` (the innermost frame of the user's code)."""
    frame = item.origin_frame(root)
    if frame is None:
        return OUTSIDE_PYTHON
    return f"opened at {plain(frame.file)}:{frame.line} in {plain(frame.function)}"


def fd_line(item: OpenedFd, root: str | None = None) -> str:
    """``fd 7 file /tmp/report_1.csv, opened at tasks.py:12 in export (open)``."""
    call = f" ({item.call})" if item.call else ""
    return f"fd {item.fd} {item.kind.value} {plain(item.target)}, {opened_at(item, root)}{call}"


def count_text(count: int) -> str:
    return f"{count} file descriptor{'s' if count != 1 else ''}"


def leak_message(who: str, items: Sequence[OpenedFd], root: str | None = None) -> str:
    """``test_x leaked 2 file descriptors:`` then one indented line per fd (psleak's shape)."""
    lines = [f"{who} leaked {count_text(len(items))}:"]
    lines += [f"  {fd_line(item, root)}" for item in items]
    return "\n".join(lines)
