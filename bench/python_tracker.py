"""Benchmark the in-process Python tracker: tight fd create/close loops, tracker off then on.

In one process: each loop runs untracked, then fdleak.python.tracker is installed and the
same loops run again; best of --rounds, --count iterations a round. Then a real Celery
worker's task throughput (Redis broker) untracked and under `fdleak celery`: fresh workers
timed in turn, then an untracked and a tracked worker running side by side (and, as a
control, two untracked ones). The loops call from a few frames deep, as application code
does, so the stack capture does some walking. Also the cost of a checkpoint (baseline +
diff of /proc/self/fd) at the end, and of a Celery task's own accounting.

    PYTHONPATH=src python bench/python_tracker.py [--count 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fdleak.python.tracker import Tracker

TARGET = 3.0  # tracked / untracked on the open/close loop


def open_close(path: str, count: int) -> None:
    for _ in range(count):
        with open(path, "rb"):
            pass


def os_open_close(path: str, count: int) -> None:
    for _ in range(count):
        os.close(os.open(path, os.O_RDONLY))


def pipe_close(_: str, count: int) -> None:
    for _ in range(count):
        read, write = os.pipe()
        os.close(read)
        os.close(write)


def socketpair_close(_: str, count: int) -> None:
    for _ in range(count):
        left, right = socket.socketpair()
        left.close()
        right.close()


LOOPS: list[tuple[str, Callable[[str, int], None]]] = [
    ("open()/close()", open_close),
    ("os.open/os.close", os_open_close),
    ("os.pipe/2x os.close", pipe_close),
    ("socketpair/2x close", socketpair_close),
]


def nested(depth: int, run: Callable[[], None]) -> None:
    """Run ``run`` ``depth`` Python frames down (application code is rarely at the top)."""
    if depth == 0:
        run()
    else:
        nested(depth - 1, run)


def best(loop: Callable[[str, int], None], path: str, count: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        nested(8, lambda: loop(path, count))
        times.append(time.perf_counter() - start)
    return min(times) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=2000, help="Celery tasks a batch (0: skip Celery)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from fdleak.python import tracker

    with tempfile.NamedTemporaryFile() as scratch:
        off = {name: best(loop, scratch.name, args.count, args.rounds) for name, loop in LOOPS}
        track = tracker.install()
        on = {name: best(loop, scratch.name, args.count, args.rounds) for name, loop in LOOPS}
        base = track.baseline()
        start = time.perf_counter()
        for _ in range(100):
            track.opened_since(track.baseline())
        checkpoint = (time.perf_counter() - start) / 100
        assert track.opened_since(base) == ()
        accounting, held = task_accounting(track, scratch.name, args.rounds)

    version = sys.version.split()[0]
    print(f"python {version}, {args.count} iterations, best of {args.rounds} rounds, 9 frames deep")
    print(f"{'loop':<22} {'untracked':>11} {'tracked':>11} {'ratio':>6}")
    for name, _ in LOOPS:
        ratio = on[name] / off[name]
        print(f"{name:<22} {off[name] * 1e6:8.2f} µs {on[name] * 1e6:8.2f} µs {ratio:5.2f}x")
    fds = len(os.listdir("/proc/self/fd"))
    print(f"checkpoint (baseline + diff, {fds} fds open): {checkpoint * 1e6:.0f} µs")
    print(f"a Celery task's accounting (its start and end, {held} fds open, the task opening and "
          f"closing a file): {accounting * 1e6:.1f} µs")  # fmt: skip
    ratio = on["open()/close()"] / off["open()/close()"]
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"target: open/close loop at most {TARGET:.0f}x slower: {verdict} ({ratio:.2f}x)")
    if args.tasks:
        celery_throughput(args.tasks, min(args.rounds, 3))
        side_by_side(args.tasks, args.rounds)
    return 0 if ratio <= TARGET else 1


def task_accounting(track: Tracker, path: str, rounds: int, count: int = 5000) -> tuple[float, int]:
    """What fdleak celery adds to each task in a pool process: its wrapper around the
    task's tracer (here a task that opens and closes a file), with as many fds open as a
    prefork child has (about 40); best of ``rounds``. (seconds a task, fds open)"""
    from fdleak.python.celery import CeleryTracking
    from fdleak.python.celery_entry import accounted

    class Task:
        name = "bench.tiny"

    def tracer(uuid: str, args: tuple[object, ...], kwargs: dict[str, object], *rest: object) -> None:
        with open(path, "w"):
            pass

    def tasks(trace: Callable[..., None]) -> float:
        start = time.perf_counter()
        for n in range(count):
            trace(str(n), (), {})
        return (time.perf_counter() - start) / count

    held = [socket.socketpair() for _ in range(16)]  # a child's broker, pool and log fds
    try:
        traced = accounted(tracer, Task, CeleryTracking(track, report_dir=None))
        with_it = min(tasks(traced) for _ in range(rounds))
        without = min(tasks(tracer) for _ in range(rounds))
        open_now = len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    finally:
        for left, right in held:
            left.close()
            right.close()
    return with_it - without, open_now


def celery_throughput(tasks: int, rounds: int, batches: int = 3) -> None:
    """A real prefork worker (2 children, Redis): tiny tasks a second, untracked and under
    ``fdleak celery`` (the tracker and per-task accounting in every child).

    Each round starts a fresh worker of each kind in turn and times ``batches`` batches on
    it: on two shared cores one worker's batches drift together (a busy minute, a warm
    cache), so comparing one untracked worker with one tracked worker started after it
    measured that drift as much as the tracker."""
    import statistics

    from overhead import CeleryRun, fdleak, redis

    rates: dict[str, list[float]] = {"untracked": [], "fdleak celery": []}
    # the worker's CPU per task: what the tracker adds to each task, far steadier than a
    # rate on two shared cores
    cpu: dict[str, list[float]] = {"untracked": [], "fdleak celery": []}
    with tempfile.TemporaryDirectory(prefix="fdleak-tracker-") as scratch, redis(scratch) as broker:
        for round_ in range(rounds):
            reports = os.path.join(scratch, f"reports-{round_}")
            tracked = [*fdleak(), "celery", "-q", "--json", os.devnull, "--report-dir", reports, "--"]
            prefixes = {"untracked": [], "fdleak celery": tracked}
            for tag, (label, prefix) in enumerate(prefixes.items()):
                worker = CeleryRun(broker, scratch, prefix, f"t{round_}{tag}")
                try:
                    worker.throughput(300)  # warm: imports, connections, the pool's first forks
                    for _ in range(batches):
                        used = worker.cpu_seconds()
                        rates[label].append(worker.throughput(tasks)[0])
                        cpu[label].append((worker.cpu_seconds() - used) / tasks)
                finally:
                    worker.stop()
    best = {label: max(values) for label, values in rates.items()}
    middle = {label: statistics.median(values) for label, values in rates.items()}
    ratio = best["fdleak celery"] / best["untracked"]
    print(f"Celery, {tasks} tiny tasks a batch, {rounds} rounds of a fresh worker each x {batches} batches:")
    for label in rates:
        print(f"  {label:<14} best {best[label]:,.0f}/s, median {middle[label]:,.0f}/s "
              f"(all: {', '.join(f'{r:.0f}' for r in rates[label])})")  # fmt: skip
    # no verdict here: on two cores a worker in turn has idle CPU to hide its cost in (the
    # verdict is the side-by-side race's, at equal CPU)
    print(f"tracked/untracked: best {ratio:.0%}, median {middle['fdleak celery'] / middle['untracked']:.0%} "
          "(for the target, see side by side at equal CPU)")  # fmt: skip
    per_task = {label: statistics.median(values) for label, values in cpu.items()}
    for label, values in cpu.items():
        print(f"  {label:<14} worker CPU per task: median {per_task[label] * 1e6:,.0f} µs "
              f"(all: {', '.join(f'{v * 1e6:.0f}' for v in values)})")  # fmt: skip
    added = per_task["fdleak celery"] / per_task["untracked"] - 1
    print(
        f"the tracker adds {added:+.1%} CPU per task to the worker "
        f"({(per_task['fdleak celery'] - per_task['untracked']) * 1e6:+.0f} µs)"
    )


def side_by_side(tasks: int, rounds: int, window: float = 3.0) -> None:
    """An untracked and a tracked worker running at once, each on its own Redis database
    and sent more tasks than it can run in ``window`` seconds: tasks each finished over the
    same seconds. Whatever else loads the machine then slows both alike, which timing them
    one after the other cannot promise on two shared cores; the two compete for the cores,
    so the ratio is that of the work each needs a task. Each round also runs two untracked
    workers the same way (the control): how far apart two identical workers come out is
    the resolution of the measurement.

    Each worker's CPU per task over the same seconds is the verdict's figure: a worker
    that has the cores to itself runs tasks at the rate its CPU per task allows, and this
    ratio does not depend on how the scheduler shared the cores between the two workers
    from moment to moment (the tasks-done ratio does: its control spreads three times as
    wide)."""
    import statistics

    from overhead import fdleak, race, redis

    ratios: dict[str, list[float]] = {"tracked": [], "control": []}
    at_equal_cpu: dict[str, list[float]] = {"tracked": [], "control": []}
    with tempfile.TemporaryDirectory(prefix="fdleak-tracker-") as scratch, redis(scratch) as broker:
        server = broker.rsplit("/", 1)[0]
        for round_ in range(rounds):
            reports = os.path.join(scratch, f"side-{round_}")
            tracked = [*fdleak(), "celery", "-q", "--json", os.devnull, "--report-dir", reports, "--"]
            for kind, prefix in (("tracked", tracked), ("control", [])):
                tag = f"{kind}{round_}"
                done, cpu = race(server, scratch, ([], prefix), tasks, window, tag, first=round_ % 2)
                ratios[kind].append(done[1] / done[0])
                at_equal_cpu[kind].append(cpu[0] / cpu[1])
                print(f"  side by side, round {round_ + 1}, {kind}: untracked {done[0]}, "
                      f"{'tracked' if kind == 'tracked' else 'untracked too'} {done[1]} tasks "
                      f"in {window:.0f} s: {ratios[kind][-1]:.0%}; CPU a task {cpu[0] * 1e6:,.0f} "
                      f"and {cpu[1] * 1e6:,.0f} µs: {at_equal_cpu[kind][-1]:.1%}")  # fmt: skip
    middle = {kind: statistics.median(values) for kind, values in ratios.items()}
    cpu_middle = {kind: statistics.median(values) for kind, values in at_equal_cpu.items()}
    print(f"side by side, tasks done in the same seconds: tracked/untracked median {middle['tracked']:.0%}; "
          f"control, untracked/untracked: median {middle['control']:.0%} "
          f"({min(ratios['control']):.0%}-{max(ratios['control']):.0%})")  # fmt: skip
    verdict = "met" if cpu_middle["tracked"] >= 0.95 else "MISSED"
    spread = {kind: f"{min(values):.1%}-{max(values):.1%}" for kind, values in at_equal_cpu.items()}
    print(f"side by side, throughput at equal CPU (untracked CPU a task / tracked): median "
          f"{cpu_middle['tracked']:.1%} ({spread['tracked']}) (target at least 95%: {verdict}); "
          f"control median {cpu_middle['control']:.1%} ({spread['control']})")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
