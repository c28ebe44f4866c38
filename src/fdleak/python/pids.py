"""This process's pid without a system call.

os.getpid() is one (glibc stopped caching it in 2.25), and a Celery task's accounting
asked for it five times a task. The pid is kept here and renewed in the child of every
os.fork(); C code that forks and then runs Python without os.fork is not seen (nothing
in the standard library does: its forks exec at once).
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def getpid() -> int:
    """The same as os.getpid(), from memory."""
    return _pid
