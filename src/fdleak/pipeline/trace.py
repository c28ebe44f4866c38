"""fdleak trace: attach strace to running process trees, seeded from /proc, and report.

Order matters: every process's fds are read from /proc first and seed the engine's
tables (those fds are inherited: closing one is understood, none can be a leak of the
window), then strace attaches to every process of each tree (``-f -p PID`` follows new
forks but not children that already exist), and the duration starts once it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from fdleak.analysis.build import build_report
from fdleak.defaults import DEFAULT_MIN_COUNT
from fdleak.discovery.select import Candidate, find, own_tree
from fdleak.errors import FdleakError, NothingToAnalyze, ProcessGone
from fdleak.lifecycle.engine import Engine, SeedFd
from fdleak.lifecycle.timeline import TimedEngine
from fdleak.model.kinds import FdKind
from fdleak.model.observation import Observation, SourceInfo
from fdleak.model.report import Report
from fdleak.pipeline.live import KEEP_LIMIT, stop_on
from fdleak.pipeline.logs import observe
from fdleak.procfs.process import fd_limits
from fdleak.procfs.ptrace import TraceState, check_can_trace, trace_state
from fdleak.procfs.snapshot import snapshot_process
from fdleak.sources.strace.attach import AttachedTrace, attach
from fdleak.sources.strace.drive import LogDriver
from fdleak.system import find_strace

DEFAULT_DURATION = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """A process about to be traced, as /proc showed it just before the attach."""

    candidate: Candidate
    state: TraceState
    soft_limit: int | None


@dataclass(frozen=True, slots=True)
class TraceStart:
    """What the user is told once strace is attached, and a way to end the trace early."""

    targets: tuple[Target, ...]
    attached: frozenset[int]
    duration: float
    stop: Callable[[], None]  # end the trace now, as Ctrl-C would (from any thread)


def trace_processes(
    pids: list[int],
    *,
    celery: bool = False,
    pattern: str | None = None,
    duration: float = DEFAULT_DURATION,
    keep_trace: str | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    on_start: Callable[[TraceStart], None] | None = None,
) -> Report:
    """Attach to the selected trees for ``duration`` (or until Ctrl-C), then report."""
    strace = find_strace()
    targets = select_targets(pids, celery, pattern)
    engine = TimedEngine()
    seed_engine(engine, targets)
    wanted = {t.candidate.pid for t in targets}
    driver = LogDriver(engine, jobs=1)
    with attach(strace, sorted(wanted), keep_trace, KEEP_LIMIT) as trace, stop_on(trace.stop, None):
        failed: list[BaseException] = []  # what on_start raised, in the starter thread
        starter = threading.Thread(
            target=_start, args=(trace, targets, wanted, duration, on_start, failed), daemon=True
        )
        starter.start()
        totals = driver.run_blocks(trace.blocks())
    starter.join(timeout=5)
    if failed:
        raise failed[0]
    failure = trace.failure()
    if failure is not None:
        raise failure
    source = SourceInfo(mode="strace", pids=tuple(sorted(trace.attached & wanted)))
    observation = with_limits(observe(engine, totals, source), targets)
    report = build_report(observation, min_count=min_count)
    return replace(report, warnings=(*report.warnings, *_notes(trace, wanted, keep_trace)))


def select_targets(pids: list[int], celery: bool, pattern: str | None, ptrace: bool = True) -> list[Target]:
    """The processes to trace, read from /proc; ``ptrace``: each must be attachable by strace."""
    candidates = find(pids, celery, pattern)
    mine = own_tree(asked=pids)
    candidates = [c for c in candidates if c.pid not in mine]
    if not candidates:
        what = (
            "Celery worker" if celery else f"process matching {pattern!r}" if pattern else "process to trace"
        )
        raise NothingToAnalyze(f"no {what} found", "check with: fdleak ps --celery, or give -p PID")
    targets = []
    for candidate in candidates:
        try:
            state = trace_state(candidate.pid)
        except ProcessGone:
            continue  # exited since it was listed: nothing to attach
        if ptrace:
            check_can_trace(state)
        targets.append(Target(candidate, state, fd_limits(candidate.pid)[0]))
    if not targets:
        raise ProcessGone("every selected process exited before it could be traced")
    return targets


def seed_engine(engine: Engine, targets: list[Target]) -> None:
    """Each target's fds from /proc: inherited, never leaks of the window."""
    for target in targets:
        pid = target.candidate.pid
        try:
            snapshot = snapshot_process(pid)
        except FdleakError:
            continue  # gone (or unreadable) already: strace will say so
        fds: list[SeedFd] = [(f.fd, FdKind(f.kind), f.target, f.signature, f.cloexec) for f in snapshot.fds]
        engine.seed(pid, target.candidate.parent, snapshot.command, target.state.threads, fds)


def _start(
    trace: AttachedTrace,
    targets: list[Target],
    wanted: set[int],
    duration: float,
    on_start: Callable[[TraceStart], None] | None,
    failed: list[BaseException],
) -> None:
    """Once strace has attached: tell the user, then let the duration run. If ``on_start``
    fails, the trace ends at once and the error goes to the caller's thread."""
    attached = trace.wait_attached(wanted)
    if not attached:
        return  # strace is exiting; the failure is reported after its output drains
    try:
        if on_start is not None:
            on_start(TraceStart(tuple(targets), frozenset(attached), duration, trace.stop))
    except BaseException as error:  # raised again in the caller's thread, once strace is gone
        failed.append(error)
        trace.stop()
        return
    trace.stop_after(duration)


def with_limits(observation: Observation, targets: list[Target]) -> Observation:
    limits = {t.candidate.pid: t.soft_limit for t in targets}
    processes = tuple(
        replace(p, fd_soft_limit=limits.get(p.pid, limits.get(p.parent or 0))) for p in observation.processes
    )
    return replace(observation, processes=processes)


def _notes(trace: AttachedTrace, wanted: set[int], keep_trace: str | None) -> list[str]:
    notes = []
    for pid, reason in sorted(trace.refused.items()):
        notes.append(f"pid {pid} was not traced: {reason}")
    missing = wanted - trace.attached - set(trace.refused)
    if missing:
        notes.append(f"strace did not confirm attaching to pid(s) {', '.join(map(str, sorted(missing)))}")
    notes.extend(f"strace said: {message}" for message in trace.messages[:3])
    if trace.keep_truncated and keep_trace is not None:
        notes.append(
            f"{keep_trace} holds only the first {KEEP_LIMIT >> 20} MB of the log (--keep-trace bound)"
        )
    return notes
