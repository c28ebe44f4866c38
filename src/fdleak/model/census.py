"""fdleak ps: one row per candidate process, its fd count against its limit and by kind."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessCensus:
    pid: int
    parent: int | None
    depth: int  # in its tree: 0 for a root
    role: str
    app: str
    command: str
    fds: int | None  # None when unreadable
    soft_limit: int | None
    hard_limit: int | None
    kinds: tuple[tuple[str, int], ...]  # (kind, count), most first; () when unreadable
    note: str | None = None  # what could not be read, and why

    @property
    def used(self) -> float | None:
        """Fraction of the soft limit in use."""
        if self.fds is None or not self.soft_limit:
            return None
        return self.fds / self.soft_limit
