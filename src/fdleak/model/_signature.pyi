"""Types of the compiled signature_of (_signature_module.c)."""

from collections.abc import Callable
from typing import Any

def setup(pipe: Any, socket: Any, fallback: Callable[[Any, str, str], str]) -> None: ...
def signature_of(kind: Any, target: str, syscall: str = "") -> str: ...
