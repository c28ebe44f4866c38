"""Capability probes: is strace installed, which version, and what it can do here."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from fdleak.errors import MissingTool

_VERSION = re.compile(r"strace -- version (\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Strace:
    path: str
    version: tuple[int, int]

    @property
    def has_seccomp(self) -> bool:
        """--seccomp-bpf (strace 5.3+): only the traced system calls stop the command."""
        return self.version >= (5, 3)

    @property
    def kills_on_exit(self) -> bool:
        """--kill-on-exit (strace 6.6+): the traced command dies with strace, so seccomp-bpf
        is safe. Before it, a command that outlived strace under seccomp-bpf would see
        every traced call fail with ENOSYS."""
        return self.version >= (6, 6)


def find_strace() -> Strace:
    path = shutil.which("strace")
    if path is None:
        raise MissingTool("strace is not installed", "install it: sudo apt-get install strace")
    try:
        out = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MissingTool(f"cannot run {path}: {error}") from None
    match = _VERSION.search(out)
    version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return Strace(path, version)


def find_setpriv() -> str | None:
    """util-linux's setpriv, for --pdeathsig (Debian ships it in an essential package)."""
    return shutil.which("setpriv")
