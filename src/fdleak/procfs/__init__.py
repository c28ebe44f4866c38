"""The only code that opens /proc: fds, fdinfo, limits, process status, socket tables."""
