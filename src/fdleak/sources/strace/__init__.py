"""The strace source: log lines in, FdEvents out."""
