"""fdleak: find file-descriptor leaks in long-running Linux processes."""

__version__ = "0.1.0"
