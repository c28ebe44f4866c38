"""Types of the compiled line loop (_scan.c)."""

from collections.abc import Callable
from typing import Any

def setup(
    lazy_create: type[Any],
    unfinished: type[Any],
    fd_event: type[Any],
    close: Any,
    handlers: frozenset[str],
    parse_ts: Callable[[str | None], float | None],
    inert_whole: dict[str, tuple[str, ...]],
    inert_start: dict[str, tuple[str, ...]],
    decoder: dict[str, object],
) -> None: ...
def scan(reducer: Any, lines: list[str], first_seq: int, result: Any, pending: dict[int, int]) -> None: ...
def scan_bytes(reducer: Any, data: bytes, first_seq: int, result: Any, pending: dict[int, int]) -> int: ...
def settle(reducer: Any, items: list[Any]) -> None: ...
def sign_open(call: str, rest: str) -> tuple[Any, str, str] | bool: ...
