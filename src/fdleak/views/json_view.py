"""The JSON view: the report document (or a snapshot, a diff), written atomically."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from fdleak.views.files import write_atomically

if TYPE_CHECKING:  # a snapshot or a diff is written without loading the report model
    from fdleak.model.report import Report


def dumps(report: Report) -> str:
    return dumps_document(report.to_json())


def dumps_document(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(report: Report, path: str) -> None:
    write_document(report.to_json(), path)


def write_document(document: Any, path: str) -> None:
    """Write to ``path`` via a temporary file, so a reader never sees half a document."""
    text = dumps_document(document)
    if path == "-":
        sys.stdout.write(text)
        return
    write_atomically(text, path, ".json")
