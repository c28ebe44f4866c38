"""The JSON view: the report document, written atomically."""

from __future__ import annotations

import json
import os
import tempfile

from fdleak.model.report import Report


def dumps(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def write(report: Report, path: str) -> None:
    """Write to ``path`` via a temporary file, so a reader never sees half a report."""
    if path == "-":
        import sys

        sys.stdout.write(dumps(report))
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".fdleak-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps(report))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
