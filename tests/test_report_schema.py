"""The report-1 JSON Schema: it is valid, accepts the documented report, and rejects broken ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

Doc = dict[str, Any]


def load_schema() -> Doc:
    with (files("fdleak") / "schema" / "report-1.json").open(encoding="utf-8") as f:
        schema: Doc = json.load(f)
    return schema


def error_paths(doc: Doc) -> list[tuple[tuple[str | int, ...], str]]:
    """Every violation as (path to the offending value, failing keyword)."""
    validator = jsonschema.Draft202012Validator(load_schema())
    return [(tuple(e.absolute_path), str(e.validator)) for e in validator.iter_errors(doc)]


# The example of REPORT_FORMAT.md as valid JSON: one process, one leak, one open fd.
REPORT: Doc = {
    "schema": "fdleak.report/1",
    "tool": {"name": "fdleak", "version": "0.3.0"},
    "source": {"mode": "strace-log", "inputs": ["trace.txt"], "command": None, "pids": [1234]},
    "window": {
        "start": 1716900000.123,
        "end": 1716900060.0,
        "events": 12345,
        "lines": 20000,
        "unparsed_lines": 3,
    },
    "processes": [
        {
            "pid": 1234,
            "parent": 1200,
            "command": "celery worker",
            "exited": False,
            "exit_status": None,
            "opened": 100,
            "closed": 90,
            "open_at_end": 10,
            "fd_soft_limit": 1024,
        }
    ],
    "leaks": [
        {
            "id": "L1",
            "kind": "file",
            "signature": "/tmp/report_*.csv",
            "count": 50,
            "opened": 50,
            "closed": 0,
            "pids": [1240, 1241],
            "first_ts": 1716900001.5,
            "last_ts": 1716900059.0,
            "rate_per_min": 49.0,
            "confidence": "high",
            "reason": "50 of 50 opened never closed; still growing at the end",
            "examples": [
                {
                    "pid": 1240,
                    "fd": 12,
                    "target": "/tmp/report_3.csv",
                    "syscall": "openat",
                    "ts": 1716900001.5,
                    "line": 1234,
                }
            ],
            "origin": {
                "task": "myapp.tasks.export_report",
                "frames": [{"file": "myapp/tasks.py", "line": 12, "function": "export_report"}],
            },
        }
    ],
    "open_fds": [
        {
            "pid": 1240,
            "fd": 12,
            "kind": "file",
            "target": "/tmp/report_3.csv",
            "syscall": "openat",
            "ts": 1716900001.5,
            "line": 1234,
        }
    ],
}


def changed(edit: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(REPORT)
    edit(doc)
    return doc


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_documented_example_validates() -> None:
    assert error_paths(REPORT) == []


def test_optional_keys_validate_when_present() -> None:
    def add_optional(doc: Doc) -> None:
        doc["window"]["lost_events"] = 0
        doc["processes"][0]["inherited_open"] = 3
        doc["leaks"][0]["verdict"] = "leak"
        doc["leaks"][0]["origin"] = None
        doc["leaks"][0]["examples"][0]["line"] = None
        doc["fd_errors"] = [
            {
                "errno": "EMFILE",
                "pid": 1240,
                "syscall": "openat",
                "count": 2,
                "first_ts": None,
                "first_line": 9,
            }
        ]
        doc["groups"] = [
            {
                "kind": "socket",
                "signature": "TCP 127.0.0.1:*->127.0.0.1:6379",
                "count": 4,
                "opened": 4,
                "closed": 0,
                "pids": [1240],
                "verdict": "pool",
                "reason": "grew to 4 and then reused",
            }
        ]

    assert error_paths(changed(add_optional)) == []


@pytest.mark.parametrize(
    ("edit", "path", "keyword"),
    [
        pytest.param(lambda d: d.update(schema="fdleak.report/2"), ("schema",), "const", id="schema"),
        pytest.param(
            lambda d: d["leaks"][0].update(confidence="certain"),
            ("leaks", 0, "confidence"),
            "enum",
            id="confidence",
        ),
        pytest.param(lambda d: d["leaks"][0].pop("count"), ("leaks", 0), "required", id="leak-count"),
        pytest.param(lambda d: d["leaks"][0].update(kind="blob"), ("leaks", 0, "kind"), "enum", id="kind"),
        pytest.param(
            lambda d: d["window"].update(events="12345"), ("window", "events"), "type", id="events-string"
        ),
        pytest.param(lambda d: d["source"].update(mode="dtrace"), ("source", "mode"), "enum", id="mode"),
        pytest.param(lambda d: d["open_fds"][0].pop("kind"), ("open_fds", 0), "required", id="open-fd-kind"),
        pytest.param(
            lambda d: d.update(groups=[{"verdict": "maybe"}]),
            ("groups", 0, "verdict"),
            "enum",
            id="group-verdict",
        ),
    ],
)
def test_broken_report_is_rejected_at_its_path(
    edit: Callable[[Doc], object], path: tuple[str | int, ...], keyword: str
) -> None:
    assert (path, keyword) in error_paths(changed(edit))


def test_unknown_keys_are_accepted() -> None:
    # the contract lets writers add keys; readers must not break on them
    def add_unknown(doc: Doc) -> None:
        doc["dashboard_hint"] = {"colour": "red"}
        doc["leaks"][0]["severity_score"] = 0.9

    assert error_paths(changed(add_unknown)) == []
