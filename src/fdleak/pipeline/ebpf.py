"""fdleak trace/run with the ebpf backend: bpftrace's records -> the engine -> a report.

The same engine, analysis and views as with strace; what differs is how events come
(bpftrace's tracepoints, which never stop the traced processes) and what may be missing
from them: events dropped when bpftrace's perf buffer was full (counted, said in the
warnings, and each leak's confidence lowered a step) and paths cut at its string limit.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace

from fdleak.analysis.build import build_report
from fdleak.defaults import DEFAULT_MIN_COUNT
from fdleak.errors import FdleakError, InputError
from fdleak.lifecycle.engine import Engine, SeedFd
from fdleak.lifecycle.timeline import TimedEngine
from fdleak.model.kinds import FdKind
from fdleak.model.observation import Observation, SourceInfo
from fdleak.model.report import Report
from fdleak.pipeline.live import stop_on
from fdleak.pipeline.logs import observe
from fdleak.pipeline.trace import DEFAULT_DURATION, TraceStart, seed_engine, select_targets, with_limits
from fdleak.procfs.process import has_exited
from fdleak.procfs.snapshot import snapshot_process
from fdleak.sources.bpftrace.launch import gated, run_bpftrace
from fdleak.sources.bpftrace.program import STRLEN, build
from fdleak.sources.bpftrace.records import Counts, Reader
from fdleak.sources.strace.drive import Totals
from fdleak.system import Bpftrace

# after the last traced process ended, lines of other CPUs may still name a new child
_SETTLE = 0.3
# how often /proc is asked whether the traced processes still run: an exit line lost with
# a full perf buffer must not leave the trace waiting for it
_SWEEP = 1.0
_LOWER = {"high": "medium", "medium": "low", "low": "low"}


def trace_ebpf(
    bpftrace: Bpftrace,
    pids: list[int],
    *,
    celery: bool = False,
    pattern: str | None = None,
    duration: float = DEFAULT_DURATION,
    min_count: int = DEFAULT_MIN_COUNT,
    on_start: Callable[[TraceStart], None] | None = None,
) -> Report:
    """``fdleak trace --backend ebpf``: the selected trees for ``duration`` (or until Ctrl-C)."""
    targets = select_targets(pids, celery, pattern, ptrace=False)
    engine = TimedEngine()  # the page's chart: fds over time per process
    seed_engine(engine, targets)
    wanted = sorted({t.candidate.pid for t in targets})
    program = build(wanted, bpftrace.group_dead, bpftrace.btf)
    # like strace -p, the trace ends early once every traced process has exited
    alive = _Alive(*wanted)
    reader = Reader(_epoch_offset(), on_process=alive.update, group_dead=bpftrace.group_dead)
    with run_bpftrace(bpftrace.path, program) as trace, stop_on(trace.stop, None), alive.swept():
        alive.on_empty = trace.stop
        if not trace.wait_attached():
            raise trace.failure()
        if on_start is not None:
            on_start(TraceStart(tuple(targets), frozenset(wanted), duration, trace.stop))
        trace.stop_after(duration)
        for event in reader.events(trace.lines()):
            engine.apply(event)
    engine.add_pairs(reader.pairs, 0)  # counted in the kernel, read from its maps at the end
    reader.counts.lost += trace.lost
    source = SourceInfo(mode="ebpf", pids=tuple(wanted))
    observation = with_limits(_observe(engine, reader.counts, source), targets)
    return _with_loss(build_report(observation, min_count=min_count), reader.counts)


def run_ebpf(
    bpftrace: Bpftrace,
    command: list[str],
    *,
    duration: float | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    on_start: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """``fdleak run --backend ebpf``: ``command`` through the gate, traced from its first call."""
    if not command:
        raise InputError("no command given", "put it after --: fdleak run -- python app.py")
    if shutil.which(command[0]) is None:
        raise InputError(f"command not found: {command[0]}")
    with gated(command, env) as (gate, go):
        engine = TimedEngine()
        _seed_gate(engine, gate.pid, command)
        alive = _Alive(gate.pid)
        reader = Reader(
            _epoch_offset(),
            on_process=alive.update,
            commands={gate.pid: " ".join(command)},
            group_dead=bpftrace.group_dead,
        )
        program = build([gate.pid], bpftrace.group_dead, bpftrace.btf)
        with run_bpftrace(bpftrace.path, program) as trace, alive.swept():
            alive.on_empty = trace.stop
            if not trace.wait_attached():
                raise trace.failure()
            if on_start is not None:
                on_start()
            os.write(go, b"g")  # the probes are live: the gate execs the command now
            with stop_on(alive.end, duration):
                for event in reader.events(trace.lines()):
                    engine.apply(event)
        engine.add_pairs(reader.pairs, 0)
        reader.counts.lost += trace.lost
    source = SourceInfo(mode="ebpf", command=tuple(command))
    report = _with_loss(
        build_report(_observe(engine, reader.counts, source), min_count=min_count), reader.counts
    )
    if alive.ended:
        notes = (
            *report.warnings,
            "the trace was stopped before the command ended; the command was ended with it",
        )
        report = replace(report, warnings=notes)
    return report


class _Alive:
    """The traced processes still running, from the fork and exit lines as they are read
    and, for exit lines lost with a full perf buffer, from /proc; when none is left, the
    trace ends (bpftrace would otherwise wait for Ctrl-C)."""

    def __init__(self, *roots: int) -> None:
        self.pids = set(roots)
        self._gone: set[int] = set()  # exited before their fork was read
        self.on_empty: Callable[[], None] | None = None
        self.ended = False
        self._lock = threading.Lock()

    def update(self, what: str, pid: int, child: int) -> None:
        with self._lock:
            # lines come as read, not in time order: a child's exit may come before the
            # fork that made it (the two were printed from different CPUs' buffers)
            if what == "fork":
                if child in self._gone:
                    self._gone.discard(child)
                else:
                    self.pids.add(child)
            elif pid in self.pids:
                self.pids.discard(pid)
            else:
                self._gone.add(pid)
            if not self.pids:
                self._settle_soon()

    def sweep(self) -> None:
        """Forget the processes /proc says have ended though no exit line was read (the
        line may still be on its way: the settling time covers that, as for any exit)."""
        with self._lock:
            ended = {pid for pid in self.pids if has_exited(pid)}
            if ended:
                self.pids -= ended
                if not self.pids:
                    self._settle_soon()

    @contextmanager
    def swept(self, every: float = _SWEEP) -> Iterator[None]:
        """``sweep`` every ``every`` seconds while the trace runs."""
        done = threading.Event()

        def loop() -> None:
            while not done.wait(every):
                self.sweep()

        sweeper = threading.Thread(target=loop, name="fdleak-sweep", daemon=True)
        sweeper.start()
        try:
            yield
        finally:
            done.set()
            sweeper.join()

    def _settle_soon(self) -> None:
        timer = threading.Timer(_SETTLE, self._settle)
        timer.daemon = True
        timer.start()

    def _settle(self) -> None:
        with self._lock:
            empty = not self.pids
        if empty and self.on_empty is not None:
            self.on_empty()

    def end(self) -> None:
        """--duration or Ctrl-C: end the command's processes (the trace ends after them)."""
        with self._lock:
            self.ended = True
            pids = list(self.pids)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # a process no exit line reached (its line lost): the trace still ends
        timer = threading.Timer(2.0, self.on_empty or (lambda: None))
        timer.daemon = True
        timer.start()


