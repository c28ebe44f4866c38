"""The JSON report against its schema and its round trip through the model."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import validate_report
from fdleak.model.report import Report
from fdleak.pipeline.logs import analyze_logs

LOG = (
    """\
100 1.0 openat(AT_FDCWD, "/etc/cfg", O_RDONLY) = 3</etc/cfg>
100 1.1 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 4<socket:[9]>
100 1.2 connect(4<socket:[9]>, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
"""
    + "".join(
        f'100 {2 + i}.0 openat(AT_FDCWD, "/tmp/r_{i}.csv", O_WRONLY|O_CREAT, 0666) = {5 + i}</tmp/r_{i}.csv>\n'
        for i in range(8)
    )
    + '100 9.0 openat(AT_FDCWD, "/x", O_RDONLY) = -1 EMFILE (Too many open files)\n'
)


@pytest.fixture
def report(tmp_path: Path) -> dict[str, Any]:
    log = tmp_path / "t.txt"
    log.write_text(LOG)
    return analyze_logs([str(log)]).to_json()


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads((files("fdleak") / "schema" / "report-1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_real_report_validates(report: dict[str, Any]) -> None:
    validate_report(report)
    assert report["leaks"][0]["signature"] == "/tmp/r_*.csv"
    assert report["fd_errors"][0]["errno"] == "EMFILE"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("schema",), "fdleak.report/2"),
        (("leaks", 0, "confidence"), "certain"),
        (("leaks", 0, "kind"), "blob"),
        (("window", "events"), "many"),
        (("source", "mode"), "telepathy"),
    ],
)
def test_broken_reports_are_rejected(report: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node = report
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate_report(report)


def test_missing_key_is_rejected_and_added_keys_are_not(report: dict[str, Any]) -> None:
    report["future_key"] = {"anything": 1}
    report["leaks"][0]["also_new"] = True
    validate_report(report)
    del report["leaks"][0]["count"]
    with pytest.raises(jsonschema.ValidationError):
        validate_report(report)


def test_round_trip_through_the_model(report: dict[str, Any]) -> None:
    again = Report.from_json(json.loads(json.dumps(report))).to_json()
    assert again == report


def test_older_report_without_new_keys_still_reads(report: dict[str, Any]) -> None:
    for key in ("groups", "fd_errors", "warnings"):
        del report[key]
    for process in report["processes"]:
        del process["inherited_open"]
    loaded = Report.from_json(report)
    assert loaded.groups == () and loaded.fd_errors == ()
    assert loaded.processes[0].inherited_open == 0
