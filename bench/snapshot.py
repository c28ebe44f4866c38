"""Benchmark fdleak snapshot against lsof -p and psutil, and fdleak watch's own CPU use.

A holder process (tests/procfs_workloads/holder.py --mixed N) holds N fds of rotating
kinds: files, pipes, socketpairs, eventfds. For each N the whole commands are timed,
best of 3, output to /dev/null: `fdleak snapshot -p PID` (with its signature summary,
socket and pipe-peer resolution) against `lsof -n -P -p PID`, and psutil's
Process.open_files() in this process. Then `fdleak watch` samples 100 sleeping processes
every second and its CPU time is read from the kernel.

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
REPEAT = 3
WATCHED = 100
TARGET_WATCH_CPU = 0.02  # of one core


def best_of(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


# as after a normal install: bytecode cached (an editable checkout with
# PYTHONDONTWRITEBYTECODE set would recompile fdleak's modules on every run)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def command(*argv: str) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)

    run()  # warm: page cache, bytecode
    return run


def measure_size(size: int, scratch: Path) -> dict[str, float | int | str]:
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
        pid = announced["pid"]
        held = len(os.listdir(f"/proc/{pid}/fd"))
        fdleak = best_of(command(sys.executable, "-m", "fdleak", "snapshot", "-p", str(pid)))
        summary = best_of(command(sys.executable, "-m", "fdleak", "snapshot", "-p", str(pid), "--summary"))
        lsof_path = shutil.which("lsof")
        lsof = best_of(command(lsof_path, "-n", "-P", "-p", str(pid))) if lsof_path else float("nan")
        process = psutil.Process(pid)
        psutil_files = best_of(process.open_files)
        startup = best_of(command(sys.executable, "-m", "fdleak", "--version"))
        return {"asked": size, "fds": held, "fdleak": fdleak, "summary": summary, "lsof": lsof,
                "psutil": psutil_files, "startup": startup}  # fmt: skip
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=30)


def measure_watch(seconds: float) -> tuple[float, int]:
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
            [sys.executable, "-m", "fdleak", "watch", "-p", str(parent.pid), "--interval", "1s",
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
    print(f"fdleak snapshot vs lsof -p vs psutil: whole commands, best of {REPEAT}, output to /dev/null")
    print(f"(this machine's hard fd limit is {hard:,}; larger sizes are capped below it)\n")
    columns = ("fds held", "fdleak snapshot", "--summary", "lsof -p", "psutil", "verdict")
    print("{:>9} {:>16} {:>10} {:>9} {:>9} {:>8}".format(*columns))
    with tempfile.TemporaryDirectory(prefix="fdleak-bench-") as scratch:
        for size in (int(s) for s in args.sizes.split(",")):
            asked = min(size, hard - 1000)
            row = measure_size(asked, Path(scratch))
            verdict = "faster" if row["fdleak"] < row["lsof"] else "SLOWER"
            note = "" if asked == size else f"  (asked {size:,}: capped by the hard limit)"
            print(
                f"{row['fds']:>9,} {row['fdleak']:>15.3f}s {row['summary']:>9.3f}s {row['lsof']:>8.3f}s "
                f"{row['psutil']:>8.3f}s {verdict:>8}{note}"
            )
        print(f"\nfdleak's own start-up (fdleak --version): {row['startup']:.3f}s")
    short, _ = measure_watch(1.0)  # start-up, discovery and the first samples
    cpu, watched = measure_watch(args.watch_seconds)
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
