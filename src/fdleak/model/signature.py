"""Signatures: the part of an fd's target that stays the same from run to run."""

from __future__ import annotations

import os
import re
from typing import Protocol

from fdleak.model.kinds import FdKind

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# a run of 6+ hex digits with at least one digit: commit ids, object ids, hashes
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}(?![0-9A-Za-z])")
# tempfile's random names: tmpab3_x9k2 (tmp + 8 chars), mkdtemp(prefix="app-") ->
# app-tkez3seh (8 chars of letters and digits after the prefix), mkstemp's XXXXXX suffixes
_TEMP = re.compile(
    r"(?<=tmp)[a-z0-9_]{8}(?![a-z0-9_])"
    r"|(?<=[-_])(?=[a-z_]*\d)(?=[0-9_]*[a-z])[a-z0-9_]{8}(?=/|$)"
    r"|(?<=\.)(?=[A-Za-z]*\d)[A-Za-z0-9]{6}$"
)
_NUMBER = re.compile(r"\d+")
_STARS = re.compile(r"\*(?:[-_.:]?\*)+")
# "TCP 127.0.0.1:40312->127.0.0.1:6379": protocol, local end, optional peer
_SOCKET = re.compile(r"^(?P<proto>\S+) (?P<local>[^ ]*?)(?:->(?P<peer>.*))?$")
_PORT = re.compile(r":\d+$")
_ACCEPTS = frozenset({"accept", "accept4"})


# signatures already computed: the same targets come back again and again (about
# half of the bench log's creates repeat one of the last few thousand targets, and
# its signatures took 0.24 s instead of 0.83 s per quarter of the log): the regex
# passes cost far more than the look-up. Small and cleared when full: a larger memo
# found more but saved no time, and every worker process holds its own.
_MEMO: dict[tuple[FdKind, str, str], str] = {}
_MEMO_SIZE = 4096


class Signer(Protocol):
    def __call__(self, kind: FdKind, target: str, syscall: str = "") -> str: ...


def python_signature_of(kind: FdKind, target: str, syscall: str = "") -> str:
    """Group key for ``target``: run-to-run varying parts become ``*``."""
    key = (kind, target, syscall if kind is FdKind.SOCKET else "")  # only sockets depend on the call
    signature = _MEMO.get(key)
    if signature is None:
        signature = _signature(kind, target, syscall)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = signature
    return signature


def _signature(kind: FdKind, target: str, syscall: str) -> str:
    if kind is FdKind.SOCKET:
        return _socket_signature(target, syscall)
    if kind is FdKind.PIPE or target.startswith(("pipe:", "socket:", "anon_inode:")):
        return _NUMBER.sub("*", target)  # pipe:[12345]: every pipe has its own inode
    text = _UUID.sub("*", target)
    text = _HEX.sub("*", text)
    text = _TEMP.sub("*", text)
    text = _NUMBER.sub("*", text)
    return _STARS.sub("*", text)


def _socket_signature(target: str, syscall: str) -> str:
    match = _SOCKET.match(target)
    if match is None or "[" in target:  # socket:[123], TCP:[5138]: only an inode is known
        return _NUMBER.sub("*", target)
    proto, local, peer = match.group("proto", "local", "peer")
    if peer is None:
        return target  # bound or listening: the port is the identity
    if syscall in _ACCEPTS:
        # the server end: our port is fixed, the client's port is ephemeral
        return f"{proto} {local}->{_PORT.sub(':*', peer)}"
    # a client: our local port is ephemeral, the peer is what matters
    return f"{proto} {_PORT.sub(':*', local)}->{peer}"


def _compiled() -> Signer | None:
    """The same in C (_signature.c), if it was built and FDLEAK_PURE_PYTHON=1 does not refuse it.

    It computes every printable-ASCII target (remembering recent paths in a table of
    its own) and hands anything else to ``_signature``.
    """
    if os.environ.get("FDLEAK_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from fdleak.model import _signature as compiled
    except ImportError:
        return None
    compiled.setup(FdKind.PIPE, FdKind.SOCKET, _signature)
    signer: Signer = compiled.signature_of
    return signer


signature_of: Signer = _compiled() or python_signature_of
