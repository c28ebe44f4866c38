"""Saved fdleak JSON reports read back and merged: ``fdleak merge`` and ``fdleak celery``."""

from __future__ import annotations

import json
import os

from fdleak.analysis.merge import merge_reports
from fdleak.errors import InputError, NothingToAnalyze
from fdleak.model.report import Report


def report_files(paths: list[str]) -> list[str]:
    """The .json files named, and those inside the directories named, in a stable order."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            # hidden names are reports still being written (json_view writes a temporary
            # file and renames it): one a killed process left behind is not a report
            names = [n for n in os.listdir(path) if n.endswith(".json") and not n.startswith(".")]
            files += sorted(os.path.join(path, n) for n in names)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise InputError(f"no such file or directory: {path}")
    return files


def load_report(path: str) -> Report:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("fdleak.report/"):
            raise InputError(f"{path} is not an fdleak report (no fdleak.report schema)")
        return Report.from_json(data)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a valid fdleak report: {error}") from None


def merged(paths: list[str]) -> Report:
    files = report_files(paths)
    if not files:
        raise NothingToAnalyze(f"no reports in {', '.join(paths)}", "fdleak writes them as fdleak-*.json")
    return merge_reports([load_report(f) for f in files])
