"""Sources: everything that turns something outside into FdEvents."""
