"""How a Celery task's start and end reach fdleak: the wrapped tracer, or the signals.

Real Celery tasks run eagerly (Task.apply: Celery's own tracer, no broker) in a child
Python, as tests/celery_python/eager.py; the worker pools are tests/test_celery_python.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import validate_report

APP_DIR = Path(__file__).parent / "celery_python"
RUNS = 3
LEAKS = {
    "pytasks.leak_file": "file",
    "pytasks.leak_then_retry": "file",
    "pytasks.leak_under_own_hooks": "eventfd",
}


def leak_lines() -> dict[str, int]:
    lines = (APP_DIR / "pytasks.py").read_text().splitlines()
    return {m.group(1): n for n, text in enumerate(lines, 1) if (m := re.search(r"# LEAK: (\w+)", text))}


def run_eager(tmp_path: Path, way: str) -> dict[str, Any]:
    env = dict(
        os.environ,
        CELERY_BROKER_URL="redis://127.0.0.1:9/0",  # never connected to: eager tasks
        FDLEAK_TEST_DIR=str(tmp_path),
        PYTHONPATH=os.pathsep.join([str(APP_DIR), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, str(APP_DIR / "eager.py"), way, str(RUNS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout), log=proc.stderr)


@pytest.mark.parametrize("way", ["tracer", "signals"])
def test_each_leaky_task_and_line_whichever_way_in(tmp_path: Path, way: str) -> None:
    out = run_eager(tmp_path, way)
    assert out["way_in"] == way
    # the tracer's way connects no signal receiver: Celery then sends no signal at all
    assert out["receivers"] == (0 if way == "tracer" else 2)
    report = out["report"]
    validate_report(report)
    lines = leak_lines()
    found = {leak["origin"]["task"]: leak for leak in report["leaks"]}
    assert set(found) == set(LEAKS), sorted(found)
    for task, kind in LEAKS.items():
        leak = found[task]
        assert (leak["kind"], leak["count"], leak["confidence"]) == (kind, RUNS, "high"), leak
        frame = leak["origin"]["frames"][-1]
        function = task.split(".")[1]
        assert (Path(frame["file"]).name, frame["line"], frame["function"]) == (
            "pytasks.py",
            lines[function],
            function,
        )
    # each run counted once: a retry is a run of its own; the stored tracer's run one more
    assert out["runs"] == {
        "pytasks.leak_file": RUNS,
        "pytasks.leak_then_retry": 2 * RUNS,
        "pytasks.leak_under_own_hooks": RUNS,
        "pytasks.clean_file": RUNS + 1,
    }
    assert not out["wrapped_twice"]
    assert "task pytasks.clean_file[" not in out["log"]
    assert f"pytasks.py:{lines['leak_then_retry']} in leak_then_retry (open)" in out["log"]


class _Broken:
    """A tracking whose start fails, or whose end does."""

    def __init__(self, fails_at: str) -> None:
        self.fails_at = fails_at
        self.finished = 0

    def start(self) -> object:
        if self.fails_at == "start":
            raise RuntimeError("start failed")
        return object()

    def finish(self, run: object, name: str, task_id: str | None) -> None:
        self.finished += 1
        raise RuntimeError("finish failed")


@pytest.mark.parametrize("fails_at", ["start", "finish"])
def test_a_failure_of_fdleak_never_fails_the_task_and_is_said_once(
    fails_at: str, caplog: pytest.LogCaptureFixture
) -> None:
    from fdleak.python import celery_entry

    class Task:
        name = "proj.tasks.work"

    calls: list[tuple[str, tuple[Any, ...]]] = []

    def tracer(uuid: str, *args: Any) -> str:
        calls.append((uuid, args))
        return "result"

    broken = _Broken(fails_at)
    trace = celery_entry.accounted(tracer, Task(), broken)  # type: ignore[arg-type]
    assert celery_entry.accounted(trace, Task(), broken) is trace  # never wrapped twice
    caplog.set_level(logging.ERROR, logger="fdleak")
    celery_entry._complained = False
    assert [trace("id-1", (1,), {}), trace("id-2", (2,), {}, None)] == ["result", "result"]
    assert calls == [("id-1", ((1,), {})), ("id-2", ((2,), {}, None))]
    assert broken.finished == (2 if fails_at == "finish" else 0)  # no end without a start
    said = [r for r in caplog.records if "accounting failed" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is not None
    assert str(said[0].exc_info[1]) == f"{fails_at} failed"
