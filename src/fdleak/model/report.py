"""The report (format fdleak.report/1): the one document every view renders."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from fdleak import __version__
from fdleak.model.observation import FdError, SourceInfo
from fdleak.model.series import RoleTrend, Series, Trend
from fdleak.model.timeline import Timeline

SCHEMA = "fdleak.report/1"
CONFIDENCES = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Window:
    start: float | None
    end: float | None
    events: int
    lines: int
    unparsed_lines: int
    lost_events: int = 0


@dataclass(frozen=True, slots=True)
class ProcessEntry:
    pid: int
    parent: int | None
    command: str | None
    exited: bool
    exit_status: int | None
    opened: int
    closed: int
    open_at_end: int
    fd_soft_limit: int | None = None
    inherited_open: int = 0


@dataclass(frozen=True, slots=True)
class FdEntry:
    """An fd as the report shows it: an example of a leak, or one of open_fds."""

    pid: int
    fd: int
    kind: str
    target: str
    syscall: str
    ts: float | None
    line: int | None


@dataclass(frozen=True, slots=True)
class Frame:
    file: str
    line: int
    function: str


@dataclass(frozen=True, slots=True)
class Origin:
    task: str | None
    frames: tuple[Frame, ...] = ()

    def fixable_frame(self) -> Frame | None:
        """The innermost frame outside the standard library and installed packages: the
        code a user can fix (the innermost frame when all are library code)."""
        own = [f for f in self.frames if "/lib/python" not in f.file and "site-packages" not in f.file]
        return own[-1] if own else (self.frames[-1] if self.frames else None)


@dataclass(frozen=True, slots=True)
class Leak:
    id: str
    kind: str
    signature: str
    count: int
    opened: int
    closed: int
    pids: tuple[int, ...]
    first_ts: float | None
    last_ts: float | None
    rate_per_min: float
    confidence: str
    reason: str
    examples: tuple[FdEntry, ...]
    origin: Origin | None = None
    verdict: str = "leak"


CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}


def most_severe_first(leak: Leak) -> tuple[int, int]:
    """Sort key for leaks: confidence first, then how many fds are open."""
    return (CONFIDENCE_RANK[leak.confidence], -leak.count)


@dataclass(frozen=True, slots=True)
class Group:
    """Every signature group open at the end, leak or not, with what fdleak made of it."""

    kind: str
    signature: str
    count: int
    opened: int
    closed: int
    pids: tuple[int, ...]
    verdict: str  # leak | pool | one-off | steady | inherited | unknown
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    source: SourceInfo
    window: Window
    processes: tuple[ProcessEntry, ...]
    leaks: tuple[Leak, ...]
    open_fds: tuple[FdEntry, ...]
    groups: tuple[Group, ...] = ()
    fd_errors: tuple[FdError, ...] = ()
    warnings: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()  # procfs mode: fd counts over time
    roles: tuple[RoleTrend, ...] = ()  # procfs mode: growth during each process's life, pooled per role
    timeline: tuple[Timeline, ...] = ()  # trace modes: fd counts over time, the top processes by peak
    tool_version: str = __version__
    schema: str = SCHEMA

    @property
    def found_leak(self) -> bool:
        """At least one leak at medium confidence or above (exit status 1)."""
        return any(leak.confidence in ("high", "medium") for leak in self.leaks)

    def to_json(self) -> dict[str, Any]:
        source = self.source
        return {
            "schema": self.schema,
            "tool": {"name": "fdleak", "version": self.tool_version},
            "source": {
                "mode": source.mode,
                "inputs": list(source.inputs),
                "command": list(source.command) if source.command is not None else None,
                "pids": list(source.pids),
            },
            "window": asdict(self.window),
            "processes": [asdict(p) for p in self.processes],
            "leaks": [_leak_json(leak) for leak in self.leaks],
            "open_fds": [asdict(entry) for entry in self.open_fds],
            "groups": [asdict(g) | {"pids": list(g.pids)} for g in self.groups],
            "fd_errors": [asdict(e) for e in self.fd_errors],
            "warnings": list(self.warnings),
            "series": [_series_json(s) for s in self.series],
            "roles": [asdict(r) for r in self.roles],
            "timeline": [_timeline_json(t) for t in self.timeline],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """Read a saved report; keys a newer writer added are ignored, missing ones defaulted."""
        source = data.get("source", {})
        return cls(
            source=SourceInfo(
                mode=source.get("mode", "strace-log"),
                inputs=tuple(source.get("inputs", ())),
                command=tuple(source["command"]) if source.get("command") is not None else None,
                pids=tuple(source.get("pids", ())),
            ),
            window=_build(Window, data.get("window", {})),
            processes=tuple(_build(ProcessEntry, p) for p in data.get("processes", [])),
            leaks=tuple(_leak_from(leak) for leak in data.get("leaks", [])),
            open_fds=tuple(_build(FdEntry, e) for e in data.get("open_fds", [])),
            groups=tuple(_build(Group, g, pids=tuple(g.get("pids", ()))) for g in data.get("groups", [])),
            fd_errors=tuple(_build(FdError, e) for e in data.get("fd_errors", [])),
            warnings=tuple(data.get("warnings", ())),
            series=tuple(_series_from(s) for s in data.get("series", [])),
            roles=tuple(
                _build(RoleTrend, r, trend=_build(Trend, r["trend"]) if r.get("trend") else None)
                for r in data.get("roles", [])
            ),
            timeline=tuple(
                _build(Timeline, t, samples=tuple((float(ts), int(n)) for ts, n in t.get("samples", [])))
                for t in data.get("timeline", [])
            ),
            tool_version=data.get("tool", {}).get("version", "unknown"),
            schema=data.get("schema", SCHEMA),
        )


_DEFAULTS: dict[str, Any] = {"pids": (), "examples": (), "frames": ()}


def _build(cls: Any, data: dict[str, Any], **override: Any) -> Any:
    values = {}
    for f in fields(cls):
        if f.name in override:
            values[f.name] = override[f.name]
        elif f.name in data:
            values[f.name] = data[f.name]
        elif f.default is not MISSING:  # a key an older writer did not have yet
            values[f.name] = f.default
        else:
            values[f.name] = _DEFAULTS.get(f.name)
    return cls(**values)


def _series_json(series: Series) -> dict[str, Any]:
    out = asdict(series)
    out["samples"] = [list(sample) for sample in series.samples]
    return out


def _timeline_json(timeline: Timeline) -> dict[str, Any]:
    return asdict(timeline) | {"samples": [list(sample) for sample in timeline.samples]}


def _series_from(data: dict[str, Any]) -> Series:
    trend = data.get("trend")
    series: Series = _build(
        Series,
        data,
        samples=tuple((float(t), int(n)) for t, n in data.get("samples", [])),
        trend=_build(Trend, trend) if trend else None,
    )
    return series


def _leak_json(leak: Leak) -> dict[str, Any]:
    out = asdict(leak)
    out["pids"] = list(leak.pids)
    out["examples"] = [asdict(e) for e in leak.examples]
    if leak.origin is not None:
        out["origin"] = {"task": leak.origin.task, "frames": [asdict(f) for f in leak.origin.frames]}
    return out


def _leak_from(data: dict[str, Any]) -> Leak:
    origin = data.get("origin")
    leak: Leak = _build(
        Leak,
        data,
        pids=tuple(data.get("pids", ())),
        examples=tuple(_build(FdEntry, e) for e in data.get("examples", [])),
        origin=Origin(origin.get("task"), tuple(_build(Frame, f) for f in origin.get("frames", [])))
        if origin
        else None,
    )
    return leak


__all__ = [
    "CONFIDENCES",
    "SCHEMA",
    "FdEntry",
    "Frame",
    "Group",
    "Leak",
    "Origin",
    "ProcessEntry",
    "Report",
    "Window",
]
