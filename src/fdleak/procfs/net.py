"""Socket tables of a process's network namespace: inode -> protocol, ends and state.

/proc/PID/net/* (not /proc/net/*) so a process in another namespace (a container) is
resolved against its own tables. Each table is read once per snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from fdleak.model.snapshot import SocketInfo
from fdleak.procfs.process import PROC

# include/net/tcp_states.h
_TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}
# include/uapi/linux/net.h socket_state, as /proc/net/unix prints it
_UNIX_STATES = {"01": "UNCONNECTED", "02": "CONNECTING", "03": "CONNECTED", "04": "DISCONNECTING"}
_UNIX_TYPES = {"0001": "STREAM", "0002": "DGRAM", "0005": "SEQPACKET"}
# read in this order until every socket asked for is found; the order only decides which
# tables a process without that kind of socket skips
_TABLES = (("unix", "UNIX"), ("tcp", "TCP"), ("tcp6", "TCPv6"), ("udp", "UDP"), ("udp6", "UDPv6"))


def socket_table(pid: int, inodes: Collection[int] | None = None) -> dict[int, SocketInfo]:
    """The inet and unix sockets of the process's namespace, by inode: those in ``inodes``,
    or every one.

    The tables list the whole namespace (thousands of rows on a busy box), so rows the
    caller does not hold are skipped before they are decoded, and once every inode asked
    for is found the remaining tables are not read: the kernel walks its whole TCP and UDP
    hash tables to print even an empty /proc/net/tcp (2-4 ms a table here).
    """
    table: dict[int, SocketInfo] = {}
    wanted = None if inodes is None else set(inodes)
    for name, protocol in _TABLES:
        if wanted is not None and not wanted:
            break  # all found: the other tables cannot add anything
        rows = _read(pid, name).splitlines()[1:]
        found = _unix_rows(rows, wanted) if protocol == "UNIX" else _inet_rows(rows, protocol, wanted)
        table.update(found)
        if wanted is not None:
            wanted.difference_update(found)
    return table


def _inet_rows(rows: list[str], protocol: str, wanted: set[int] | None) -> dict[int, SocketInfo]:
    found = {}
    udp = protocol.startswith("UDP")
    for line in rows:
        parts = line.split()
        # TIME_WAIT entries have inode 0: they belong to no socket any more
        if len(parts) < 10 or parts[9] == "0":
            continue
        inode = int(parts[9])
        if wanted is not None and inode not in wanted:
            continue
        local, remote = _address(parts[1]), _address(parts[2])
        state = "" if udp else _TCP_STATES.get(parts[3], parts[3])
        if remote.endswith(":0") and (udp or state == "LISTEN"):
            remote = ""  # a listening or unconnected socket has no peer
        found[inode] = SocketInfo(protocol, local, remote, state)
    return found


def _unix_rows(rows: list[str], wanted: set[int] | None) -> dict[int, SocketInfo]:
    found = {}
    for line in rows:
        parts = line.split(None, 7)
        if len(parts) < 7:
            continue
        inode = int(parts[6])
        if wanted is not None and inode not in wanted:
            continue
        path = parts[7] if len(parts) > 7 else ""
        kind = _UNIX_TYPES.get(parts[4], parts[4])
        found[inode] = SocketInfo("UNIX", path, "", f"{kind} {_UNIX_STATES.get(parts[5], parts[5])}")
    return found


def target_of(info: SocketInfo) -> str:
    """The report's target text: ``TCP 127.0.0.1:40312->127.0.0.1:6379``, ``UNIX /run/x.sock``."""
    if info.protocol == "UNIX":
        return f"UNIX {info.local}" if info.local else "UNIX"
    ends = f"{info.local}->{info.remote}" if info.remote else info.local
    return f"{info.protocol} {ends}"


def _address(text: str) -> str:
    import socket  # here, not at the top: a process without inet sockets never needs it
    import struct

    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, raw[::-1])}:{int(port, 16)}"
    # IPv6: four 32-bit words, each in host (little-endian) order
    words = struct.unpack("<4I", raw)
    address = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
    return f"[{address}]:{int(port, 16)}"


def _read(pid: int, name: str) -> str:
    try:
        with open(os.path.join(PROC, str(pid), "net", name), "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""  # no such table (IPv6 off) or the process is gone: nothing to resolve
