"""Python stacks captured cheaply when an fd is made, and turned into report frames later.

Capture stores (code object, last instruction offset) pairs: no frame objects (they would
keep the caller's locals, an open file among them, alive) and no line numbers (f_lineno
decodes the line table from its start on every read). Line numbers, paths and the choice
of the origin frame are worked out only for the fds that end up reported.
"""

from __future__ import annotations

import os
import site
import sysconfig
from types import CodeType, FrameType

from fdleak.model.report import Frame

# innermost first: the call that made the fd, then its callers
RawStack = tuple[tuple[CodeType, int], ...]

HARD_DEPTH = 64  # walk at most this far looking for a frame of the user's own code

_LIBRARY: dict[str, bool] = {}  # co_filename -> is it stdlib, site-packages or fdleak


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(getattr(site, "getsitepackages", list)())
    user_site = getattr(site, "getusersitepackages", lambda: None)()
    if isinstance(user_site, str):
        roots.add(user_site)
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # fdleak itself
    both = roots | {os.path.realpath(root) for root in roots}
    return tuple(sorted(root.rstrip(os.sep) + os.sep for root in both if root))


_ROOTS = _library_roots()


def is_library(filename: str) -> bool:
    """True for the standard library, installed packages, fdleak and frozen modules."""
    known = _LIBRARY.get(filename)
    if known is None:
        known = _LIBRARY[filename] = filename.startswith("<") or filename.startswith(_ROOTS)
    return known


def capture(frame: FrameType | None, depth: int) -> RawStack:
    """``depth`` frames from ``frame`` outwards; more (up to HARD_DEPTH) when all of them
    are library frames, so a call made deep inside a library still reaches user code."""
    pairs: list[tuple[CodeType, int]] = []
    append = pairs.append
    known = _LIBRARY
    # first the frames up to and including the first one of user code...
    while frame is not None:
        code = frame.f_code
        append((code, frame.f_lasti))
        frame = frame.f_back
        library = known.get(code.co_filename)
        if not (is_library(code.co_filename) if library is None else library) or len(pairs) >= HARD_DEPTH:
            break
    # ...then callers up to ``depth`` frames in all, without looking at them
    left = depth - len(pairs)
    while frame is not None and left > 0:
        append((frame.f_code, frame.f_lasti))
        frame = frame.f_back
        left -= 1
    return tuple(pairs)


def line_of(code: CodeType, offset: int) -> int:
    """The source line of the instruction at byte ``offset`` (what f_lineno would have said)."""
    for start, end, line in code.co_lines():
        if start <= offset < end and line is not None:
            return line
    return code.co_firstlineno


def frames_of(stack: RawStack, root: str | None = None) -> tuple[Frame, ...]:
    """Report frames, outermost first and the call that made the fd last (the report's order).

    Paths under ``root`` (the current directory by default) are shown relative to it.
    """
    base = (root if root is not None else os.getcwd()).rstrip(os.sep) + os.sep
    return tuple(
        Frame(_shown(code.co_filename, base), line_of(code, offset), _name(code))
        for code, offset in reversed(stack)
    )


def origin_index(stack: RawStack) -> int | None:
    """Index (innermost first) of the frame to blame: the innermost frame of user code, or
    the innermost frame at all when every frame is a library's."""
    if not stack:
        return None
    for index, (code, _) in enumerate(stack):
        if not is_library(code.co_filename):
            return index
    return 0


def origin_frame(stack: RawStack, root: str | None = None) -> Frame | None:
    index = origin_index(stack)
    if index is None:
        return None
    return frames_of(stack[index : index + 1], root)[0]


def _name(code: CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+


def _shown(path: str, base: str) -> str:
    return path[len(base) :] if path.startswith(base) else path


__all__ = ["HARD_DEPTH", "RawStack", "capture", "frames_of", "is_library", "line_of", "origin_frame"]
