"""A process's fds: how many, what each links to, and its fdinfo (mode, close-on-exec, offset).

Never stat() an fd's target: a dead NFS mount hangs the reader (lsof -b exists for that).
readlink() on /proc/PID/fd/N and reading fdinfo/N only ask the kernel about its own objects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial

from fdleak.procfs.process import PROC, guarded

_ACCMODE = 0o3
_CLOEXEC = 0o2000000
_DIRECTORY = 0o200000  # kept in f_flags: opendir() and os.scandir() open with O_DIRECTORY
_TMPFILE = 0o20000000  # O_TMPFILE is this bit plus O_DIRECTORY, yet names a regular file
_MODES = {0: "r", 1: "w", 2: "rw"}


# (mode, close-on-exec, offset, directory): a plain tuple, unpacked once per fd
FdInfo = tuple[str, bool, "int | None", bool]


def link_text(link: str) -> str:
    """A link as text that can be written anywhere: the bytes of a name that is not UTF-8
    (os.readlink hands them over as lone surrogates) shown as \\xNN."""
    return link.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def count_fds(pid: int) -> int:
    """The fd count; on Linux 6.2+ stat() of /proc/PID/fd gives it without listing."""
    path = f"{PROC}/{pid}/fd"
    size = guarded(pid, "its fds", lambda: os.stat(path).st_size)
    if size > 0:
        return size
    # older kernels report 0: list the directory (still no readlink)
    return len(guarded(pid, "its fds", lambda: os.listdir(path)))


def fd_links(pid: int) -> Iterator[tuple[int, str]]:
    """(fd, link text) for every fd; fds closed while we read are skipped, not errors."""
    path = f"{PROC}/{pid}/fd"
    dir_fd = guarded(pid, "its fds", lambda: os.open(path, os.O_RDONLY | os.O_DIRECTORY))
    try:
        names = _others(pid, dir_fd, guarded(pid, "its fds", lambda: os.listdir(dir_fd)))
        for name in names:
            try:
                link = os.readlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue  # closed between listdir and readlink
            except PermissionError:
                guarded(pid, "its fds", lambda: os.listdir(dir_fd))  # raises the typed error
                continue
            yield int(name), link if link.isascii() else link_text(link)
    finally:
        os.close(dir_fd)


RawFd = tuple[int, str, "FdInfo | None"]  # (fd, link text, fdinfo)


def read_fds(pid: int, details: bool = True) -> list[RawFd]:
    """(fd, link, fdinfo) for every fd still open once read; fdinfo None unless ``details``.

    One thread: two threads reading one process's fds contend in the kernel (readlink
    went from about 3.5 to 15 µs a call here), so they were slower than one.
    """
    path = f"{PROC}/{pid}/fd"
    dir_fd = guarded(pid, "its fds", lambda: os.open(path, os.O_RDONLY | os.O_DIRECTORY))
    try:
        names = _others(pid, dir_fd, guarded(pid, "its fds", lambda: os.listdir(dir_fd)))
        return _read_some(pid, dir_fd, names, details)
    finally:
        os.close(dir_fd)


def _others(pid: int, dir_fd: int, names: list[str]) -> list[str]:
    # reading our own table lists the directory fd we opened to read it: not the process's
    if pid == os.getpid():
        mine = str(dir_fd)
        return [name for name in names if name != mine]
    return names


def _read_some(pid: int, dir_fd: int, names: list[str], details: bool) -> list[RawFd]:
    # one tight loop: at 100k fds every microsecond of Python per fd is a tenth of a second
    out: list[RawFd] = []
    info_dir = (
        guarded(pid, "its fdinfo", lambda: os.open(f"{PROC}/{pid}/fdinfo", os.O_RDONLY)) if details else -1
    )
    known: dict[bytes, FdInfo] = {}  # few distinct (offset, flags) pairs: share the objects
    readlink, open_, read, close = os.readlink, os.open, os.read, os.close
    try:
        for name in names:
            try:
                link = readlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue  # closed between listdir and readlink
            except PermissionError:  # listing allowed, links not (another namespace's init)
                guarded(pid, "its fds", partial(readlink, name, dir_fd=dir_fd))  # raises the typed error
                continue
            if not link.isascii():
                link = link_text(link)
            if info_dir < 0:
                out.append((int(name), link, None))
                continue
            try:
                handle = open_(name, os.O_RDONLY, dir_fd=info_dir)
            except OSError:
                continue  # closed since: a snapshot shows only fds still there
            try:
                text = read(handle, 256)
            except OSError:
                continue
            finally:
                close(handle)
            # "pos:\t0\nflags:\t02000002\n...": the first two lines are always these
            head = text[: text.find(b"\n", text.find(b"\n") + 1)]
            info = known.get(head)
            if info is None:
                info = known[head] = _parse(head)
            out.append((int(name), link, info))
    finally:
        if info_dir >= 0:
            close(info_dir)
    return out


def _parse(head: bytes) -> FdInfo:
    pos_line, _, flags_line = head.partition(b"\n")
    flags = int(flags_line[len(b"flags:") :], 8)
    return (
        _MODES.get(flags & _ACCMODE, "?"),
        bool(flags & _CLOEXEC),
        int(pos_line[len(b"pos:") :]),
        flags & (_DIRECTORY | _TMPFILE) == _DIRECTORY,
    )
