"""Send tasks to the test app: python produce.py TASK RATE_PER_S SECONDS."""

from __future__ import annotations

import sys
import time

from tasks import app


def main() -> None:
    name, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + seconds
    sent = 0
    with app.producer_pool.acquire(block=True) as producer:
        while time.monotonic() < deadline:
            app.send_task(f"tasks.{name}", producer=producer)
            sent += 1
            time.sleep(1 / rate)
    print(f"sent {sent}", flush=True)


if __name__ == "__main__":
    main()
