"""The HTML report's leak cards: evidence, example fds, and the origin with its source lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fdleak.model.report import FdEntry, Leak
from fdleak.model.snippet import Snippet
from fdleak.views.html_page import clock, esc, facts, num, table

Snippets = Mapping[tuple[str, int], Snippet]  # (file, line) -> the lines around it


def leak_card(leak: Leak, snippets: Snippets) -> str:
    level = esc(leak.confidence)
    pids = ", ".join(esc(p) for p in leak.pids[:20]) + (" …" if len(leak.pids) > 20 else "")
    head = (
        f'<div class="leak {level}" id="{esc(leak.id)}"><h3>{esc(leak.id)} '
        f'<span class="badge {level}">{level} confidence</span> {esc(leak.kind)} '
        f'<code class="signature">{esc(leak.signature)}</code></h3>'
    )
    evidence = facts(
        [
            (
                "still open",
                f'<b class="count">{num(leak.count)}</b> in pid{"s" if len(leak.pids) != 1 else ""} '
                f'<span class="pids">{pids}</span>',
            ),
            ("opened / closed", f"{num(leak.opened)} / {num(leak.closed)}"),
            ("rate", f"{num(leak.rate_per_min)} per minute"),
            ("first / last", f"{clock(leak.first_ts)} / {clock(leak.last_ts)}"),
            ("why", esc(leak.reason)),
        ]
    )
    return head + evidence + _origin(leak, snippets) + _examples(leak.examples, leak.count) + "</div>"


def _origin(leak: Leak, snippets: Snippets) -> str:
    origin = leak.origin
    if origin is None:
        return ""
    task = f'<div>Celery task <code class="task">{esc(origin.task)}</code></div>' if origin.task else ""
    if not origin.frames:
        return f'<div class="origin">{task}<div class="muted">opened outside Python\'s view</div></div>'
    culprit = origin.fixable_frame()
    items = []
    for frame in origin.frames:
        where = (
            f'<code class="where">{esc(frame.file)}:{esc(frame.line)}</code> '
            f"in <code>{esc(frame.function)}</code>"
        )
        snippet = snippets.get((frame.file, frame.line))
        klass = ' class="culprit"' if frame is culprit else ""
        items.append(f"<li{klass}>{where}{_source(snippet) if snippet else ''}</li>")
    return (
        f'<div class="origin">{task}<div>Python stack, outermost first; the call that opened the fd '
        f'last (bold: the code to fix)</div><ol class="frames">{"".join(items)}</ol></div>'
    )


def _source(snippet: Snippet) -> str:
    rows = []
    for number, text in enumerate(snippet.lines, snippet.first):
        here = ' class="here"' if number == snippet.line else ""
        rows.append(f"<span{here}><b>{number}</b>{esc(text)}</span>")
    return f'<pre class="source">{"".join(rows)}</pre>'


def _examples(examples: Sequence[FdEntry], count: int) -> str:
    rows = [fd_row(e) for e in examples]
    more = (
        f'<p class="muted">… and {num(count - len(examples))} more in the JSON report.</p>'
        if count > len(examples)
        else ""
    )
    return table(["line", "pid", "fd", "call", "target", "opened at"], rows, "examples") + more


def fd_row(e: FdEntry) -> list[str]:
    return [
        num(e.line) if e.line is not None else "—",
        esc(e.pid),
        esc(e.fd),
        esc(e.syscall),
        f"<code>{esc(e.target)}</code>",
        clock(e.ts),
    ]


__all__ = ["Snippets", "fd_row", "leak_card"]
