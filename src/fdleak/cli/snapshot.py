"""fdleak snapshot: an lsof-like inventory of a process's fds, or what changed over a wait."""

from __future__ import annotations

import argparse
import gc
import sys

from fdleak.cli.options import RawDescriptionHelpFormatter, add_html_option, add_pid_option, duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "list every fd of a process (kind, target, mode, socket state, pipe peer), or diff over time"
DESCRIPTION = """\
Read /proc/PID/fd and /proc/PID/fdinfo: every fd with its kind, target, access mode,
close-on-exec flag and offset; sockets resolved through the process's /proc/PID/net
tables (protocol, both ends, TCP state: a pile of CLOSE_WAIT is a classic leak); pipes
with the other processes holding them. A summary grouped by signature comes first.

With --diff-after 30s, take a second snapshot after the wait and show what appeared
and disappeared, biggest growth first. Reads /proc only: safe on a production box."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    add_pid_option(parser, required=True)
    parser.add_argument("--tree", action="store_true", help="also every descendant of each PID")
    parser.add_argument(
        "--diff-after",
        type=duration,
        metavar="DURATION",
        help="take a second snapshot after this long (30s, 5m) and show the difference",
    )
    parser.add_argument("--summary", action="store_true", help="only the summary by signature, no fd listing")
    parser.add_argument(
        "--json", metavar="FILE", help="write the snapshot (or the diff) as JSON (- for stdout)"
    )
    add_html_option(parser, "the snapshot (or the diff)")


def run(args: argparse.Namespace) -> int:
    # A snapshot makes a few small objects per fd and no cycles: at 10k fds the cycle
    # collector ran about 50 times, found nothing and took 5 ms. Off for this short command.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    from fdleak.pipeline.census import snapshot, timed_snapshot

    if args.json:
        from fdleak.views import json_view  # json and tempfile: only when asked for
    if args.diff_after is not None:
        from fdleak.analysis.diff import diff_snapshots
        from fdleak.cli.output import table_console
        from fdleak.views.inventory import render_diff

        print(
            f"fdleak: snapshot taken; the second follows in {args.diff_after:g} s (Ctrl-C to stop)",
            file=sys.stderr,
        )

        before, after = timed_snapshot(args.pids, args.tree, args.diff_after)
        diff = diff_snapshots(before, after)
        if args.json:
            json_view.write_document(diff.to_json(), args.json)
        if args.json != "-":
            render_diff(diff, table_console())
        if args.html:
            from fdleak.views.html_snapshot import write_diff

            write_diff(diff, args.html)
            _wrote(args.html)
        return 0
    taken = snapshot(args.pids, args.tree)
    if args.json:
        json_view.write_document(taken.to_json(), args.json)
    if args.json != "-":
        from fdleak.views.listing import render_snapshot

        render_snapshot(taken, sys.stdout, listing=not args.summary)
    if args.html:
        from fdleak.views.html_snapshot import write_snapshot

        write_snapshot(taken, args.html)
        _wrote(args.html)
    return 0


def _wrote(path: str) -> None:
    from fdleak.views.escape import plain

    print(f"fdleak: HTML report written to {plain(path)}", file=sys.stderr)
