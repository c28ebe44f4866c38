"""Files: keep one file per round (the leak), open and close others (no leak).

argv: DIR ROUNDS KEEP_EVERY CLOSED_PER_ROUND
Round i opens CLOSED_PER_ROUND files DIR/tmp_<i>_<j>.txt and closes them, and, when
KEEP_EVERY > 0 and i % KEEP_EVERY == 0, opens DIR/leak_<i>.txt and keeps it open.
"""

from __future__ import annotations

import os
import sys

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory, rounds, keep_every, closed_per_round = sys.argv[1], *map(int, sys.argv[2:5])
kept = []
for i in range(rounds):
    for j in range(closed_per_round):
        with open(os.path.join(directory, f"tmp_{i}_{j}.txt"), "w") as scratch:
            scratch.write("x")
    if keep_every and i % keep_every == 0:
        kept.append(open(os.path.join(directory, f"leak_{i}.txt"), "w"))  # noqa: SIM115 - the leak
    # reading one back and closing it: an open that is not a creation of a new name
    if i and closed_per_round:
        with open(os.path.join(directory, f"tmp_{i - 1}_0.txt")) as back:
            back.read()
ready(os.getpid())
block()
