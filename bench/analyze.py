"""Benchmark: fdleak analyze on a >= 1 GB strace log of real traced activity.

Builds the log once (cached in bench/out/) by tracing bench/workloads/busy_worker.py,
a prefork worker with Celery-like fd traffic and a slow leak, with the strace options
fdleak itself uses. Then, on the same file in the page cache, it times `wc -l`,
`grep -c`, a naive one-regex Python loop, and `fdleak analyze` (wall time and peak
RSS), and repeats fdleak on a quarter of the log to show memory does not grow with
length. Prints figures with the targets beside them; always exits 0.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from fdleak.sources.strace.decode import FD_SYSCALLS  # noqa: E402

TARGET_LINES_PER_S = 1_500_000
TARGET_RSS_MB = 200
BYTES_PER_LINE = 110  # about what this workload's lines average; only used to know when to stop


def build_log(log: Path, lines: int) -> None:
    print(
        f"building {log.name}: tracing bench/workloads/busy_worker.py until ~{lines:,} lines ...", flush=True
    )
    strace = shutil.which("strace") or sys.exit("strace is not installed (apt-get install strace)")
    started = time.monotonic()
    tracer = subprocess.Popen(
        [
            strace,
            "-f",
            "-ttt",
            "-y",
            "-s",
            "256",
            "--seccomp-bpf",
            "-e",
            f"trace={FD_SYSCALLS}",
            "-o",
            str(log),
            sys.executable,
            str(ROOT / "bench" / "workloads" / "busy_worker.py"),
        ],
        start_new_session=True,
    )
    try:
        while tracer.poll() is None and (not log.exists() or log.stat().st_size < lines * BYTES_PER_LINE):
            time.sleep(2)
            size = log.stat().st_size if log.exists() else 0
            print(f"  {size / 1e6:,.0f} MB after {time.monotonic() - started:.0f} s", flush=True)
    finally:
        workload = _child_of(tracer.pid)
        if workload:
            os.kill(workload, signal.SIGTERM)  # the worker stops its children, then strace ends
        try:
            tracer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(tracer.pid, signal.SIGKILL)
            tracer.wait()
    print(f"  traced for {time.monotonic() - started:.0f} s", flush=True)


def _child_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    return time.perf_counter() - started, out


def fdleak_run(log: Path) -> tuple[float, float, float]:
    """Wall seconds, main process peak RSS MB, largest worker peak RSS MB (a fresh
    measuring process each time: RUSAGE_CHILDREN is a maximum over all children)."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import resource, sys; "
        "from fdleak.cli.main import main; "
        "rc = main(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)', "
        f"'analyze', '-q', '--json', '/dev/null', {str(log)!r}], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.PIPE, text=True)\n"
        "err = p.communicate()[1]\n"
        "wall = time.perf_counter() - t\n"
        "main_kb, worker_kb = err.split()[-2:]\n"
        "print(json.dumps([wall, int(main_kb) / 1024, int(worker_kb) / 1024]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    ).stdout
    wall, main_mb, worker_mb = (float(x) for x in out.strip().strip("[]").split(","))
    return wall, main_mb, worker_mb


def naive_loop(log: Path) -> float:
    pattern = re.compile(rb"^(\d+)\s+[\d.]+\s+(\w+)\(")
    started = time.perf_counter()
    count = 0
    with open(log, "rb") as handle:
        for line in handle:
            if pattern.match(line):
                count += 1
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="log size to build (default 10M lines)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--rebuild", action="store_true", help="trace a new log even if one is cached")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "busy_worker.strace"
    if args.rebuild or not log.exists() or log.stat().st_size < args.lines * BYTES_PER_LINE * 0.9:
        build_log(log, args.lines)

    strace_version = subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {strace_version}")
    size_mb = log.stat().st_size / 1e6
    timed(["cat", str(log)])  # into the page cache
    wc_s, wc_out = timed(["wc", "-l", str(log)])
    lines = int(wc_out.split()[0])
    grep_s, _ = timed(["grep", "-c", "openat", str(log)])
    naive_s = naive_loop(log)
    fd_s, main_mb, worker_mb = fdleak_run(log)

    quarter = args.out / "busy_worker.quarter.strace"
    with open(quarter, "w") as handle:
        subprocess.run(["head", "-n", str(lines // 4), str(log)], stdout=handle, check=True)
    _, q_main_mb, q_worker_mb = fdleak_run(quarter)
    quarter.unlink()

    print(f"log: {size_mb:,.0f} MB, {lines:,} lines ({log})")
    print(f"{'':24}{'seconds':>10}{'lines/s':>14}{'MB/s':>10}")
    for name, seconds in (
        ("wc -l", wc_s),
        ("grep -c openat", grep_s),
        ("naive regex loop", naive_s),
        ("fdleak analyze", fd_s),
    ):
        print(f"{name:<24}{seconds:>10.2f}{lines / seconds:>14,.0f}{size_mb / seconds:>10,.0f}")
    rate = lines / fd_s
    verdict = "ok" if rate >= TARGET_LINES_PER_S else "MISSED"
    print(f"fdleak target: >= {TARGET_LINES_PER_S:,} lines/s: {rate:,.0f} {verdict}")
    peak = max(main_mb, worker_mb)
    print(
        f"fdleak peak RSS: main {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB "
        f"(target < {TARGET_RSS_MB} MB each: {'ok' if peak < TARGET_RSS_MB else 'MISSED'})"
    )
    print(
        f"fdleak peak RSS on the first quarter: main {q_main_mb:.0f} MB, largest worker {q_worker_mb:.0f} MB "
        "(flat memory: these should match the full log's)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
