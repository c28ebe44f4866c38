"""fdleak exporter: serve per-process fd metrics to Prometheus until stopped."""

from __future__ import annotations

import argparse

from fdleak.cli.options import RawDescriptionHelpFormatter, add_pid_option, duration

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_LISTEN = "127.0.0.1:9464"  # loopback: other hosts only when --listen says so
HELP = "serve per-process fd counts, limits, growth and leak verdicts to Prometheus"
DESCRIPTION = f"""\
Serve Prometheus metrics at http://LISTEN/metrics for the selected process trees
(--celery [PATTERN], -p PID ..., or --match PATTERN), read from /proc at each scrape:
open fds per kind, soft and hard fd limit, the share of the soft limit in use, growth
in fds per second over --window, and fdleak watch's leak verdict, labelled with pid,
role (celery parent, celery child, process, child) and app (the Celery -A/--app value,
else the command's name). A process is its pid and start time: a recycled prefork child
is a new series, and an exited process's series are gone at the next scrape. EMFILE
errors are not visible in /proc and are not exported.

--celery and --match follow workers that start later, so the exporter may start before
them (and serves zero processes until then); -p needs the pid to exist at start. It
listens on {DEFAULT_LISTEN} (loopback) unless --listen names another address: give
--listen 0.0.0.0:9464 explicitly to let other hosts scrape it (the metrics show your
process tree). Runs until SIGTERM or Ctrl-C (exit status 0); bad input, a port in use
or a missing pid: one line and exit status 2.

Alert rules and a Grafana dashboard are in fdleak's repository: deploy/prometheus/fdleak-alerts.yml
and deploy/grafana/fdleak-dashboard.json."""


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help=HELP, description=DESCRIPTION, formatter_class=RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on (default {DEFAULT_LISTEN}; a non-loopback address only when given here)",
    )
    parser.add_argument(
        "--celery",
        nargs="?",
        const="",
        default=None,
        metavar="PATTERN",
        help="Celery workers (parents and pool children), those whose command line matches PATTERN if given",
    )
    add_pid_option(parser)
    parser.add_argument(
        "--match", metavar="PATTERN", help="processes whose command line matches this regular expression"
    )
    parser.add_argument(
        "--window",
        type=duration,
        default=300.0,
        metavar="DURATION",
        help="how far back growth and the leak verdict look (default 5m)",
    )


def run(args: argparse.Namespace) -> int:
    # imported here, not at the top: building the parser stays cheap for every command
    import signal
    import sys
    import threading

    from fdleak.discovery.follow import Follower
    from fdleak.errors import InputError
    from fdleak.exporter.collector import Collector
    from fdleak.exporter.server import Exporter, is_loopback, parse_listen

    chosen = [args.celery is not None, bool(args.pids), args.match is not None]
    if sum(chosen) != 1:
        what = "say which processes to export" if not any(chosen) else "choose one way to select processes"
        raise InputError(f"{what}: --celery [PATTERN], -p PID ... or --match PATTERN")
    host, port = parse_listen(args.listen)
    celery = args.celery is not None
    pattern = (args.celery or None) if celery else args.match
    follower = Follower(tuple(args.pids), celery, pattern)  # a missing -p pid fails here
    exporter = Exporter(host, port, Collector(follower, args.window))
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        exporter.serve()
        _announce(args, follower, exporter.url, is_loopback(host))
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        exporter.stop()
    scrapes = exporter.scrapes
    print(f"fdleak: exporter stopped after {scrapes} scrape{'s' if scrapes != 1 else ''}", file=sys.stderr)
    return 0


def _announce(args: argparse.Namespace, follower: Any, url: str, loopback: bool) -> None:
    import sys

    if args.celery is not None:
        what = "Celery workers" + (f" matching {args.celery!r}" if args.celery else "")
    elif args.match is not None:
        what = f"processes matching {args.match!r}"
    else:
        what = "the trees of pid " + ", ".join(str(pid) for pid in args.pids)
    found = len(follower.tracked)
    now = f"{found} process{'es' if found != 1 else ''} now"
    if found == 0:
        now += ", more as they start"
    print(f"fdleak: exporting fd metrics of {what} ({now}) at {url}; Ctrl-C to stop", file=sys.stderr)
    if not loopback:
        print(
            f"fdleak: {url} is reachable from other hosts: the metrics name this host's processes",
            file=sys.stderr,
        )
