"""Send tasks to the test app: python send.py NAME COUNT [NAME COUNT ...]; prints the total."""

from __future__ import annotations

import sys

from pytasks import app


def main() -> None:
    pairs = list(zip(sys.argv[1::2], map(int, sys.argv[2::2]), strict=True))
    with app.producer_pool.acquire(block=True) as producer:
        for _ in range(max(count for _, count in pairs)):
            for name, count in pairs:
                if count > 0:
                    app.send_task(f"pytasks.{name}", producer=producer)
            pairs = [(name, count - 1) for name, count in pairs]
    print("sent", flush=True)


if __name__ == "__main__":
    main()
