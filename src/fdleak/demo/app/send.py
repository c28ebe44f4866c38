"""fdleak demo's client: send tasks to the demo worker and wait until every one is done.

    python send.py --leaky 30 --clean 30 --first 0 --timeout 30 --pace 0.05

Prints how many were sent and done; exit status 1 when some did not finish in time.
"""

import argparse
import sys
import time

from tasks import clean_file_task, leaky_file_task


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaky", type=int, default=0)
    parser.add_argument("--clean", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="number of the first task (file names)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between two sends")
    args = parser.parse_args()
    results = []
    for i in range(max(args.leaky, args.clean)):  # interleaved, as real traffic is
        n = args.first + i
        if i < args.leaky:
            results.append(leaky_file_task.delay(n))
        if i < args.clean:
            results.append(clean_file_task.delay(n))
        time.sleep(args.pace)
    done = 0
    deadline = time.monotonic() + args.timeout  # for all of them: a dead worker is told in seconds
    for result in results:
        try:
            result.get(timeout=max(0.1, deadline - time.monotonic()))
            done += 1
        except Exception as error:  # a task that failed or timed out: counted, reported below
            print(f"task {result.id} did not finish: {error}", file=sys.stderr)
    print(f"sent {len(results)} done {done}")
    return 0 if done == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
