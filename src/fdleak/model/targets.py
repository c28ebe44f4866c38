"""Socket targets: "PROTO local->peer" strings, built up as bind/connect/accept tell more."""

from __future__ import annotations


def with_socket_end(target: str, syscall: str, address: str) -> str:
    """``target`` after ``syscall`` (bind or connect) named ``address``."""
    proto, _, ends = target.partition(" ")
    local, arrow, peer = ends.partition("->")
    if syscall == "bind":
        local = address
    else:
        peer, arrow = address, "->"
    return f"{proto} {local}{arrow}{peer}".rstrip()
