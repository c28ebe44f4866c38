"""Sockets: TCP client and server on 127.0.0.1 (accept), UDP, UNIX stream with a
listener on a path, socketpair; some of each closed, some kept.

argv: DIR CONNECTIONS KEEP_EVERY
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

from _common import block, ignore_tracer_signals, ready

ignore_tracer_signals()
directory, connections, keep_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kept: list[socket.socket] = []

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(connections + 1)
kept.append(listener)
for i in range(connections):
    client = socket.create_connection(listener.getsockname())
    server_end, _ = listener.accept()  # accept4(..., SOCK_CLOEXEC)
    client.sendall(b"ping")
    assert server_end.recv(4) == b"ping"
    if i % keep_every == 0:
        kept += [client, server_end]
    elif i % 2:
        client.close()
        server_end.close()
    else:  # half kept: the server drops the client, the client keeps its end
        server_end.close()
        kept.append(client)

# a listener that is closed, and a socket that never connects
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
closed_listener = socket.create_server(("127.0.0.1", 0))
closed_listener_address = closed_listener.getsockname()
closed_listener.close()

# UDP: one bound and kept, one connected and closed, one connected and kept
udp_server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp_server.bind(("127.0.0.1", 0))
kept.append(udp_server)
for keep in (False, True):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(udp_server.getsockname())
    udp.send(b"datagram")
    udp_server.recv(64)
    if keep:
        kept.append(udp)
    else:
        udp.close()

# UNIX stream: a listener on a path, two clients, one of them closed
path = os.path.join(directory, "unix.sock")
unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix_listener.bind(path)
unix_listener.listen(4)
kept.append(unix_listener)
for keep in (True, False):
    unix_client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_client.connect(path)
    unix_server_end, _ = unix_listener.accept()
    if keep:
        kept += [unix_client, unix_server_end]
    else:
        unix_client.close()
        unix_server_end.close()

# socketpair: both ends kept, both closed, one of each kept
for keep in ((True, True), (False, False), (True, False)):
    left, right = socket.socketpair()
    for end, keep_it in zip((left, right), keep, strict=True):
        if keep_it:
            kept.append(end)
        else:
            end.close()

# a datagram socketpair, one end kept
left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
kept.append(left)
right.close()

# fds passed over a UNIX socket (SCM_RIGHTS): recvmsg makes new fds in the receiver
sender, receiver = socket.socketpair()
kept.append(receiver)
sender_listener = socket.create_server(("127.0.0.1", 0))
passed_read, passed_write = os.pipe()
socket.send_fds(sender, [b"fds"], [sender_listener.fileno(), passed_read, passed_write])
_, received, _, _ = socket.recv_fds(receiver, 16, 3)
os.close(received[2])  # one received copy closed, two kept
kept += received[:2]
for fd in (passed_read, passed_write):
    os.close(fd)
sender_listener.close()
sender.close()

# a connect that fails (nothing listens on the closed listener's port): the socket was
# made all the same; one such socket kept, one closed
for keep in (True, False):
    refused = socket.socket()
    with contextlib.suppress(ConnectionRefusedError):
        refused.connect(closed_listener_address)
    if keep:
        kept.append(refused)
    else:
        refused.close()

ready(os.getpid())
block()
