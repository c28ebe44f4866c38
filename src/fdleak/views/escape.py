"""Targets and command lines are hostile input: show control characters as \\xNN."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """``text`` with control characters shown as \\xNN, so a name cannot move the cursor or fake a line."""
    if text.isprintable():  # no control character (all are Cc): skip the regex, the usual case
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
