"""Reading strace's argument text: quoted strings, -y decorations, sockaddrs."""

from __future__ import annotations

import re

from fdleak.sources.strace.lines import is_number

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?', re.DOTALL)


def unquote(text: str) -> str:
    """strace's C escapes (\\", \\n, \\x41, \\303\\251) to the text they stand for."""
    if "\\" not in text:
        return text
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        raw += text[pos : match.start()].encode("utf-8", "surrogateescape")
        code = match.group(1)
        if code[0] == "x" and len(code) == 3:
            raw.append(int(code[1:], 16))
        elif code[0] in "01234567":
            raw.append(int(code, 8) & 0xFF)
        else:
            raw += _SIMPLE_ESCAPES.get(code, code).encode("utf-8", "surrogateescape")
        pos = match.end()
    raw += text[pos:].encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def first_string(args: str) -> str | None:
    """The first quoted string argument, unescaped; ``-s`` truncation keeps a "..."."""
    match = _STRING.search(args)
    if match is None:
        return None
    text = unquote(match.group(1))
    return text + "..." if match.group(2) else text


def split_top(args: str) -> list[str]:
    """Split an argument list on top-level commas (not inside "", [], {}, (), <>)."""
    parts: list[str] = []
    depth = 0
    start = 0
    in_string = False
    i = 0
    n = len(args)
    while i < n:
        c = args[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{(<":
            depth += 1
        elif c in "]})>":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(args[start:i].strip())
            start = i + 1
        i += 1
    tail = args[start:].strip()
    if tail or parts:
        parts.append(tail)
    return parts


def fd_and_decoration(text: str) -> tuple[int | None, str | None]:
    """``3</tmp/x>`` -> (3, "/tmp/x"); ``5</dev/null<char 1:3>>`` -> (5, "/dev/null")."""
    number, lt, rest = text.strip().partition("<")
    if is_number(number) and (not lt or (rest.endswith(">") and "<" not in rest and "\\" not in rest)):
        # the usual shapes, "3" and "3</tmp/x>", without walking the text
        return int(number), (rest[:-1] if lt else None)
    text = text.strip()
    end = 0
    if text[:1] == "-":
        end = 1
    while end < len(text) and is_number(text[end]):
        end += 1
    if end == 0 or (end == 1 and text[0] == "-"):
        return None, None
    fd = int(text[:end])
    if end < len(text) and text[end] == "<":
        return fd, decoration_text(text[end + 1 :])
    return fd, None


def decoration_text(body: str) -> str:
    """The outer decoration from just after its "<": stops at the balancing ">" and
    drops -yy's nested extra (``/dev/null<char 1:3>`` -> ``/dev/null``)."""
    depth = 0
    out_end = None
    for i, c in enumerate(body):
        if c == "<":
            if depth == 0 and out_end is None:
                out_end = i
            depth += 1
        elif c == ">":
            if depth == 0:
                text = body[: out_end if out_end is not None else i]
                return unquote(text)
            depth -= 1
    return unquote(body[:out_end] if out_end is not None else body)


_INET = re.compile(r'sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([^"]*)"\)|inet_pton\(AF_INET6?, "([^"]*)")')
_UNIX = re.compile(r'sun_path=(@?)"((?:[^"\\]|\\.)*)"')


def sockaddr(text: str) -> str | None:
    """``{sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}``
    -> ``127.0.0.1:6379``; IPv6 -> ``[::1]:53``; AF_UNIX -> the path (``@name`` if abstract)."""
    if "AF_UNIX" in text:
        match = _UNIX.search(text)
        return (match.group(1) + unquote(match.group(2))) if match else ""
    match = _INET.search(text)
    if match is None:
        return None
    port, v4, v6 = match.groups()
    if port == "0":
        port = "*"  # bind to port 0: the kernel picks one, and the log does not say which
    return f"{v4}:{port}" if v4 is not None else f"[{v6}]:{port}"


_SOCKET_DECORATION = re.compile(r"^(?P<proto>[A-Za-z0-9]+)(?:-(?P<sub>[A-Z]+))?:\[(?P<body>.*)\]$")


def socket_decoration(text: str) -> str | None:
    """-yy's ``TCP:[127.0.0.1:40312->127.0.0.1:6379]`` -> ``TCP 127.0.0.1:40312->127.0.0.1:6379``.

    None when the decoration names only an inode (``TCP:[5138]``, ``socket:[4614]``).
    """
    match = _SOCKET_DECORATION.match(text)
    if match is None or match.group("proto") == "socket":
        return None
    proto, body = match.group("proto"), match.group("body")
    if proto == "UNIX":
        # UNIX-STREAM:[5139,"/run/x.sock"] or UNIX-STREAM:[5139->5140]
        path = _STRING.search(body)
        return f"UNIX {unquote(path.group(1))}" if path else None
    if is_number(body):
        return None
    return f"{proto} {body}"
