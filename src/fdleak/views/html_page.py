"""The HTML report's frame: escaping, the style sheet, the page shell and writing it."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

from fdleak.views.escape import plain
from fdleak.views.files import write_atomically

# every string of a report is hostile: control characters shown as \xNN, then HTML-escaped
# (quotes too, so the same text is safe inside an attribute)


def esc(value: object) -> str:
    return html.escape(plain(str(value)), quote=True)


def num(value: object) -> str:
    """A count with thousands separators; anything else a hand-edited report put there, escaped."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return esc(value)


def clock(ts: object) -> str:
    """Epoch seconds as a UTC time (a page travels between time zones); — when unknown."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        try:
            return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
        except (OverflowError, OSError, ValueError):
            pass
    return "—" if ts is None else esc(ts)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], css: str = "") -> str:
    """A table of cells that are already HTML (escaped by the caller)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list of (label, HTML) pairs."""
    return "<dl>" + "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in pairs) + "</dl>"


STYLE = """
:root { --fg: #1d2330; --muted: #5d6675; --line: #d9dde5; --bg: #fff; --soft: #f4f6f9;
        --high: #b3261e; --medium: #a15c00; --low: #6b7280; --ok: #1e7b34; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 10px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 6px; } .leak h3 { margin-top: 0; }
.summary { font-size: 16px; margin: 4px 0 16px; } .found { color: var(--high); font-weight: 600; }
.clean { color: var(--ok); font-weight: 600; } .muted { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; font-size: 13px; white-space: nowrap; }
td code, dd code, h3 code { overflow-wrap: anywhere; }
td.n, th.n { text-align: right; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.leak { border: 1px solid var(--line); border-left: 5px solid var(--low); border-radius: 4px;
        padding: 10px 14px; margin: 12px 0; }
.leak.high { border-left-color: var(--high); } .leak.medium { border-left-color: var(--medium); }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; color: #fff;
         background: var(--low); } .badge.high { background: var(--high); }
.badge.medium { background: var(--medium); }
.origin { background: var(--soft); padding: 6px 10px; border-radius: 4px; margin: 8px 0; }
.frames { margin: 4px 0; padding-left: 20px; } .frames li.culprit > code { font-weight: 700; }
pre.source { background: #fbfbfd; border: 1px solid var(--line); padding: 6px 0; margin: 4px 0 8px;
             overflow-x: auto; } pre.source span { display: block; padding: 0 10px; white-space: pre; }
pre.source span.here { background: #fff1c2; } pre.source b { color: var(--muted); font-weight: normal;
             display: inline-block; width: 5ch; text-align: right; margin-right: 12px; }
.warn { color: var(--medium); } ul.warnings { margin: 4px 0; }
svg.chart { width: 100%; height: auto; background: #fff; border: 1px solid var(--line); }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; }
details summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

# No script runs on the page (none is needed): even a name that slipped past escaping could
# not execute. Styles are inline; nothing is fetched, so the page works offline.
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_page(text: str, path: str) -> None:
    """Write to ``path`` via a temporary file, so a reader never sees half a page."""
    write_atomically(text, path, ".html")


__all__ = ["clock", "esc", "facts", "num", "page", "table", "write_page"]
