"""fdleak report: show a saved JSON report again, as text or as a self-contained HTML page."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_html_option
from fdleak.errors import InputError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "show a saved JSON report (--json of analyze, run, trace, watch; a snapshot) as text or HTML"
DESCRIPTION = """\
Read a report that an fdleak command saved with --json (analyze, run, trace, watch,
merge, celery) and print it as on the terminal, or with --html FILE write it as one
self-contained page: a chart of fd counts over time, each leak with its evidence and
origin (with the source lines around it when the file can be read here), open fds,
groups and processes. A snapshot (fdleak snapshot --json) is shown too.
Exit status: 0 no leak, 1 the report has a leak, 2 the file cannot be used."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument("path", metavar="REPORT.json", help="a report written by --json")
    add_html_option(
        parser, text="write the report as one self-contained HTML page (works offline) instead of printing it"
    )


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import sys

    from rich.console import Console

    from fdleak.cli.json_input import read_json
    from fdleak.model.report import SCHEMA, Report
    from fdleak.model.snapshot import SNAPSHOT_SCHEMA, Snapshot

    data = read_json(args.path, "a report", "give a report written by --json FILE")
    schema = data.get("schema") if isinstance(data, dict) else None
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    if schema == SNAPSHOT_SCHEMA:
        snapshot = Snapshot.from_json(data, args.path)
        if args.html:
            from fdleak.views.html_snapshot import write_snapshot

            _rendering(args.path, lambda: write_snapshot(snapshot, args.html))
            errors.print(f"fdleak: HTML report written to {_safe(args.html)}", markup=False)
        else:
            from fdleak.views.listing import render_snapshot

            render_snapshot(snapshot, sys.stdout, listing=True)
        return 0
    if schema != SCHEMA:
        what = f"its schema is {_safe(str(schema))!r}" if schema else "no fdleak.report schema"
        raise InputError(
            f"{args.path} is not an fdleak report ({what})",
            "give a file written by --json of analyze, run, trace, watch or snapshot",
        )
    try:
        report = Report.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(
            f"{args.path} is a damaged fdleak report ({type(error).__name__}: {error})"
        ) from None
    if args.html:
        import os

        from fdleak.cli.output import write_html

        # root renders a saved report with only its writer's sources: a report crafted by
        # a user must not copy root's own files into the page
        owner = os.stat(args.path).st_uid if os.geteuid() == 0 else None
        _rendering(args.path, lambda: write_html(report, args.html, errors, owner=owner))
    else:
        from fdleak.views import text

        out = Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())
        _rendering(args.path, lambda: text.render(report, out))
        text.render_warnings(report, errors)
    return 1 if report.found_leak else 0


def _rendering(path: str, render: Any) -> None:
    """A hand-edited report can hold a string where a number belongs: one line, not a traceback."""
    try:
        render()
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(f"{path} is a damaged fdleak report ({type(error).__name__}: {error})") from None


def _safe(text: str) -> str:
    from fdleak.views.escape import plain

    return plain(text)
