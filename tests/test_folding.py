"""Folding in the reducer against no folding at all: the fd-table engine ends the same.

A block of one line can fold nothing, so reducing a log line by line is the
reference; the usual blocks fold creates, copies and closes into pair counts. Both
must leave the engine with the same open fds, processes and group counts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from differential import assert_same, compiled_built, reduce_all
from fdleak.lifecycle.engine import Engine
from fdleak.model.events import FdEvent

P = "4242  1795512173.SEQ "
T = "4243  1795512173.SEQ "  # another thread of the same process

# the bench log's copy pattern: a file, a directory, copies by F_DUPFD, dup2 onto a
# free high fd, dup3 onto the directory's fd, then closes in another order
COPIES = [
    P + 'openat(AT_FDCWD</w>, "/t/settings_7.ini", O_RDONLY|O_CLOEXEC) = 326</t/settings_7.ini>',
    P + 'openat(AT_FDCWD</w>, "/t/worker.d", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 327</t/worker.d>',
    P + "fcntl(326</t/settings_7.ini>, F_DUPFD_CLOEXEC, 0) = 328</t/settings_7.ini>",
    P + "dup2(326</t/settings_7.ini>, 8176) = 8176</t/settings_7.ini>",
    P + "dup3(326</t/settings_7.ini>, 327</t/worker.d>, O_CLOEXEC) = 327</t/settings_7.ini>",
    P + "fcntl(326</t/settings_7.ini>, F_DUPFD_CLOEXEC, 0) = 329</t/settings_7.ini>",
    P + "close(326</t/settings_7.ini>) = 0",
    P + "close(327</t/settings_7.ini>) = 0",
    P + "close(328</t/settings_7.ini>) = 0",
    P + "close(8176</t/settings_7.ini>) = 0",
    P + "close(329</t/settings_7.ini>) = 0",
]

VARIANTS = [
    # a directory opened, copied, closed: the copy keeps the directory's kind
    [
        P + 'openat(AT_FDCWD</w>, "/t/d", O_RDONLY|O_DIRECTORY) = 5</t/d>',
        P + "dup(5</t/d>) = 6</t/d>",
        P + "close(5</t/d>) = 0",
        P + "close(6</t/d>) = 0",
    ],
    # a socket named by connect, then copied: the copy has the address
    [
        P + "socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 5<socket:[9]>",
        P
        + 'connect(5<socket:[9]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.0.0.1")}, 16) = 0',
        P + "fcntl(5<socket:[9]>, F_DUPFD_CLOEXEC, 0) = 6<socket:[9]>",
        P + "close(5<socket:[9]>) = 0",
        P
        + 'connect(6<socket:[9]>, {sa_family=AF_INET, sin_port=htons(81), sin_addr=inet_addr("10.0.0.2")}, 16) = 0',
        P + "close(6<socket:[9]>) = 0",
    ],
    # an accepted socket copied: its signature is the engine's to make
    [
        P
        + 'accept4(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, [16], 0) = 5<socket:[9]>',
        P + "dup(5<socket:[9]>) = 6<socket:[9]>",
        P + "close(5<socket:[9]>) = 0",
        P + "close(6<socket:[9]>) = 0",
    ],
    # a copy onto an fd another thread opened, and a copy another thread closes
    [
        T + 'openat(AT_FDCWD</w>, "/t/b", O_RDONLY) = 9</t/b>',
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY) = 5</t/a>',
        P + "dup2(5</t/a>, 9) = 9</t/a>",
        P + "dup(5</t/a>) = 10</t/a>",
        T + "close(10</t/a>) = 0",
        P + "close(9</t/a>) = 0",
        P + "close(5</t/a>) = 0",
    ],
    # copies that survive the block, a copy of a copy, dup2 onto an fd from before
    [
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY) = 5</t/a>',
        P + "dup(5</t/a>) = 6</t/a>",
        P + "dup2(6</t/a>, 7) = 7</t/a>",
        P + "dup2(7</t/a>, 3) = 3</t/a>",
        P + "close(5</t/a>) = 0",
        P + "close(6</t/a>) = 0",
    ],
    # dup2 onto an fd whose state the block does not know (a barrier came between)
    [
        P + 'openat(AT_FDCWD</w>, "/t/old", O_RDONLY) = 3</t/old>',
        P + "close_range(100, 200, 0) = 0",
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY) = 5</t/a>',
        P + "dup2(5</t/a>, 3</t/old>) = 3</t/a>",
        P + "close(3</t/a>) = 0",
        P + "close(5</t/a>) = 0",
    ],
    # the bench log's other copy pattern: dup2 onto high fds, emptied by close_range
    [
        P + 'openat(AT_FDCWD</w>, "/t/s_1.ini", O_RDONLY) = 5</t/s_1.ini>',
        P + "dup2(5</t/s_1.ini>, 8177) = 8177</t/s_1.ini>",
        P + "dup2(5</t/s_1.ini>, 8178) = 8178</t/s_1.ini>",
        P + "close(5</t/s_1.ini>) = 0",
        P + "close_range(8177, 8180, 0) = 0",
        P + 'openat(AT_FDCWD</w>, "/t/s_2.ini", O_RDONLY) = 5</t/s_2.ini>',
        P + "dup2(5</t/s_2.ini>, 8177) = 8177</t/s_2.ini>",
        T + 'openat(AT_FDCWD</w>, "/t/t.ini", O_RDONLY) = 8179</t/t.ini>',
        P + "dup2(5</t/s_2.ini>, 8179) = 8179</t/s_2.ini>",
        P + "dup2(5</t/s_2.ini>, 8180) = 8180</t/s_2.ini>",
        P + "close(5</t/s_2.ini>) = 0",
        P + "close_range(8177, 8180, 0) = 0",
        T + "close_range(8177, 8180, 0) = 0",
        P + 'openat(AT_FDCWD</w>, "/t/s_3.ini", O_RDONLY) = 5</t/s_3.ini>',
        P + "dup2(5</t/s_3.ini>, 8177) = 8177</t/s_3.ini>",
        P + "close_range(8177, 8177, CLOSE_RANGE_CLOEXEC) = 0",
        P + "dup2(5</t/s_3.ini>, 8178) = 8178</t/s_3.ini>",
        P + "close_range(3, ~0U, 0) = 0",
        P + "dup2(5</t/s_3.ini>, 8178) = 8178</t/s_3.ini>",
        P + "close_range(8178, 8178, 0) = 0",
    ],
    # close_range(CLOSE_RANGE_CLOEXEC) only marks: the copies stay open, their fds not free
    [
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY) = 5</t/a>',
        P + "fcntl(5</t/a>, F_DUPFD, 8177) = 8177</t/a>",
        P + "dup2(5</t/a>, 8178) = 8178</t/a>",
        P + "close_range(8177, 8178, CLOSE_RANGE_CLOEXEC) = 0",
        P + "dup2(5</t/a>, 8178) = 8178</t/a>",
        P + "close(8178</t/a>) = 0",
        P + "close(5</t/a>) = 0",
    ],
    # copies in pieces, split by another thread
    [
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY <unfinished ...>',
        T + "read(3, 0x1, 1) = 1",
        P + "<... openat resumed>) = 5</t/a>",
        P + "fcntl(5</t/a>, F_DUPFD_CLOEXEC, 0 <unfinished ...>",
        T + "close(4) = 0",
        P + "<... fcntl resumed>) = 6</t/a>",
        P + "close(5</t/a>) = 0",
        P + "close(6</t/a>) = 0",
    ],
    # a copy, then a close_range over it; a copy whose original was never seen
    [
        P + 'openat(AT_FDCWD</w>, "/t/a", O_RDONLY) = 5</t/a>',
        P + "dup(5</t/a>) = 6</t/a>",
        P + "close_range(6, 6, 0) = 0",
        P + "dup(5</t/a>) = 6</t/a>",
        P + "dup(40</t/z>) = 7</t/z>",
        P + "close(7</t/z>) = 0",
        P + "close(6</t/a>) = 0",
        P + "close(5</t/a>) = 0",
    ],
]


def numbered(lines: list[str]) -> list[str]:
    return [line.replace("SEQ", f"{n:06d}", 1) for n, line in enumerate(lines, 1)]


def engine_end(lines: list[str], block: int, compiled: bool) -> Any:
    engine = Engine()
    for result in reduce_all(lines, compiled, block):
        for item in result.items:
            if type(item) is FdEvent:
                engine.apply(item)
        engine.add_pairs(result.pairs, 0)
    open_fds, processes, activity = engine.finish()
    # what folding keeps exact; the first and last lines the engine meets (a process's
    # span, a group's first line per process) move by up to a block, and the level an
    # fd arrives at counts only the fds the engine meets, as for any fold
    return (
        sorted(repr(replace(fd, record=replace(fd.record, level=0))) for fd in open_fds),
        sorted(repr(replace(p, start_seq=0, end_seq=0)) for p in processes),
        # (a socket named by connect leaves its old group empty in the engine only)
        sorted(repr(replace(a, first_seq_by_pid={})) for a in activity if a.opened or a.closed),
    )


def own_pids(variant: list[str], n: int) -> list[str]:
    """The variant's lines as another pair of processes: variants reuse fd numbers."""
    return [
        line.replace("4242  ", f"{5000 + 2 * n}  ").replace("4243  ", f"{5001 + 2 * n}  ") for line in variant
    ]


ALL = COPIES + [line for n, variant in enumerate(VARIANTS) for line in own_pids(variant, n)]


@pytest.mark.parametrize("lines", [COPIES, *VARIANTS, ALL])
@pytest.mark.parametrize("compiled", [False, True])
def test_folded_copies_leave_the_engine_as_unfolded(lines: list[str], compiled: bool) -> None:
    if compiled and not compiled_built():
        pytest.skip("fdleak's C extension is not built")
    lines = numbered(lines)
    assert engine_end(lines, 10_000, compiled) == engine_end(lines, 1, compiled)
    if compiled:
        assert_same(lines)
