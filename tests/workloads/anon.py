"""Anonymous inodes and friends: epoll, eventfd, timerfd, signalfd, inotify, memfd,
pidfd. For each: one created and kept, one created and closed.

Python 3.11 has no timerfd_create, signalfd or inotify_init1 in os; libc has them
(they become the timerfd_create, signalfd4 and inotify_init1 system calls).

argv: (none)
"""

from __future__ import annotations

import ctypes
import os
import select
import signal

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
libc = ctypes.CDLL(None, use_errno=True)

CLOCK_MONOTONIC = 1
O_CLOEXEC = os.O_CLOEXEC  # TFD_CLOEXEC, SFD_CLOEXEC and IN_CLOEXEC are all O_CLOEXEC


def checked(fd: int) -> int:
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return fd


def timerfd() -> int:
    return checked(libc.timerfd_create(CLOCK_MONOTONIC, O_CLOEXEC))


def signalfd() -> int:
    mask = ctypes.create_string_buffer(128)  # sigset_t
    libc.sigemptyset(mask)
    libc.sigaddset(mask, signal.SIGUSR1)
    return checked(libc.signalfd(-1, mask, O_CLOEXEC))


def inotify() -> int:
    fd = checked(libc.inotify_init1(O_CLOEXEC))
    checked(libc.inotify_add_watch(fd, b"/tmp", 0x100))  # IN_CREATE
    return fd


pollers = []  # select.epoll objects own their fd: keep the objects, not just the fds


def epoll() -> int:
    pollers.append(select.epoll())
    return pollers[-1].fileno()


makers = {
    "epoll": epoll,
    "eventfd": lambda: os.eventfd(0, os.EFD_CLOEXEC),
    "timerfd": timerfd,
    "signalfd": signalfd,
    "inotify": inotify,
    "memfd": lambda: os.memfd_create("fdleak-test"),
    "pidfd": lambda: os.pidfd_open(os.getpid()),
}
kept = []
for name, make in makers.items():
    if name == "epoll":
        select.epoll().close()
    else:
        os.close(make())
    kept.append(make())

# an epoll set that watches some of the others
poller = select.epoll()
for fd in kept[1:4]:
    poller.register(fd, select.EPOLLIN)
pollers.append(poller)

ready(os.getpid())
block()
