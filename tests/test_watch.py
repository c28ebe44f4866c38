"""fdleak watch on real processes: a leak is flagged fast; churn, pools and exits are not leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import holder, read_pty, run_fdleak, validate_report


def watch(*args: str) -> tuple[int, dict[str, Any], str]:
    proc = run_fdleak("watch", "--interval", "0.5s", "--json", "-", *args)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    return proc.returncode, report, proc.stderr


def test_a_leak_of_one_fd_per_100ms_is_flagged_within_10s(tmp_path: Path) -> None:
    with holder(tmp_path, "--leak-every", "0.1") as held:
        status, report, stderr = watch("-p", str(held.pid), "--duration", "10s")
    assert status == 1
    (leak,) = report["leaks"]
    assert leak["kind"] == "file" and leak["signature"].endswith("/leaky_*.txt")
    assert leak["pids"] == [held.pid] and leak["confidence"] == "high"
    (series,) = report["series"]
    trend = series["trend"]
    # 36,000 fds an hour, give or take the scheduler
    assert trend["growing"] and 25_000 < trend["rate_per_hour"] < 40_000 and trend["low_per_hour"] > 0
    assert trend["seconds_left"] == pytest.approx(
        (series["soft_limit"] - series["samples"][-1][1]) / (trend["rate_per_hour"] / 3600), rel=0.01
    )
    assert f"pid {held.pid} (process) is growing" in stderr
    # flagged early: the growth line names a count reached long before the 10 s were up
    grew_to = int(stderr.split("is growing")[1].split("→ ")[1].split()[0])
    assert grew_to < series["samples"][-1][1] - 30


def test_heavy_churn_at_a_steady_level_is_not_flagged(tmp_path: Path) -> None:
    with holder(tmp_path, "--churn", "300") as held:
        status, report, _ = watch("-p", str(held.pid), "--duration", "8s")
    assert status == 0 and report["leaks"] == []
    counts = [n for _, n in report["series"][0]["samples"]]
    assert max(counts) - min(counts) > 50  # the churn was real, and seen
    assert not report["series"][0]["trend"]["growing"]


def test_a_pool_that_fills_up_and_stays_is_not_flagged(tmp_path: Path) -> None:
    with holder(tmp_path, "--pool", "60") as held:
        status, report, _ = watch("-p", str(held.pid), "--duration", "8s")
    assert status == 0 and report["leaks"] == []
    counts = [n for _, n in report["series"][0]["samples"]]
    assert counts[-1] - counts[0] >= 30  # it did grow at first
    assert "levelled off" in report["series"][0]["trend"]["reason"]


def test_a_leak_spread_over_short_lived_children_is_found(tmp_path: Path) -> None:
    # each child lives 0.8 s: too few samples for a trend of its own, but all of them
    # gain fds with age
    with holder(tmp_path, "--recycle") as held:
        status, report, _ = watch("-p", str(held.pid), "--interval", "0.3s", "--duration", "8s")
    assert status == 1
    children = [s for s in report["series"] if s["role"] == "child"]
    assert len(children) >= 6 and not any(s["trend"] and s["trend"]["growing"] for s in children)
    (leak,) = report["leaks"]
    assert leak["signature"].endswith("/recycled_*.txt") and leak["confidence"] == "medium"
    assert "child processes, each too short-lived to judge alone" in leak["reason"]
    assert held.pid not in leak["pids"]
    (role,) = [r for r in report["roles"] if r["role"] == "child"]
    assert role["trend"]["growing"] and role["processes"] == len(children)


def test_a_process_that_exits_ends_the_watch_with_what_was_seen(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    try:
        started = time.monotonic()
        status, report, stderr = watch("-p", str(proc.pid), "--duration", "30s")
    finally:
        proc.wait()
    assert status == 0 and time.monotonic() - started < 15
    assert report["series"][0]["exited"] and report["processes"][0]["exited"]
    assert "stopped (every process exited)" in stderr


def test_sigterm_still_writes_the_report(tmp_path: Path) -> None:
    with holder(tmp_path, "--files", "3") as held:
        out = tmp_path / "w.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fdleak",
                "watch",
                "-p",
                str(held.pid),
                "--interval",
                "0.2s",
                "--json",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert len(report["series"][0]["samples"]) >= 3
    assert "stopped (interrupted)" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "999999999"), "fdleak: no process with pid 999999999; check the pid with: ps -p PID"),
        (
            ("--celery", "no-such-worker-anywhere"),
            "fdleak: no process to watch; check the pid or pattern with: fdleak ps",
        ),
        (("-p", "1", "--interval", "0"), "expected a duration above zero, got '0'"),
        (
            ("-p", "1", "--interval", "1ms"),
            "fdleak: --interval 0.001s is too short; sample at most every 50 ms",
        ),
    ],
)
def test_watch_bad_input(args: tuple[str, ...], message: str) -> None:
    proc = run_fdleak("watch", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_the_live_view_on_a_terminal(tmp_path: Path) -> None:
    import pty

    with holder(tmp_path, "--leak-every", "0.1") as held:
        main, secondary = pty.openpty()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fdleak",
                "watch",
                "-p",
                str(held.pid),
                "--interval",
                "0.3s",
                "--duration",
                "4s",
            ],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=dict(os.environ, COLUMNS="160", LINES="40", TERM="xterm"),
        )
        os.close(secondary)
        screen = read_pty(main)
        assert proc.wait(timeout=30) == 1
        assert proc.stderr is not None
        proc.stderr.close()
    assert "fdleak watch (Ctrl-C to stop)" in screen  # the live table was drawn, and redrawn
    assert screen.count("FDS/HOUR") >= 5
    assert "GROWING" in screen and "leaky_*.txt" in screen
    assert any(bar in screen for bar in "▂▃▄▅▆▇█")  # the sparkline
    assert "1 leak found" in screen  # then the report
