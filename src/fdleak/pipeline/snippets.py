"""Source lines around each leak's Python frames, read for the HTML report (views read nothing)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from fdleak.model.report import Frame, Report
from fdleak.model.snippet import Snippet

CONTEXT = 3  # lines shown before and after a frame's line
MAX_FILE_BYTES = 4 << 20
MAX_LINE_CHARS = 400
MAX_FRAMES_PER_LEAK = 12


def source_snippets(
    report: Report, root: str | None = None, owner: int | None = None
) -> dict[tuple[str, int], Snippet]:
    """(file, line) -> the lines around it, for every frame of every leak's origin whose file
    can be read now. Relative paths are taken from ``root`` (the current directory).

    A report may be someone else's file: only Python sources are read (a regular file named
    ``.py``, not through a symbolic link to another name, at most 4 MB), so a crafted report
    cannot copy /etc/shadow into a page made by root; ``owner``: only files of this uid (a
    saved report rendered by root: its writer's files, not root's own settings.py)."""
    wanted: dict[str, set[int]] = {}
    for frame in _frames(report):
        if not isinstance(frame.line, int) or isinstance(frame.line, bool):
            continue  # a hand-edited report: nothing to look up
        wanted.setdefault(frame.file, set()).add(frame.line)
    found: dict[tuple[str, int], Snippet] = {}
    for name, lines in wanted.items():
        text = _read(name, root, max(lines) + CONTEXT, owner)
        if text is None:
            continue
        for line in lines:
            if 1 <= line <= len(text):
                first = max(1, line - CONTEXT)
                found[(name, line)] = Snippet(name, line, first, tuple(text[first - 1 : line + CONTEXT]))
    return found


def _frames(report: Report) -> Iterable[Frame]:
    for leak in report.leaks:
        if leak.origin is not None:
            yield from leak.origin.frames[-MAX_FRAMES_PER_LEAK:]


def _read(name: str, root: str | None, upto: int, owner: int | None) -> list[str] | None:
    """The first ``upto`` lines of a readable Python source, or None."""
    if not isinstance(name, str) or not name.endswith(".py") or "\x00" in name:
        return None
    path = name if os.path.isabs(name) else os.path.join(root or os.getcwd(), name)
    if not os.path.realpath(path).endswith(".py"):
        return None  # a link (of the file or a directory on the way) to something else
    try:
        # O_NONBLOCK: a FIFO named like a source would otherwise block the open forever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            if owner is not None and info.st_uid != owner:
                return None
            out = []
            for text in handle:
                out.append(text.rstrip("\r\n")[:MAX_LINE_CHARS])
                if len(out) >= upto:
                    break
            return out
        except OSError:
            return None


__all__ = ["CONTEXT", "source_snippets"]
