"""fdleak run: a real command under real strace, streamed, bounded, and never left behind."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import analyze_json, need_tool, run_fdleak, validate_report

pytestmark = pytest.mark.strace

LEAKY = """
import os
keep = []
for i in range(30):
    keep.append(open(os.path.join({dir!r}, f"kept_{{i}}.txt"), "w"))
    with open(os.path.join({dir!r}, "closed.txt"), "w") as f:
        f.write("x")
print("done", flush=True)
os._exit(3)
"""

FOREVER = """
import time
keep = []
print("ready", flush=True)
while True:
    keep.append(open({path!r}))
    time.sleep(0.05)
"""


def script(tmp_path: Path, text: str, **values: str) -> str:
    path = tmp_path / f"workload_{uuid.uuid4().hex[:8]}.py"
    path.write_text(text.format(**values))
    return str(path)


def processes_running(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                continue
    return found


def test_run_reports_the_leak_and_the_commands_exit_status(tmp_path: Path) -> None:
    need_tool("strace")
    program = script(tmp_path, LEAKY, dir=str(tmp_path))
    out = tmp_path / "report.json"
    proc = run_fdleak("run", "--json", str(out), "--", sys.executable, program)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["source"]["mode"] == "strace" and report["source"]["command"] == [sys.executable, program]
    (leak,) = [leak for leak in report["leaks"] if leak["confidence"] != "low"]
    assert leak["signature"].endswith("/kept_*.txt") and leak["count"] == 30
    assert report["processes"][0]["exit_status"] == 3
    assert "exited with status 3" in proc.stderr
    assert "done" in proc.stdout  # the command's own output still reaches the terminal


# the command's own TZ, and its tracer's: strace execs it (through setpriv, which execs too)
SHOW_TZ = """
import os
tracer = dict(v.split("=", 1) for v in open(f"/proc/{os.getppid()}/environ").read().split("\\0") if "=" in v)
print("command", os.environ.get("TZ", "unset"), "tracer", tracer.get("TZ", "unset"), flush=True)
"""


@pytest.mark.parametrize("own", [None, "Europe/Paris"])
def test_strace_runs_with_a_tz_and_the_command_with_its_own(own: str | None) -> None:
    """A TZ spares strace a stat of /etc/localtime per line (see live.STRACE_TZ); the
    command's environment must stay exactly its own."""
    need_tool("strace")
    env = {k: v for k, v in os.environ.items() if k != "TZ"} | ({"TZ": own} if own else {})
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", "run", "--no-python", "--", sys.executable, "-c", SHOW_TZ],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"command {own or 'unset'} tracer UTC" in proc.stdout


def test_run_of_a_clean_command_finds_nothing(tmp_path: Path) -> None:
    need_tool("strace")
    proc = run_fdleak("run", "--", sys.executable, "-c", "open('/etc/hostname').close()")
    assert proc.returncode == 0, proc.stderr
    assert "no leak found" in proc.stdout


def test_keep_trace_saves_the_log_analyze_agrees(tmp_path: Path) -> None:
    need_tool("strace")
    program = script(tmp_path, LEAKY, dir=str(tmp_path))
    kept = tmp_path / "trace.txt"
    proc = run_fdleak(
        "run", "--keep-trace", str(kept), "--json", str(tmp_path / "r.json"), "--", sys.executable, program
    )
    assert proc.returncode == 1, proc.stderr
    status, report, _ = analyze_json(tmp_path, kept)
    live = json.loads((tmp_path / "r.json").read_text())
    assert status == 1
    found = [(leak["signature"], leak["count"]) for leak in report["leaks"]]
    assert found == [(leak["signature"], leak["count"]) for leak in live["leaks"]]
    assert report["window"]["lines"] == live["window"]["lines"]


RELATIVE_AND_PIPES = """
import os
os.chdir({dir!r})
keep = []
for i in range(30):
    keep.append(open(f"kept_{{i}}.txt", "w"))
    keep.append(os.pipe())
os._exit(0)
"""


@pytest.mark.parametrize("fd_paths", [True, False])
def test_no_fd_paths_runs_strace_without_y(tmp_path: Path, fd_paths: bool) -> None:
    """Without -y the leaks are still found; what strace no longer resolves is missing."""
    need_tool("strace")
    program = script(tmp_path, RELATIVE_AND_PIPES, dir=str(tmp_path))
    out, kept = tmp_path / "report.json", tmp_path / "trace.txt"
    option = [] if fd_paths else ["--no-fd-paths"]
    proc = run_fdleak(
        "run",
        *option,
        "--no-python",
        "--keep-trace",
        str(kept),
        "--json",
        str(out),
        "--",
        sys.executable,
        program,
    )
    assert proc.returncode == 1, proc.stderr
    found = {leak["signature"]: leak["count"] for leak in json.loads(out.read_text())["leaks"]}
    if fd_paths:
        # the directory, as a signature: a glob that its numbered parts are starred in
        (directory,) = [
            signature[: -len("/kept_*.txt")] for signature in found if signature.endswith("/kept_*.txt")
        ]
        assert fnmatch.fnmatchcase(str(tmp_path), directory)
        assert found == {f"{directory}/kept_*.txt": 30, "pipe:[*]": 60}
        assert "AT_FDCWD</" in kept.read_text()
    else:
        assert found == {"kept_*.txt": 30, "pipe": 60}
        assert "no -y: relative paths show without their directory" in proc.stderr
        assert "AT_FDCWD</" not in kept.read_text() and "AT_FDCWD," in kept.read_text()


