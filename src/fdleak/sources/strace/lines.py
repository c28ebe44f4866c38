"""The shapes of an strace output line: prefix (pid, time), then call, piece or notice."""

from __future__ import annotations

import re

# "1234  ", "[pid  1234] " or nothing; then -t/-tt ("09:09:22.123"), -ttt or -r
# ("1716900000.123456", "     0.000467") or nothing.
_PREFIX = r" *(?:\[pid +(?P<p1>\d+)\] |(?P<p2>\d+) +)? *(?P<ts>(?:\d+:\d\d:\d\d|\d+)(?:\.\d+)? +)?"

# name(args) = ret<decoration> errno (text) <duration>; the tail starts with a space, or
# with "(deleted)" which strace 6 prints right after a decoration
_RESULT = r"\) += (?P<ret>-?\d+|\?|0x[0-9a-fA-F]+)(?:<(?P<deco>.*?)>)?(?P<tail>(?:[ (][^<]*)?)(?:<[\w.]+>)?"

# One pattern for the three shapes that make up nearly every line: a whole call, a
# call's "<unfinished ...>" start, and its "<... name resumed>" end.
LINE = re.compile(
    _PREFIX + r"(?:(?P<name>\w+)\((?P<args>.*)(?:" + _RESULT + r"|(?P<unf> ?<unfinished \.\.\.>))"
    r"|<\.\.\. (?P<rname>\w+) resumed>(?P<rest>.*?))\r?$"
)
# A call joined from its pieces: no prefix.
CALL = re.compile(r"(?P<name>\w+)\((?P<args>.*)" + _RESULT + r"\r?$")
PREFIX = re.compile(_PREFIX)

PID_CHANGED = re.compile(r"(?P<name>\w+)\((?P<args>.*?) ?<pid changed to (?P<new>\d+) \.\.\.>\r?$")
EXITED = re.compile(
    r"\+\+\+ (?:exited with (?P<code>-?\d+)|killed by (?P<sig>SIG\w+|\d+)(?: \(core dumped\))?"
    r"|superseded by execve(?: in pid (?P<old>\d+))?) \+\+\+\r?$"
)
# strace's own notices: "strace: Process 1234 attached" and friends.
ATTACHED_INSIDE = re.compile(r"strace: Process \d+ (?:attached|detached)")


def parse_ts(text: str | None) -> float | None:
    """-ttt "1716900000.123456" -> float; -t/-tt "09:09:22.123" -> seconds of the day."""
    if not text:
        return None
    text = text.rstrip()
    try:
        if ":" not in text:
            return float(text)
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:  # a mangled prefix: the line keeps no time rather than failing
        return None


def is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" and the like, which int() refuses."""
    return text.isascii() and text.isdigit()
