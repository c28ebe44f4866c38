"""Run one command in this fresh process and print its wall time, exit status and peak memory as JSON.

Why a process of its own: getrusage(RUSAGE_CHILDREN).ru_maxrss is the largest
peak RSS of any descendant this process ever waited for. In a helper that runs
exactly one command it is that command's own, worker processes included (the
command waits for them). It is a per-process maximum, though, so the helper also
samples the summed PSS of the command's whole process tree while it runs.

    python bench/measure.py --stdout report.txt --stderr errors.txt -- CMD ARG...
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from types import FrameType

from procs import children_of, die_with_parent, kill_group

SAMPLE_EVERY = 0.05  # seconds between PSS samples of the process tree


@dataclass(frozen=True)
class Measurement:
    seconds: float
    status: int
    timed_out: bool
    max_rss_kb: int  # the largest single process (ru_maxrss)
    tree_pss_kb: int  # the largest sampled sum over the tree
    processes: int  # the most processes seen in the tree at once


class TreeSampler(threading.Thread):
    """Samples the summed PSS of a process and all its descendants until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.done = threading.Event()
        self.peak_kb = 0
        self.processes = 0

    def run(self) -> None:
        while not self.done.wait(SAMPLE_EVERY):
            tree = descendants(self.root)
            self.processes = max(self.processes, len(tree))
            self.peak_kb = max(self.peak_kb, sum(pss_kb(pid) for pid in tree))


def descendants(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children_of(pid))
    return found


def pss_kb(pid: int) -> int:
    # PSS, not RSS: forked workers share pages with their parent, and RSS would count them twice
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass  # exited between the listing and the read
    return 0


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # run the finally below: the command must not outlive us


def measure(command: list[str], stdout: str, stderr: str, timeout: float) -> Measurement:
    started = time.perf_counter()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a group of its own, so its workers can be killed with it
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        seconds = time.perf_counter() - started
        sampler.done.set()
        kill_group(proc, grace=1)
    sampler.join()
    max_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
    return Measurement(seconds, proc.returncode, timed_out, max_rss, sampler.peak_kb, sampler.processes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdout", default=os.devnull)
    parser.add_argument("--stderr", default=os.devnull)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    result = measure(args.command, args.stdout, args.stderr, args.timeout)
    print(json.dumps(asdict(result)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
