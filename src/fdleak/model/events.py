"""FdEvent: one change to a process's fd table, whatever source saw it."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from fdleak.model.kinds import FdKind


class Op(str, Enum):
    CREATE = "create"  # fd appears: open, socket, pipe end, accept, SCM_RIGHTS, ...
    CLOSE = "close"  # fd released by close()
    DUP = "dup"  # fd2 becomes a copy of fd (an open fd2 is closed first, as dup2 does)
    CLOSE_RANGE = "close_range"  # fds fd..fd2 closed, or only marked close-on-exec
    SET_CLOEXEC = "set_cloexec"  # F_SETFD / FIOCLEX / FIONCLEX
    ANNOTATE = "annotate"  # connect/bind tell a socket's ends (syscall says which)
    FORK = "fork"  # child gets a copy of pid's table or shares it; child 0: not known yet
    EXEC = "exec"  # successful execve: close-on-exec fds are dropped
    UNSHARE = "unshare"  # unshare(CLONE_FILES): pid gets a private copy of its table
    PID_CHANGE = "pid_change"  # a non-leader thread's execve: thread `child` becomes `pid`
    EXIT = "exit"  # a thread ended; the last thread's exit releases the table


class FdEvent(NamedTuple):
    """One fd-table change. Fields an op does not use keep their defaults.

    A NamedTuple rather than a frozen dataclass: sources build one per line on the
    hot path, and a frozen dataclass's __init__ costs several times more.
    """

    seq: int  # order within the source (strace: the input line number)
    ts: float | None  # seconds; epoch for -ttt logs, otherwise relative
    pid: int  # the thread (task) id that made the call
    op: Op
    fd: int = -1
    fd2: int = -1  # DUP: the new fd; CLOSE_RANGE: the last fd; CREATE by accept: listener
    kind: FdKind = FdKind.OTHER
    target: str = ""  # CREATE/DUP: what the fd is; ANNOTATE: the address; EXEC: the command
    syscall: str = ""
    cloexec: bool = False  # CREATE/DUP: new fd is close-on-exec; CLOSE_RANGE: mark only
    child: int = 0  # FORK: the new task; PID_CHANGE: the thread that took over `pid`
    shares_table: bool = False  # FORK: CLONE_FILES (threads share their fd table)
    thread: bool = False  # FORK: CLONE_THREAD (the child joins pid's thread group)
    status: int | None = None  # EXIT: exit code, or -N when killed by signal N
