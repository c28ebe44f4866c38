"""Source lines around a Python frame's line, for the HTML report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snippet:
    """Lines ``first`` .. ``first + len(lines) - 1`` of ``file``, around ``line`` (a frame's)."""

    file: str  # as the frame names it
    line: int
    first: int
    lines: tuple[str, ...]


__all__ = ["Snippet"]
