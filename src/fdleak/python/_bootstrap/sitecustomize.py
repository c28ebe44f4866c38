"""Start the fdleak tracker at interpreter start, then run the sitecustomize this one shadows.

Python imports the first ``sitecustomize`` on sys.path at start-up; fdleak.python.bootstrap
puts this directory first on PYTHONPATH (as opentelemetry-instrument and ddtrace-run do).
Whatever goes wrong here is reported in one line and the program runs on untracked.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# .../fdleak/python/_bootstrap -> the directory holding the fdleak package
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))
INIT_VARIABLE = "FDLEAK_PYTHON_INIT"


def _load_fdleak() -> None:
    """Import the fdleak this directory belongs to, even where another one is installed."""
    try:
        import fdleak

        if os.path.realpath(os.path.dirname(os.path.dirname(fdleak.__file__ or ""))) == os.path.realpath(
            _ROOT
        ):
            return
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "fdleak" or m.startswith("fdleak.")]:
        del sys.modules[name]
    # only while importing it: fdleak's neighbours must not shadow the program's packages
    sys.path.insert(0, _ROOT)
    try:
        import fdleak
    finally:
        sys.path.remove(_ROOT)


def _start() -> None:
    from importlib import import_module

    _load_fdleak()
    from fdleak.python import tracker

    track = tracker.install()
    for spec in filter(None, os.environ.get(INIT_VARIABLE, "").split(",")):
        module, _, function = spec.strip().partition(":")
        try:
            getattr(import_module(module), function or "init")(track)
        except Exception as error:  # the tracker stays on; only this integration is missing
            print(f"fdleak: {INIT_VARIABLE} {spec} failed in pid {os.getpid()}: {error!r}", file=sys.stderr)


def _chain() -> None:
    """Import the next sitecustomize on sys.path, if any (the one this module shadows)."""
    ours = sys.modules.get("sitecustomize")
    index = next((i for i, path in enumerate(sys.path) if os.path.abspath(path or ".") == _HERE), None)
    if index is None:
        return
    del sys.path[index]
    sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401 - the next one
    except ImportError:
        pass
    finally:
        sys.path.insert(index, _HERE)
        if ours is not None:
            sys.modules["sitecustomize"] = ours


try:
    _start()
except Exception as error:  # never stop the program being observed
    print(f"fdleak: Python fd tracking is off in pid {os.getpid()}: {error!r}", file=sys.stderr)
_chain()
