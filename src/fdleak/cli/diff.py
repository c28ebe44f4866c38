"""fdleak diff: what appeared and disappeared between two snapshots, biggest growth first."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_html_option

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from fdleak.model.snapshot import Snapshot

HELP = "compare two snapshots (fdleak snapshot --json) grouped by signature"
DESCRIPTION = """\
Compare two snapshots written by `fdleak snapshot -p PID --json FILE`: which groups of
fds (same kind and signature) grew or shrank, with examples, biggest growth first.
A process is matched by pid and start time, so a recycled pid is not mistaken for its
predecessor."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument("before", metavar="A.json", help="the older snapshot")
    parser.add_argument("after", metavar="B.json", help="the newer snapshot")
    parser.add_argument("--json", metavar="FILE", help="write the difference as JSON (- for stdout)")
    add_html_option(parser, "the difference")


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    from fdleak.analysis.diff import diff_snapshots
    from fdleak.cli.output import table_console
    from fdleak.views import json_view
    from fdleak.views.inventory import render_diff

    diff = diff_snapshots(_load(args.before), _load(args.after))
    if args.json:
        json_view.write_document(diff.to_json(), args.json)
    if args.json != "-":
        render_diff(diff, table_console())
    if args.html:
        import sys

        from fdleak.views.escape import plain
        from fdleak.views.html_snapshot import write_diff

        write_diff(diff, args.html)
        print(f"fdleak: HTML report written to {plain(args.html)}", file=sys.stderr)
    return 0


def _load(path: str) -> Snapshot:
    from fdleak.cli.json_input import read_json
    from fdleak.model.snapshot import Snapshot

    data = read_json(path, "a snapshot", "write a snapshot with: fdleak snapshot -p PID --json FILE")
    return Snapshot.from_json(data, path)
