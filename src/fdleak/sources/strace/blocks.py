"""Byte chunks (reads of a file or pipe) regrouped into blocks of whole lines.

The compiled line loop (BlockReducer.reduce_bytes) cuts lines itself; what it needs is
blocks that end at a newline. Reading bytes also spares a Python str per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

READ_BYTES = 4 << 20  # one read of a log read in order (a file too small to split, gzip, stdin)


def whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Each chunk's whole lines, what follows its last newline carried on to the next;
    a last line without a newline comes alone at the end."""
    rest = b""
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            rest += chunk
            continue
        block = rest + chunk[:cut] if rest else chunk[:cut]
        rest = chunk[cut:]
        yield block
    if rest:
        yield rest


def read_chunks(handle: IO[bytes], size: int = READ_BYTES) -> Iterator[bytes]:
    """``handle``'s bytes, ``size`` at a time, until its end."""
    while chunk := handle.read(size):
        yield chunk
