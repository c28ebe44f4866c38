"""Time fdleak's line reducers alone on a log: the parallel driver's workers, no fd-table engine.

The workers reduce the log's byte ranges exactly as `fdleak analyze` has them do, and
the results are received (unpickled) and dropped. Comparing this with the whole
analysis shows how much of its time the engine in the main process takes.
Honours FDLEAK_PURE_PYTHON like fdleak itself. Prints JSON: seconds, lines, compiled.

    python bench/reduce_only.py LOG
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from fdleak.sources.strace.drive import BLOCK_BYTES, _split, reduce_range
from fdleak.sources.strace.reduce import compiled_scan


def main(path: str) -> int:
    started = time.perf_counter()
    ranges = _split(path, os.path.getsize(path), BLOCK_BYTES)
    lines = 0
    jobs = min(2, os.cpu_count() or 1)  # as LogDriver
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(reduce_range, [path] * len(ranges), *zip(*ranges, strict=True), chunksize=1):
            lines += result.lines
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "lines": lines, "compiled": compiled_scan() is not None}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
