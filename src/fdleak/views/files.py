"""Writing a view's output to a file: whole or not at all, with the user's usual permissions."""

from __future__ import annotations

import os
import tempfile

from fdleak.errors import InputError


def write_atomically(text: str, path: str, suffix: str) -> None:
    """Write ``text`` to ``path`` via a temporary file renamed into place, so a reader never
    sees half of it; one line of InputError when it cannot be written."""
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a directory", "give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=".fdleak-", suffix=suffix, dir=directory)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}", "choose a writable directory") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp makes it 0600: give it what any file the user makes gets (the umask's say:
        # a report holds command lines, which may hold credentials)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, path)
    except OSError as error:  # a full disk, a quota
        os.unlink(temporary)
        raise InputError(f"cannot write {path}: {error.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise
