"""Shared test fixtures: running the CLI, capability gates, and clean-up checks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from differential import assert_same_reduction, compiled_built

# .ci/run sets this so that a missing install step fails instead of skipping.
STRICT = os.environ.get("FDLEAK_REQUIRE_ALL") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip the calling test when ``condition`` is false — or fail it under CI."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"required by CI (FDLEAK_REQUIRE_ALL=1): {reason}", pytrace=False)
    pytest.skip(reason)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed (apt-get install {name})")
    assert path is not None
    return path


def run_fdleak(
    *args: str, stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a user would, and capture its output.

    Every log an analyze test hands in is also reduced by the compiled and the
    pure-Python loops in this process, which must agree (tests/differential.py).
    """
    if args and args[0] == "analyze" and compiled_built():
        for before, arg in pairwise(args):
            if before != "--json" and Path(arg).is_file():
                assert_same_reduction(Path(arg))
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "fdleak", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def analyze_json(
    tmp_path: Path, *logs: str | Path, extra: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any], str]:
    """``fdleak analyze --json`` on ``logs``: (exit status, report, stderr)."""
    out = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    proc = run_fdleak("analyze", "--json", str(out), *extra, *map(str, logs))
    assert proc.returncode in (0, 1), f"analyze failed ({proc.returncode}): {proc.stderr}"
    report = json.loads(out.read_text())
    validate_report(report)
    return proc.returncode, report, proc.stderr


def validate_report(report: dict[str, Any]) -> None:
    """Every report a test produces must meet the published contract."""
    import jsonschema

    schema = json.loads((files("fdleak") / "schema" / "report-1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)


def proc_fds(pid: int) -> dict[int, str]:
    """Ground truth: the fds /proc shows for ``pid`` and what each points to."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:  # closed between the listing and the readlink
            continue
    return found


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def _children() -> set[int]:
    pids = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            children = Path(f"/proc/{os.getpid()}/task/{task}/children").read_text().split()
        except OSError:
            continue
        pids.update(int(p) for p in children)
    return pids


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail a test that leaves a child process running or leaks an fd itself."""
    fds_before, children_before = _open_fds(), _children()
    yield
    left = _children() - children_before
    for pid in left:  # reap them anyway so one bad test does not poison the rest
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    assert not left, f"test left child processes running: {sorted(left)}"
    leaked = _open_fds() - fds_before
    # an fd listed before but gone now is fine; one the test opened and kept is not
    leaked = {fd for fd in leaked if os.path.exists(f"/proc/self/fd/{fd}")}
    assert not leaked, f"test leaked fds: {sorted(leaked)}"


def run_cli_as_nobody(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in a forked child that has dropped root: the kernel's own permission checks."""
    read_out, write_out = os.pipe()
    read_err, write_err = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_out)
            os.close(read_err)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with (
                open(write_out, "w") as out,
                open(write_err, "w") as err,
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                from fdleak.cli.main import main

                status = main(argv)
                out.flush()
                err.flush()
        except BaseException:
            status = 99
        os._exit(status)
    os.close(write_out)
    os.close(write_err)
    with open(read_out) as out, open(read_err) as err:
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), stdout, stderr


HOLDER = Path(__file__).parent / "procfs_workloads" / "holder.py"


class Holder:
    """A running tests/procfs_workloads/holder.py and the fds it says it holds."""

    def __init__(self, proc: subprocess.Popen[str], announced: dict[str, Any]) -> None:
        self.proc = proc
        self.pid: int = announced["pid"]
        self.fds: dict[int, str] = {int(k): v for k, v in announced["fds"].items()}
        self.child: int | None = announced["child"]


def end_child(proc: subprocess.Popen[Any], signum: int | None = None, timeout: float = 10) -> None:
    """End a child a test started: close its stdin (or send it ``signum``), wait up to
    ``timeout`` s, kill it if it is still there, then close its pipes."""
    if signum is None:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
    elif proc.poll() is None:
        proc.send_signal(signum)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


@contextlib.contextmanager
def holder(tmp_path: Path, *args: str) -> Iterator[Holder]:
    """Start the holder with ``args``, wait for its JSON line, stop and reap it after."""
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), "--dir", str(tmp_path), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the holder died before it was ready"
        yield Holder(proc, json.loads(line))
    finally:
        end_child(proc)


def read_pty(main: int) -> str:
    """All a program wrote to the pty whose main side is ``main``, until it closed its side;
    closes ``main``."""
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")