def _seed_gate(engine: Engine, pid: int, command: list[str]) -> None:
    """The gate's fds (the standard streams and its go pipe): there before the command."""
    try:
        snapshot = snapshot_process(pid)
    except FdleakError:
        return
    fds: list[SeedFd] = [(f.fd, FdKind(f.kind), f.target, f.signature, f.cloexec) for f in snapshot.fds]
    engine.seed(pid, None, " ".join(command), [pid], fds)


def _epoch_offset() -> float:
    """What to add to bpftrace's nsecs (CLOCK_MONOTONIC) for epoch seconds."""
    return time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)


def _observe(engine: Engine, counts: Counts, source: SourceInfo) -> Observation:
    totals = Totals(
        lines=counts.lines + counts.unparsed,
        unparsed=counts.unparsed,
        events=counts.events,
        first_ts=counts.first_ts,
        last_ts=counts.last_ts,
        unparsed_examples=counts.unparsed_examples,
    )
    observation = observe(engine, totals, source)
    return replace(observation, window=replace(observation.window, lost_events=counts.lost))


def _with_loss(report: Report, counts: Counts) -> Report:
    """Say what bpftrace dropped or cut; with events lost, every leak is less certain."""
    notes = list(report.warnings)
    leaks = report.leaks
    if counts.lost:
        notes.append(
            f"bpftrace lost {counts.lost} event(s) (its perf buffer was full): opens or closes may "
            "be missing, so each leak's confidence is one step lower"
        )
        leaks = tuple(replace(leak, confidence=_LOWER[leak.confidence]) for leak in leaks)
    if counts.truncated_paths:
        notes.append(
            f"{counts.truncated_paths} path(s) were longer than bpftrace's {STRLEN - 1}-byte string "
            "limit and are cut (they end in ...)"
        )
    return replace(report, leaks=leaks, warnings=tuple(notes))
