"""Joining "<unfinished ...>" calls with their "<... X resumed>" ends, per thread."""

from __future__ import annotations

from typing import NamedTuple


class Unfinished(NamedTuple):
    name: str
    head: str  # "name(args" as printed before " <unfinished ...>"
    seq: int
    from_tid: int  # a thread whose execve made it the leader: "<pid changed to N ...>"
    applied: bool  # its effect was taken at the start (close): the end only completes it


class Assembler:
    """Holds each thread's call in flight until its resumed line arrives.

    With -f, another thread's line can split a call into "<unfinished ...>" and
    "<... close resumed>": the call takes effect when it returns, at the resumed line.
    """

    def __init__(self) -> None:
        self.pending: dict[int, Unfinished] = {}

    def start(
        self, pid: int, name: str, args: str, seq: int, from_tid: int = 0, applied: bool = False
    ) -> None:
        self.pending[pid] = Unfinished(name, f"{name}({args}", seq, from_tid, applied)

    def resume(
        self, pid: int, name: str, rest: str, unprefixed: bool = False
    ) -> tuple[str, Unfinished] | None:
        """The whole call text, or None when its start was never seen (an orphan).

        ``unprefixed``: strace -f to stderr may print a call's start as "[pid N] ..."
        and its end, once N is alone again, with no prefix: then the one pending call
        of that name is the one.
        """
        started = self.pending.get(pid)
        if (started is None or started.name != name) and unprefixed:
            same = [key for key, call in self.pending.items() if call.name == name]
            if len(same) == 1:
                pid, started = same[0], self.pending[same[0]]
        if started is None or started.name != name:
            return None
        del self.pending[pid]
        if rest.startswith(" ") and not rest.startswith(" =>"):
            rest = rest[1:]  # "<... read resumed> rest": the space is strace's, not the args'
        return started.head + rest, started
