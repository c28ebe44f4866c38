"""Find the processes a command should look at, as trees with a role for each process.

A worker framework's parent and its pool children share a command line (billiard,
gunicorn and uwsgi fork without exec), so the role comes from the tree: a process
whose parent runs the same kind of worker is a child, otherwise a parent.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from fdleak.errors import AccessDenied, InputError, ProcessGone

# framework -> how its worker processes' command lines look
_FRAMEWORKS: dict[str, re.Pattern[str]] = {
    "celery": re.compile(r"(?:^|[/\s])celery(?:\.exe)?\b.*\bworker\b|\[celeryd:|celery worker"),
    "gunicorn": re.compile(r"(?:^|[/\s])gunicorn\b"),
    "uwsgi": re.compile(r"(?:^|[/\s])uwsgi\b"),
    "rq": re.compile(r"(?:^|[/\s])rq\s+worker\b|rqworker"),
    "dramatiq": re.compile(r"(?:^|[/\s])dramatiq\b"),
}
# fdleak run by path, by name, or by an interpreter (python -m fdleak, python .../bin/fdleak),
# its strace guard, and strace itself: a tracer's command line holds the worker's
_FDLEAK = re.compile(
    r"^(?:\S*python[\d.]*\s+(?:-\S+\s+)*(?:-m\s+)?)?(?:\S*/)?(?:fdleak|strace)\s|/fdleak/sources/strace/guard\.py\s"
)
_APP = re.compile(r"(?:-A|--app)[= ](\S+)")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One process to look at. (pid, start_time) is its identity: pids are reused."""

    pid: int
    start_time: float
    parent: int | None
    role: str  # "celery parent", "celery child", "process", "child"...
    app: str  # the Celery -A/--app value, or ""
    command: str
    depth: int  # 0 for the root of its tree

    @property
    def key(self) -> tuple[int, float]:
        return (self.pid, self.start_time)


def find(pids: Iterable[int] = (), celery: bool = False, pattern: str | None = None) -> list[Candidate]:
    """Candidates in tree order (each root, then its descendants).

    ``pids``: these processes and their descendants. ``celery``: Celery workers only.
    ``pattern``: processes whose command line matches the regular expression. With
    none of them: every worker of a known framework (Celery, gunicorn, uwsgi, rq, dramatiq).
    """
    table = _process_table()
    roots: list[int] = []
    for pid in pids:
        if pid not in table:
            if _is_zombie(pid):
                hint = "its parent has not reaped it yet: it has no fds"
                raise ProcessGone(f"process {pid} has exited", hint)
            if psutil.pid_exists(pid):
                raise AccessDenied(f"cannot read pid {pid}", "run fdleak as its user or as root")
            raise ProcessGone(f"no process with pid {pid}", "check the pid with: ps -p PID")
        roots.append(pid)
    if celery or pattern is not None or not roots:
        roots += _matching_roots(table, celery, pattern, skip=set(roots))
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.parent, []).append(proc.pid)
    out: list[Candidate] = []
    seen: set[int] = set()
    for root in roots:
        _walk(table, children, root, out, seen)
    return out


def framework_of(command: str) -> str | None:
    for name, regex in _FRAMEWORKS.items():
        if regex.search(command):
            return name
    return None


@dataclass(frozen=True, slots=True)
class _Proc:
    pid: int
    parent: int
    start_time: float
    command: str
    # no command line: a kernel thread, or a process past exit_mm (exiting, not yet a zombie)
    nameless: bool = False


def _process_table() -> dict[int, _Proc]:
    table: dict[int, _Proc] = {}
    for proc in psutil.process_iter(["ppid", "cmdline", "create_time", "name", "status"]):
        if proc.pid == os.getpid():
            continue  # fdleak itself, and through it whatever it started
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue  # exited, not yet reaped: no fds, and no command line to tell its role by
        args = info.get("cmdline") or []
        command = " ".join(args) if args else f"[{info.get('name') or '?'}]"
        table[proc.pid] = _Proc(
            proc.pid, info.get("ppid") or 0, info.get("create_time") or 0.0, command, nameless=not args
        )
    return table


def _is_zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def own_tree(asked: Iterable[int] = ()) -> set[int]:
    """fdleak and the processes it started (strace): never to be traced by themselves.
    A child fdleak started to be traced (the demo's worker), named in ``asked``, is not
    fdleak's own: it and its descendants are left out of the set."""
    me = psutil.Process(os.getpid())
    with contextlib.suppress(psutil.Error):
        mine = {me.pid, *(child.pid for child in me.children(recursive=True))}
        for pid in set(asked) & mine - {me.pid}:
            with contextlib.suppress(psutil.Error):
                mine -= {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
        return mine
    return {me.pid}


def _own_lineage() -> set[int]:
    ours = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        ours.update(p.pid for p in psutil.Process().parents())
    return ours


def compile_pattern(pattern: str | None) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise InputError(f"bad pattern {pattern!r}: {error}", "give a Python regular expression") from None


def matches(command: str, celery: bool, regex: re.Pattern[str] | None) -> bool:
    """Selected by --celery and/or PATTERN; with neither, any known worker framework.
    fdleak's own wrappers (fdleak celery -- celery ... worker) and tracers hold a
    worker's command line too, but only the worker under them is one."""
    if _FDLEAK.search(command):
        return False
    framework = framework_of(command)
    if celery and framework != "celery":
        return False
    if regex is not None:
        return regex.search(command) is not None
    return framework is not None


def _matching_roots(table: dict[int, _Proc], celery: bool, pattern: str | None, skip: set[int]) -> list[int]:
    regex = compile_pattern(pattern)

    def wanted(proc: _Proc) -> bool:
        return matches(proc.command, celery, regex)

    # fdleak's own command line (and the shell's that ran it) matches any pattern it was given
    skip = skip | _own_lineage()
    selected = {pid for pid, proc in table.items() if wanted(proc) and pid not in skip}
    # a root is a match whose parent is not itself a match: its pool children come with it
    return sorted(pid for pid in selected if table[pid].parent not in selected)


def _walk(
    table: dict[int, _Proc],
    children: dict[int, list[int]],
    pid: int,
    out: list[Candidate],
    seen: set[int],
    depth: int = 0,
) -> None:
    if pid in seen or pid not in table:
        return
    seen.add(pid)
    proc = table[pid]
    if depth > 0 and proc.nameless:
        return  # a descendant exiting: its fds are going, and its role cannot be told
    role, app = _role(table, proc, depth), app_of(proc.command)
    out.append(Candidate(pid, proc.start_time, proc.parent, role, app, proc.command, depth))
    for child in sorted(children.get(pid, ())):
        _walk(table, children, child, out, seen, depth + 1)


def _role(table: dict[int, _Proc], proc: _Proc, depth: int) -> str:
    framework = framework_of(proc.command)
    parent = table.get(proc.parent)
    if framework is None:
        return "child" if depth > 0 else "process"
    if parent is not None and framework_of(parent.command) == framework:
        return f"{framework} child"
    return f"{framework} parent"


def app_of(command: str) -> str:
    match = _APP.search(command)
    return match.group(1) if match else ""
