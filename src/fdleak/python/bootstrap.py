"""The environment that makes a child Python start the tracker: no change to its code."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from fdleak.python.tracker import DEPTH_VARIABLE

BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")
INIT_VARIABLE = "FDLEAK_PYTHON_INIT"  # "module:function,...": called with the tracker once installed


def child_env(
    base: Mapping[str, str] | None = None,
    depth: int | None = None,
    init: Iterable[str] = (),
) -> dict[str, str]:
    """A copy of ``base`` (os.environ by default) in which a Python child, and its own
    children, install the tracker at start-up.

    ``init`` names ``module:function`` callables run in the child with the installed
    tracker (how an integration such as Celery's hooks itself in).
    """
    env = dict(os.environ if base is None else base)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != BOOTSTRAP_DIR]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP_DIR, *paths])
    if depth is not None:
        env[DEPTH_VARIABLE] = str(depth)
    specs = [s for s in env.get(INIT_VARIABLE, "").split(",") if s]
    specs += [s for s in init if s not in specs]
    if specs:
        env[INIT_VARIABLE] = ",".join(specs)
    return env
