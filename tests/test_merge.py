"""fdleak merge and the report joins, on reports written by fdleak's own model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import run_fdleak, validate_report
from fdleak.analysis.merge import merge_reports, with_origins
from fdleak.model.observation import SourceInfo
from fdleak.model.report import FdEntry, Frame, Leak, Origin, ProcessEntry, Report, Window
from fdleak.views import json_view

ORIGIN = Origin("proj.tasks.export", (Frame("proj/tasks.py", 12, "export"),))


def leak(pid: int, fd: int, count: int, confidence: str, origin: Origin | None = ORIGIN) -> Leak:
    example = FdEntry(pid, fd, "file", f"/tmp/report_{pid}.csv", "open", 100.0 + pid, None)
    return Leak("L1", "file", "/tmp/report_*.csv", count, count, 0, (pid,), 100.0, 110.0, 6.0,
                confidence, "kept", (example,), origin)  # fmt: skip


def report(pid: int, *leaks: Leak, mode: str = "python") -> Report:
    process = ProcessEntry(pid, 1, "celery worker", False, None, 3, 0, 3)
    return Report(SourceInfo(mode=mode, pids=(pid,)), Window(100.0, 120.0, 10, 0, 0), (process,), leaks, ())


def test_the_same_leak_in_two_processes_is_one_with_both_pids_and_the_higher_confidence() -> None:
    merged = merge_reports([report(11, leak(11, 7, 3, "high")), report(12, leak(12, 9, 2, "low"))])
    (joined,) = merged.leaks
    assert (joined.count, joined.pids, joined.confidence, joined.id) == (5, (11, 12), "high", "L1")
    assert merged.source.pids == (11, 12) and len(merged.processes) == 2


def test_leaks_from_different_lines_stay_apart() -> None:
    other = Origin("proj.tasks.export", (Frame("proj/tasks.py", 40, "export"),))
    merged = merge_reports([report(11, leak(11, 7, 3, "high"), leak(11, 8, 1, "low", other))])
    assert [x.count for x in merged.leaks] == [3, 1]


def test_origins_join_by_pid_fd_and_time_only() -> None:
    strace = report(11, leak(11, 7, 3, "high", origin=None), mode="strace")
    assert with_origins(strace, report(11, leak(11, 7, 3, "low"))).leaks[0].origin == ORIGIN
    assert with_origins(strace, report(12, leak(12, 7, 3, "low"))).leaks[0].origin is None  # another pid
    other_target = replace(leak(11, 8, 3, "low"), signature="/var/cache/*.db")
    assert with_origins(strace, report(11, other_target)).leaks[0].origin is None  # another fd and target


def test_an_origin_joins_by_signature_when_the_examples_show_other_fds() -> None:
    # each report keeps a few examples: the Python one may show older fds of the same leak
    strace = report(11, leak(11, 7, 3, "high", origin=None), mode="strace")
    assert with_origins(strace, report(11, leak(11, 8, 3, "low"))).leaks[0].origin == ORIGIN
    other = Origin("proj.tasks.other", (Frame("proj/tasks.py", 40, "other"),))
    two = report(11, leak(11, 8, 3, "low"), leak(11, 9, 1, "low", other))
    assert with_origins(strace, two).leaks[0].origin is None  # two candidates: no guess


def test_fdleak_merge_reads_a_directory_and_skips_half_written_files(tmp_path: Path) -> None:
    json_view.write(report(11, leak(11, 7, 3, "high")), str(tmp_path / "fdleak-python-11.json"))
    json_view.write(report(12, leak(12, 9, 2, "medium")), str(tmp_path / "fdleak-python-12.json"))
    (tmp_path / ".fdleak-x1.json").write_text('{"schema": "fdleak.rep')  # a killed writer's
    proc = run_fdleak("merge", "--json", "-", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    merged = json.loads(proc.stdout)
    validate_report(merged)
    assert merged["leaks"][0]["count"] == 5 and merged["leaks"][0]["origin"]["task"] == "proj.tasks.export"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("merge", "/nonexistent/reports"), "fdleak: no such file or directory: /nonexistent/reports"),
        (("merge", "/etc/hostname"), "fdleak: /etc/hostname is not a valid fdleak report"),
        (("analyze",), "fdleak: nothing to analyze; give strace log(s), or --python DIR"),
        (("celery",), "fdleak: no command given; put it after --: fdleak celery -- celery -A proj worker"),
        (("celery", "--", "no-such-command-xyz"), "fdleak: command not found: no-such-command-xyz"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args: tuple[str, ...], message: str) -> None:
    proc = run_fdleak(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
