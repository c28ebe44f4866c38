"""The hooks: wrap every Python call that creates an fd, so the registry learns its stack.

Audit hooks do not do this job: the "open" and "socket.__new__" events fire before the
fd exists (so they cannot name it), and os.pipe, os.dup/dup2, os.eventfd,
os.memfd_create, os.openpty, select.epoll and socket.accept raise no event at all. So
the functions are wrapped in their modules, keeping their names, signatures
(``__wrapped__``) and results; a wrapper only adds one fstat and a stack capture after
the call returned. Code that bound one of them before install (``from os import pipe``)
or C code that makes fds is not seen here: the checkpoint still finds those fds in
/proc, without a stack.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import select
import socket
import sys
from collections.abc import Callable
from typing import Any

from fdleak.python.registry import Registry

# os functions returning one new fd, and those returning a pair; the 3.12/3.13 ones only
# where this Python has them
_ONE_FD = ("open", "dup", "dup2", "eventfd", "memfd_create", "pidfd_open", "timerfd_create", "posix_openpt")
_TWO_FDS = ("pipe", "pipe2", "openpty")

_getframe = sys._getframe


class _Patch:
    """One attribute replaced by a wrapper; undone only if nobody replaced it since."""

    __slots__ = ("name", "original", "owner", "wrapper")

    def __init__(self, owner: Any, name: str, wrapper: Any) -> None:
        self.owner, self.name, self.wrapper = owner, name, wrapper
        self.original = getattr(owner, name)
        setattr(owner, name, wrapper)

    def undo(self) -> None:
        if getattr(self.owner, self.name, None) is self.wrapper:
            setattr(self.owner, self.name, self.original)


def install_hooks(registry: Registry) -> list[_Patch]:
    """Wrap the fd-creating calls; returns the patches to undo."""
    patches: list[_Patch] = []
    for name in _ONE_FD:
        if hasattr(os, name):
            patches.append(_Patch(os, name, _one_fd(registry, getattr(os, name), f"os.{name}")))
    for name in _TWO_FDS:
        if hasattr(os, name):
            patches.append(_Patch(os, name, _two_fds(registry, getattr(os, name), f"os.{name}")))
    patches.append(_Patch(os, "close", _close(registry, os.close)))
    patches.append(_Patch(os, "closerange", _closerange(registry, os.closerange)))
    opener = _open(registry, io.open)
    patches.append(_Patch(builtins, "open", opener))  # open(): builtins, looked up per call
    patches.append(_Patch(io, "open", opener))  # pathlib, tempfile, os.fdopen: io.open
    patches.append(_Patch(socket.socket, "__init__", _socket_init(registry, socket.socket.__init__)))
    if hasattr(select, "epoll"):
        epoll = _epoll_class(registry, select.epoll)
        patches.append(_Patch(select, "epoll", epoll))
        selectors = sys.modules.get("selectors")  # imported already: it bound select.epoll
        if selectors is not None and hasattr(selectors, "EpollSelector"):
            patches.append(_Patch(selectors.EpollSelector, "_selector_cls", epoll))
    return patches


def _one_fd(registry: Registry, original: Callable[..., int], call: str) -> Callable[..., int]:
    record = registry.record

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        fd = original(*args, **kwargs)
        record(fd, call, _getframe(1))
        return fd

    return wrapper


def _two_fds(
    registry: Registry, original: Callable[..., tuple[int, int]], call: str
) -> Callable[..., tuple[int, int]]:
    record = registry.record

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[int, int]:
        first, second = original(*args, **kwargs)
        frame = _getframe(1)
        record(first, call, frame)
        record(second, call, frame)
        return first, second

    return wrapper


def _close(registry: Registry, original: Callable[[int], None]) -> Callable[[int], None]:
    forget = registry.forget

    @functools.wraps(original)
    def close(fd: int) -> None:
        forget(fd)  # before: once closed, another thread may get the number and record it
        original(fd)

    return close


def _closerange(registry: Registry, original: Callable[[int, int], None]) -> Callable[[int, int], None]:
    @functools.wraps(original)
    def closerange(low: int, high: int) -> None:
        for fd in [fd for fd in list(registry.records) if low <= fd < high]:  # list(): atomic
            registry.forget(fd)
        original(low, high)

    return closerange


def _open(registry: Registry, original: Callable[..., Any]) -> Callable[..., Any]:
    record, adopt = registry.record, registry.adopt

    @functools.wraps(original)
    def open(file: Any, *args: Any, **kwargs: Any) -> Any:
        handle = original(file, *args, **kwargs)
        try:
            fd = handle.fileno()
        except (AttributeError, OSError, ValueError):
            return handle
        # open(fd) wraps an fd made elsewhere (os.fdopen, subprocess's pipes): keep its origin
        (adopt if isinstance(file, int) else record)(fd, "open", _getframe(1), handle)
        return handle

    return open


def _socket_init(registry: Registry, original: Callable[..., None]) -> Callable[..., None]:
    record, adopt = registry.record, registry.adopt
    module_file = socket.__file__

    @functools.wraps(original)
    def __init__(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frame = _getframe(1)
        code = frame.f_code if frame is not None else None
        if code is not None and code.co_filename == module_file:
            # accept(), socketpair(), fromfd(), dup() build the object around a new fd
            record(self.fileno(), f"socket.{code.co_name}", frame, self)
        elif (len(args) >= 4 and args[3] is not None) or kwargs.get("fileno") is not None:
            adopt(self.fileno(), "socket.socket", frame, self)
        else:
            record(self.fileno(), "socket.socket", frame, self)

    return __init__


def _epoll_class(registry: Registry, original: type) -> type:
    # select.epoll cannot be subclassed ("not an acceptable base type"): a stand-in class
    # builds the real object, and isinstance/issubclass answer for the real type.
    record = registry.record

    class _Meta(type):
        def __instancecheck__(cls, instance: Any) -> bool:
            return isinstance(instance, original)

        def __subclasscheck__(cls, subclass: type) -> bool:
            return issubclass(subclass, original)

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        poller = original(*args, **kwargs)
        record(poller.fileno(), "select.epoll", _getframe(1))
        return poller

    return _Meta(
        "epoll",
        (),
        {
            "__new__": __new__,
            "__doc__": original.__doc__,
            "__module__": "select",
            "fromfd": original.fromfd,  # type: ignore[attr-defined]
        },
    )
