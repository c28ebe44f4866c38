"""File names that strace escapes: space, < and >, non-ASCII, newline, tab, quote,
backslash, parentheses; and a file deleted while open. All kept open.

argv: DIR
"""

from __future__ import annotations

import os
import sys

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory = sys.argv[1]
NAMES = [
    "sp ace.txt",
    "gt>lt<.txt",
    "caf\u00e9.txt",
    "new\nline.txt",
    "tab\t.txt",
    'quo"te.txt',
    "back\\slash.txt",
    "paren(1).txt",
]
kept = [open(os.path.join(directory, name), "w") for name in NAMES]  # noqa: SIM115 - kept
doomed = os.path.join(directory, "deleted.txt")
kept.append(open(doomed, "w"))  # noqa: SIM115 - kept
os.unlink(doomed)
# one of each closed again
for name in NAMES:
    open(os.path.join(directory, name)).close()

ready(os.getpid())
block()
