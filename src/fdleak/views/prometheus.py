"""The Prometheus text exposition format (version 0.0.4) of what fdleak exporter read.

Names follow Prometheus's conventions: base units (seconds, ratios), ``_total`` only on
counters, one HELP and TYPE line per family and its samples together. Label values
come from command lines, so they are hostile input: control characters become \\xNN
and the format's own escapes (backslash, double quote, newline) are applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from fdleak.model.metrics import ExporterMetrics, ProcessMetrics
from fdleak.views.escape import plain

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_Value = Callable[[ProcessMetrics], "float | int | None"]

# (name, help, value of a process or None to leave its sample out), all gauges
_PROCESS_GAUGES: tuple[tuple[str, str, _Value], ...] = (
    (
        "fdleak_process_fds",
        "Open file descriptors of the process, all kinds (the sum of fdleak_process_open_fds over kind).",
        lambda p: p.fds,
    ),
    (
        "fdleak_process_fd_soft_limit",
        "Soft limit on open file descriptors (RLIMIT_NOFILE): past it, open() fails with EMFILE.",
        lambda p: p.soft_limit,
    ),
    (
        "fdleak_process_fd_hard_limit",
        "Hard limit on open file descriptors (RLIMIT_NOFILE): the most the soft limit can be raised to.",
        lambda p: p.hard_limit,
    ),
    (
        "fdleak_process_fd_limit_used_ratio",
        "Open file descriptors as a fraction of the soft limit (1 means EMFILE on the next open).",
        lambda p: p.used,
    ),
    (
        "fdleak_process_fd_growth_per_second",
        "Growth of open file descriptors per second over the exporter's window "
        "(Theil-Sen slope of the samples it took at scrapes; absent before two samples).",
        lambda p: p.growth_per_second,
    ),
    (
        "fdleak_process_fd_leak_suspected",
        "1 when the open file descriptors keep growing over the window as fdleak watch judges it "
        "(rising with 95% confidence, still rising in the newer half, a new high in the newest third), "
        "else 0.",
        lambda p: int(p.leak_suspected),
    ),
    (
        "fdleak_process_start_time_seconds",
        "Start time of the process since the Unix epoch: with pid, its identity (pids are reused).",
        lambda p: p.start_time,
    ),
)


def render(processes: Sequence[ProcessMetrics], exporter: ExporterMetrics) -> str:
    """The /metrics page: every process's families, then the exporter's own."""
    lines: list[str] = []
    _family(
        lines,
        "fdleak_process_open_fds",
        "gauge",
        "Open file descriptors of the process by kind, from /proc/PID/fd "
        "(EMFILE errors are not visible in /proc: watch fdleak_process_fd_limit_used_ratio).",
        (
            (_labels(p, kind=kind), count)
            for p in processes
            for kind, count in p.kinds  # empty when the fds could not be listed
        ),
    )
    for name, help_text, value in _PROCESS_GAUGES:
        _family(lines, name, "gauge", help_text, ((_labels(p), value(p)) for p in processes))
    version = f'{{version="{_escape(exporter.version)}"}}'
    _family(lines, "fdleak_exporter_build_info", "gauge", "fdleak's version, as a label.", [(version, 1)])
    _family(
        lines,
        "fdleak_exporter_scrape_duration_seconds",
        "gauge",
        "Time this scrape spent reading /proc.",
        [("", exporter.scrape_seconds)],
    )
    _family(
        lines,
        "fdleak_exporter_scrapes_total",
        "counter",
        "Scrapes of /metrics since the exporter started.",
        [("", exporter.scrapes)],
    )
    _family(
        lines,
        "fdleak_exporter_processes",
        "gauge",
        "Processes the exporter watches at this scrape (the selected trees, exited ones gone).",
        [("", exporter.processes)],
    )
    _family(
        lines,
        "fdleak_exporter_window_seconds",
        "gauge",
        "The span fdleak_process_fd_growth_per_second and fdleak_process_fd_leak_suspected look back over.",
        [("", exporter.window_seconds)],
    )
    return "\n".join(lines) + "\n"


def _family(
    lines: list[str],
    name: str,
    kind: str,
    help_text: str,
    samples: Iterable[tuple[str, float | int | None]],
) -> None:
    lines.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2)}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples if value is not None)


def _labels(process: ProcessMetrics, **extra: str) -> str:
    pairs = {"pid": str(process.pid), "role": process.role, "app": process.app, **extra}
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs.items()) + "}"


def _escape(value: str) -> str:
    return plain(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, int):  # bool too
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
