"""Finding and checking the logs a user named: files, globs, gzip, stdin, -ff sets."""

from __future__ import annotations

import glob
import gzip
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from fdleak.errors import InputError
from fdleak.sources.strace.blocks import read_chunks, whole_lines

_FF_SUFFIX = re.compile(r"\.(\d+)(?:\.gz)?$")
_SNIFF = 64 * 1024


@dataclass(frozen=True, slots=True)
class LogInput:
    """One log to read. ``pid`` is set for -ff files (trace.<pid>) whose lines have none."""

    path: str  # "-" for standard input
    gzipped: bool
    size: int  # bytes on disk (0 for stdin)
    pid: int | None = None

    @property
    def name(self) -> str:
        return "standard input" if self.path == "-" else self.path

    def open_text(self) -> IO[str]:
        """Text lines, whatever the bytes: strace escapes non-ASCII, so latin-1 never fails."""
        if self.path == "-" or self.gzipped:
            return io.TextIOWrapper(self.open_bytes(), encoding="latin-1", newline="\n")
        return open(self.path, encoding="latin-1", newline="\n")

    def open_bytes(self) -> IO[bytes]:
        """The log's bytes, ungzipped."""
        if self.path != "-":
            return gzip.open(self.path, "rb") if self.gzipped else open(self.path, "rb")  # type: ignore[return-value]
        if self.gzipped:
            return gzip.GzipFile(fileobj=sys.stdin.buffer)  # type: ignore[return-value]
        return sys.stdin.buffer


def resolve(paths: list[str]) -> list[LogInput]:
    """Check every path the user gave; expand globs; raise InputError on the first bad one."""
    if not paths:
        raise InputError("no log given", "name a strace log, several -ff files, or - for stdin")
    found: list[str] = []
    for path in paths:
        if path != "-" and not os.path.lexists(path) and glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise InputError(f"no file matches {path}")
            found.extend(matches)
        else:
            found.append(path)
    inputs = [_check(path) for path in found]
    if len(inputs) > 1:
        inputs = _as_split_set(inputs)
    return inputs


def _check(path: str) -> LogInput:
    if path == "-":
        return LogInput("-", gzipped=_stdin_is_gzip(), size=0)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")
    if os.path.isdir(path):
        raise InputError(
            f"cannot read {path}: it is a directory",
            "name the log file inside it (or a glob such as DIR/trace.*)",
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF)
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied", "run as its owner or with sudo") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    size = os.path.getsize(path)
    gzipped = head[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(_SNIFF)
        except (OSError, EOFError) as error:
            raise InputError(f"cannot read {path}: broken gzip data ({error})") from None
    if not head:
        raise InputError(f"{path} is empty", "was strace still starting, or writing elsewhere (-o)?")
    if _binary(head):
        raise InputError(f"{path} is not a strace log: it holds binary data")
    return LogInput(path, gzipped, size)


def _binary(head: bytes) -> bool:
    if b"\0" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > len(head) // 100


def _stdin_is_gzip() -> bool:
    peek = getattr(sys.stdin.buffer, "peek", None)
    return bool(peek and peek(2)[:2] == b"\x1f\x8b")


def _as_split_set(inputs: list[LogInput]) -> list[LogInput]:
    """strace -ff writes trace.<pid> files without pid prefixes: remember each pid."""
    found = [(i, m) for i in inputs if (m := _FF_SUFFIX.search(i.path)) is not None]
    if len(found) == len(inputs) and len({i.path[: m.start()] for i, m in found}) == 1:
        return [LogInput(i.path, i.gzipped, i.size, int(m.group(1))) for i, m in found]
    return inputs


def read_lines(log: LogInput) -> Iterator[str]:
    with log.open_text() as handle:
        yield from handle


def read_blocks(log: LogInput) -> Iterator[bytes]:
    """The log in blocks of whole lines (a last line without a newline comes alone)."""
    with log.open_bytes() as handle:
        yield from whole_lines(read_chunks(handle))
