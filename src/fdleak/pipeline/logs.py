"""strace logs -> fd-table engine -> analysis: what `fdleak analyze` does."""

from __future__ import annotations

from fdleak.analysis.build import build_report
from fdleak.defaults import DEFAULT_MIN_COUNT
from fdleak.errors import NothingToAnalyze
from fdleak.lifecycle.engine import Engine
from fdleak.lifecycle.timeline import TimedEngine
from fdleak.model.observation import FdError, Observation, SourceInfo, WindowInfo
from fdleak.model.report import Report
from fdleak.sources.strace.drive import LogDriver, Progress, Totals
from fdleak.sources.strace.inputs import LogInput, resolve


def analyze_logs(
    paths: list[str],
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    jobs: int | None = None,
    progress: Progress | None = None,
    timeline: bool = False,
) -> Report:
    """``fdleak analyze``: strace logs in, a report out. Raises FdleakError on bad input.

    ``timeline``: also count each process's fds over time (the HTML page's chart). Off
    unless asked: on a log of millions of lines it costs a sixth more time."""
    inputs = resolve(paths)
    engine = TimedEngine() if timeline else Engine()
    totals = LogDriver(engine, jobs=jobs, progress=progress).run(inputs)
    _check_something_seen(inputs, totals)
    source = SourceInfo(mode="strace-log", inputs=tuple(i.name for i in inputs))
    return build_report(observe(engine, totals, source), min_count=min_count)


def total_size(paths: list[str]) -> int:
    return sum(i.size for i in resolve(paths))


def observe(engine: Engine, totals: Totals, source: SourceInfo) -> Observation:
    open_fds, processes, activity = engine.finish()
    epoch = totals.first_ts is not None and not totals.relative and totals.first_ts > 1e8
    errors = tuple(
        FdError(errno, pid, syscall, int(count or 0), ts, int(seq) if seq is not None else None)
        for (pid, syscall, errno), (count, ts, seq) in sorted(
            totals.errors.items(), key=lambda kv: kv[1][2] or 0
        )
    )
    return Observation(
        source=source,
        window=WindowInfo(
            totals.first_ts,
            totals.last_ts,
            totals.events,
            totals.lines,
            totals.unparsed,
            epoch=epoch,
            truncated=totals.truncated,
        ),
        processes=tuple(processes),
        open_fds=tuple(open_fds),
        activity=tuple(activity),
        errors=errors,
        warnings=tuple(_warnings(totals, engine)),
        timelines=engine.timelines() if isinstance(engine, TimedEngine) else (),
    )


def _warnings(totals: Totals, engine: Engine) -> list[str]:
    notes = []
    if totals.unparsed:
        first = totals.unparsed_examples[0] if totals.unparsed_examples else None
        where = f" (first at line {first[0]}: {first[1][:80]!r})" if first else ""
        notes.append(f"{totals.unparsed} line(s) not understood{where}")
    if totals.truncated:
        notes.append("the log ends in the middle of a line: was strace still writing it?")
    if engine.replaced_open:
        notes.append(
            f"{engine.replaced_open} fd(s) were created while the log still had them open: "
            "some closes are missing from the log (was a syscall filtered out?)"
        )
    return notes


def _check_something_seen(inputs: list[LogInput], totals: Totals) -> None:
    names = ", ".join(i.name for i in inputs)
    if totals.lines and totals.unparsed == totals.lines:
        raise NothingToAnalyze(
            f"{names} does not look like strace output: no line was understood",
            "give a log written by strace -o (ideally strace -f -ttt -y)",
        )
    if totals.events == 0 and not totals.errors:
        raise NothingToAnalyze(
            f"no fd syscalls in {names} ({totals.lines} lines)",
            "trace with -e trace=open,openat,close,socket,pipe2,dup2,clone,execve,... or without -e",
        )