def test_duration_ends_the_trace_and_the_command(tmp_path: Path) -> None:
    need_tool("strace")
    program = script(tmp_path, FOREVER, path="/etc/hostname")
    started = time.monotonic()
    proc = run_fdleak("run", "--duration", "2s", "--json", "-", "--", sys.executable, program)
    assert time.monotonic() - started < 20
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert any("stopped before the command ended" in w for w in report["warnings"])
    assert report["leaks"][0]["signature"] == "/etc/hostname"
    assert processes_running(program) == []


@pytest.mark.parametrize("options", [(), ("--no-python",)], ids=["tracked", "no-python"])
def test_a_python_commands_leak_carries_the_line_that_opened_it(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    need_tool("strace")
    program = script(tmp_path, FOREVER, path="/etc/hostname")
    line = next(
        n for n, text in enumerate(Path(program).read_text().splitlines(), 1) if "keep.append" in text
    )
    out = tmp_path / "r.json"
    proc = run_fdleak("run", *options, "--duration", "3s", "--json", str(out), "--", sys.executable, program)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(out.read_text())
    validate_report(report)
    (leak,) = report["leaks"]
    if options:
        assert leak["origin"] is None
        return
    # the tracker in the command wrote where each fd came from; fdleak joined it by pid and fd
    assert leak["origin"]["frames"][-1] == {"file": program, "line": line, "function": "<module>"}
    assert f"opened at {program}:{line} in <module>" in proc.stdout


def test_ctrl_c_still_prints_the_report(tmp_path: Path) -> None:
    need_tool("strace")
    program = script(tmp_path, FOREVER, path="/etc/hostname")
    out = tmp_path / "r.json"
    fdleak = subprocess.Popen(
        [sys.executable, "-m", "fdleak", "run", "--json", str(out), "--", sys.executable, program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert fdleak.stdout is not None
    assert fdleak.stdout.readline().strip() == "ready"
    time.sleep(1)
    fdleak.send_signal(signal.SIGINT)
    _, stderr = fdleak.communicate(timeout=30)
    assert fdleak.returncode == 1, stderr
    report = json.loads(out.read_text())
    validate_report(report)
    assert report["leaks"][0]["count"] >= 10
    assert processes_running(program) == []


FORKING = """
import os, time
failures = os.open({marker!r}, os.O_WRONLY | os.O_APPEND)
child = os.fork()
if child:
    print("ready", flush=True)
keep = []
while True:
    try:
        keep.append(open("/etc/hostname"))
        keep.pop().close()
    except OSError as error:  # ENOSYS: running on after its tracer, under seccomp-bpf
        os.write(failures, f"{{os.getpid()}} {{error}}\\n".encode())  # write() is never traced
    time.sleep(0.01)
"""


@pytest.mark.parametrize(("options", "rounds"), [((), 20), (("--no-seccomp",), 10)])
def test_killing_fdleak_ends_strace_and_every_process_of_the_command(
    tmp_path: Path, options: tuple[str, ...], rounds: int
) -> None:
    need_tool("strace")
    marker = tmp_path / "failures.txt"
    marker.touch()
    program = script(tmp_path, FORKING, marker=str(marker))
    scratch = tmp_path / "tmp"  # fdleak's $TMPDIR: what a kill -9 leaves there is seen
    scratch.mkdir()
    for round_ in range(rounds):
        fdleak = subprocess.Popen(
            [sys.executable, "-m", "fdleak", "run", *options, "--", sys.executable, program],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, TMPDIR=str(scratch)),
        )
        assert fdleak.stdout is not None
        assert fdleak.stdout.readline().strip() == "ready"
        # fdleak, strace, the command and its child (and the guard under seccomp-bpf)
        assert len(processes_running(program)) >= 4
        time.sleep(0.01 * (round_ % 7))  # at different moments of the command's loop
        fdleak.kill()
        fdleak.wait()
        fdleak.stdout.close()
        deadline = time.monotonic() + 1
        while processes_running(program) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert processes_running(program) == [], f"round {round_}: a process outlived fdleak"
    assert marker.read_text() == ""  # no process ever ran on untraced with failing calls
    # strace's FIFO is unlinked once both ends are open; the directory the tracked Python
    # processes write their reports to stays (they were killed before writing any)
    left = sorted(scratch.iterdir())
    assert [path.name for path in left if not path.name.startswith("fdleak-origins-")] == []
    assert [list(path.iterdir()) for path in left] == [[]] * len(left)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ("run", "--", "no-such-command-anywhere"),
            {},
            "fdleak: command not found: no-such-command-anywhere",
        ),
        (("run",), {}, "fdleak: no command given; put it after --: fdleak run -- python app.py"),
        (
            ("run", "--", sys.executable, "-c", "pass"),
            {"PATH": "/nonexistent"},
            "fdleak: strace is not installed; install it: sudo apt-get install strace",
        ),
    ],
)
def test_run_bad_input(args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fdleak", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **env),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == message


def test_the_exit_line_shows_a_hostile_command_line_as_text() -> None:
    need_tool("strace")
    result = run_fdleak("run", "--no-python", "--", "/bin/echo", "[bold]x", "\x1b[31m")
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1] == "fdleak: /bin/echo [bold]x \\x1b[31m exited with status 0"
    )
