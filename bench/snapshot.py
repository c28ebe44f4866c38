"""Benchmark fdleak snapshot against lsof -p and psutil, and fdleak watch's own CPU use.

A holder process (tests/procfs_workloads/holder.py --mixed N) holds N fds of rotating
kinds: files, pipes, socketpairs, eventfds. For each N the whole commands are timed as a
user runs them, in alternating rounds, best of 5, output to /dev/null: `fdleak snapshot -p
PID` (the console script pip installed next to this Python, with its signature summary,
socket and pipe-peer resolution) against `lsof -n -P -p PID`, and psutil's
Process.open_files() in this process. Wall time is the verdict; each command's CPU time
(user + system, from wait4) is shown too. Then `fdleak watch` samples 100 sleeping
processes every second and its CPU time is read from the kernel.

Run it with the Python of an environment where this checkout is installed
(`pip install -e .`): its `fdleak` script is what is measured.

    python bench/snapshot.py [--sizes 1000,10000,100000] [--watch-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from procs import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
HOLDER = ROOT / "tests" / "procfs_workloads" / "holder.py"
REPEAT = 5
WATCHED = 100
TARGET_WATCH_CPU = 0.02  # of one core

# as after a normal install: bytecode cached (an editable checkout with
# PYTHONDONTWRITEBYTECODE set would recompile fdleak's modules on every run)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

Timing = tuple[float, float]  # (wall, CPU) seconds


def fdleak_command() -> list[str]:
    """The console script pip wrote next to this Python, if it runs this checkout."""
    script = Path(sys.executable).parent / "fdleak"
    check = "import fdleak, sys; print(fdleak.__file__)"
    if script.exists():
        found = subprocess.run(
            [sys.executable, "-c", check], capture_output=True, text=True, check=False, env=ENV, cwd="/"
        ).stdout.strip()
        if Path(found).resolve().is_relative_to(ROOT / "src"):
            return [str(script)]
    print(f"note: no fdleak script for this checkout next to {sys.executable}; timing python -m fdleak\n")
    return [sys.executable, "-m", "fdleak"]


def command(*argv: str) -> Callable[[], Timing]:
    def run() -> Timing:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, argv)
        return wall, usage.ru_utime + usage.ru_stime

    run()  # warm: page cache, bytecode
    return run


def in_process(call: Callable[[], object]) -> Callable[[], Timing]:
    def run() -> Timing:
        started, cpu = time.perf_counter(), time.process_time()
        call()
        return time.perf_counter() - started, time.process_time() - cpu

    return run


def best_of(runs: dict[str, Callable[[], Timing]]) -> dict[str, Timing]:
    """Each run REPEAT times, in alternating rounds so that load from elsewhere on the
    machine falls on all of them alike; the least wall and the least CPU time of each."""
    seen: dict[str, list[Timing]] = {name: [] for name in runs}
    for _ in range(REPEAT):
        for name, run in runs.items():
            seen[name].append(run())
    return {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in seen.items()}


def measure_size(size: int, scratch: Path, fdleak: list[str]) -> tuple[int, dict[str, Timing]]:
    """(fds held, best timings) for a holder of ``size`` fds."""
    holder = subprocess.Popen(
        [sys.executable, str(HOLDER), "--dir", str(scratch), "--mixed", str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(9),
    )
    try:
        assert holder.stdout is not None
        announced = json.loads(holder.stdout.readline())
        pid = str(announced["pid"])
        held = len(os.listdir(f"/proc/{pid}/fd"))
        runs = {
            "fdleak": command(*fdleak, "snapshot", "-p", pid),
            "summary": command(*fdleak, "snapshot", "-p", pid, "--summary"),
            "psutil": in_process(psutil.Process(int(pid)).open_files),
        }
        lsof_path = shutil.which("lsof")
        if lsof_path:
            runs["lsof"] = command(lsof_path, "-n", "-P", "-p", pid)
        timings = best_of(runs)
        timings.setdefault("lsof", (float("nan"), float("nan")))
        return held, timings
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=30)


def startup(fdleak: list[str]) -> dict[str, Timing]:
    """What every run pays before reading /proc: the interpreter, then fdleak's imports."""
    return best_of(
        {
            "python -I -c pass": command(sys.executable, "-I", "-c", "pass"),
            "python -c pass": command(sys.executable, "-c", "pass"),
            "fdleak --version": command(*fdleak, "--version"),
        }
    )


def measure_watch(seconds: float, fdleak: list[str]) -> tuple[float, int]:
    """CPU seconds `fdleak watch` used sampling WATCHED processes every second for ``seconds``."""
    program = (
        f"import os, time\nfor _ in range({WATCHED - 1}):\n"
        "    if os.fork() == 0:\n        time.sleep(3600)\n"
        "print('ready', flush=True)\ntime.sleep(3600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=die_with_parent(9),
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        parent.stdout.readline()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        watch = subprocess.run(
            [*fdleak, "watch", "-p", str(parent.pid), "--interval", "1s",
             "--duration", f"{seconds}s", "--json", os.devnull, "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        watched = int(watch.stderr.split("watching ")[1].split()[0]) if "watching " in watch.stderr else 0
        return cpu, watched
    finally:
        os.killpg(parent.pid, 9)
        parent.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--watch-seconds", type=float, default=30.0)
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    fdleak = fdleak_command()
    print(f"fdleak snapshot vs lsof -p vs psutil: whole commands, best of {REPEAT}, output to /dev/null")
    print(f"fdleak: {' '.join(fdleak)}")
    print(f"(this machine's hard fd limit is {hard:,}; larger sizes are capped below it)\n")
    columns = ("fds held", "fdleak snapshot", "(CPU)", "--summary", "lsof -p", "(CPU)", "psutil", "verdict")
    print("{:>9} {:>16} {:>8} {:>10} {:>9} {:>8} {:>9} {:>8}".format(*columns))
    with tempfile.TemporaryDirectory(prefix="fdleak-bench-") as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            asked = min(size, hard - 1000)
            held, row = measure_size(asked, Path(scratch), fdleak)
            (fd_wall, fd_cpu), (ls_wall, ls_cpu) = row["fdleak"], row["lsof"]
            verdict = "faster" if fd_wall < ls_wall else "SLOWER"
            note = "" if asked == size else f"  (asked {size:,}: capped by the hard limit)"
            print(
                f"{held:>9,} {fd_wall:>15.3f}s {fd_cpu:>7.3f}s {row['summary'][0]:>9.3f}s {ls_wall:>8.3f}s "
                f"{ls_cpu:>7.3f}s {row['psutil'][0]:>8.3f}s {verdict:>8}{note}"
            )
    print(f"\nstart-up, best of {REPEAT}:")
    for name, (wall, cpu) in startup(fdleak).items():
        print(f"  {name:<20} {wall:.3f}s (CPU {cpu:.3f}s)")
    short, _ = measure_watch(1.0, fdleak)  # start-up, discovery and the first samples
    cpu, watched = measure_watch(args.watch_seconds, fdleak)
    steady = (cpu - short) / (args.watch_seconds - 1.0)
    whole = cpu / args.watch_seconds
    verdict = "met" if steady < TARGET_WATCH_CPU else "MISSED"
    print(
        f"\nfdleak watch, {watched} processes every 1 s for {args.watch_seconds:g} s: {cpu:.2f} s CPU, "
        f"{whole:.1%} of one core with start-up; sampling alone {steady:.1%} "
        f"(a 1 s run took {short:.2f} s; target < {TARGET_WATCH_CPU:.0%}: {verdict})"
    )


if __name__ == "__main__":
    main()
