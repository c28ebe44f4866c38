"""Targets and command lines are hostile input: show control characters as \\xNN."""

from __future__ import annotations

import re

# control characters, and the lone surrogates that stand for the bytes of a name that is not
# UTF-8 (they cannot be written out as UTF-8)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def plain(text: str) -> str:
    """``text`` with control characters shown as \\xNN, so a name cannot move the cursor or fake a line."""
    if text.isprintable():  # no control character (all are Cc): skip the regex, the usual case
        return text
    return _CONTROL.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code >= 0xD800 else f"\\x{code:02x}"
