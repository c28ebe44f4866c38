"""Pure analysis: fd records in, a report out. Reads no files, starts no processes.

Import the module you need (``.build``, ``.trend``, ``.diff``, ``.watch_report``).
"""
