"""The HTML report: real reports rendered, opened in real headless Chromium, read back from its DOM.

Each page comes from a real run (a workload under real strace, fdleak run, fdleak watch of a
real process, fdleak snapshot/diff, a saved JSON through fdleak report). Chromium loads it
from disk with no network, so a page that needed a CDN or a script would show it; checks
are batched per page (each Chromium start costs about a second).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import holder, need_tool, run_fdleak, validate_report
from fdleak.model.kinds import FdKind
from fdleak.model.signature import signature_of
from fdleak.views.escape import plain
from test_accuracy import trace_workload, workload

PAGE_TITLE = "fdleak report"
HOSTILE_DIR = "<script>document.title='pwned'<"  # + "script>..." inside: a path holding </script>


# --- Chromium ---------------------------------------------------------------------


def chromium(*args: str, timeout: float = 60) -> str:
    binary = need_tool("chromium")
    with tempfile.TemporaryDirectory(prefix="fdleak-chromium-") as profile:  # no shared profile
        proc = subprocess.run(
            [binary, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
             f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dom(page: Path) -> Page:
    """The page as Chromium built it (after any script on it would have run)."""
    return Page(chromium("--dump-dom", page.as_uri()))


class Page(HTMLParser):
    """What a test reads from a DOM: the title, the visible text, elements by class, SVG lines."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.markup = markup
        self.title = ""
        self.text: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self.series: list[dict[str, str]] = []
        self.scripts = 0
        self._open: list[tuple[str, list[str]]] = []  # (tag, classes) of the elements we are inside
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
        if tag in ("path", "circle") and "series" in values.get("class", ""):
            self.series.append(values)
        if tag not in ("br", "meta", "img", "input", "link", "hr"):  # HTML void elements
            self._open.append((tag, values.get("class", "").split()))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        tags = [tag for tag, _ in self._open]
        if tags and tags[-1] == "title" and "svg" not in tags:
            self.title += data
        if "style" in tags:
            return
        self.text.append(data)
        for _, classes in self._open:
            for name in classes:
                self.by_class.setdefault(name, []).append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def of_class(self, name: str) -> list[str]:
        return self.by_class.get(name, [])


def point_count(element: dict[str, str]) -> int:
    """Points drawn: a path of steps is "Mx,y" then "Hx" "Vy" per further point; a circle is one."""
    if "d" not in element:
        return 1
    steps = re.findall(r"H(-?[\d.]+)V(-?[\d.]+)", element["d"])
    assert re.fullmatch(r"M-?[\d.]+,-?[\d.]+(H-?[\d.]+V-?[\d.]+)*", element["d"]), element["d"]
    return 1 + len(steps)


# --- a small PNG reader, for a screenshot's pixels ---------------------------------


def png_pixels(path: Path) -> tuple[int, int, list[list[bytes]]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG (Chromium's)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    step = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * step, [], bytearray(width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, [[r[i : i + 3] for i in range(0, stride, step)] for r in rows]


# --- helpers ------------------------------------------------------------------------


def wrote_line(stderr: str, page: Path) -> None:
    """The command's one line saying where the page went, and the page is there."""
    assert f"fdleak: HTML report written to {page}" in stderr.splitlines(), stderr
    assert page.is_file() and page.stat().st_size > 1000


def leak_card(page: Page, report: dict[str, Any]) -> None:
    """The first leak's signature, count and pids are on the page as the JSON has them."""
    leak = report["leaks"][0]
    assert leak["signature"] in page.of_class("signature")
    assert f"{leak['count']:,}" in page.of_class("count")
    shown = " ".join(page.of_class("pids"))
    assert all(str(pid) in shown for pid in leak["pids"])


def chart_matches(page: Page, lines: list[dict[str, Any]]) -> None:
    """One SVG line per process, with as many points as it has samples."""
    drawn = {int(s["data-pid"]): point_count(s) for s in page.series}
    assert drawn == {line["pid"]: len(line["samples"]) for line in lines}, drawn


# --- trace modes ------------------------------------------------------------------

pytestmark = pytest.mark.strace


def test_analyze_page_of_a_real_leak_with_the_kernels_count(tmp_path: Path) -> None:
    """A workload under real strace keeps one file per round: the page shows the leak and
    charts the fd count, whose last point is what /proc showed the process holding (the fds
    made inside the window) while strace was still attached."""
    log, pids, truth = trace_workload(tmp_path, workload("files", tmp_path, 40, 1, 2))
    (pid,) = pids
    out, page = tmp_path / "report.json", tmp_path / "page.html"
    proc = run_fdleak("analyze", "--json", str(out), "--html", str(page), str(log))
    assert proc.returncode == 1, proc.stderr
    wrote_line(proc.stderr, page)
    report = json.loads(out.read_text())
    validate_report(report)
    (line,) = [t for t in report["timeline"] if t["pid"] == pid]
    held = sum(1 for key in truth if key[0] == pid)
    assert held >= 40 and line["samples"][-1][1] == held and line["peak"] == held, (line, held)
    assert report["leaks"][0]["signature"].endswith("/leak_*.txt")

    shown = dom(page)
    assert shown.title == PAGE_TITLE and shown.scripts == 0
    leak_card(shown, report)
    chart_matches(shown, report["timeline"])
    text = shown.all_text()
    assert str(log) in text and "1 leak found" in text
    assert str(pid) in shown.of_class("pid")  # the processes table


LEAKY = """\
import os
import time

keep = []


def export(i):
    keep.append(open(os.path.join({dir!r}, f"report_{{i}}.csv"), "w"))  # the leak


for i in range(25):
    export(i)
    with open(os.path.join({dir!r}, "scratch.txt"), "w") as scratch:
        scratch.write("x")
time.sleep(1.3)  # the Python tracker writes where each fd was opened every second
os._exit(0)  # no interpreter shutdown: the files stay open to the end
"""


def test_run_page_shows_the_python_line_and_its_source(tmp_path: Path) -> None:
    """fdleak run on a Python command: the leak's origin is the script's line, with the
    source around it; fdleak report makes the same page again from the saved JSON."""
    need_tool("strace")
    script = tmp_path / "exporter.py"
    script.write_text(LEAKY.format(dir=str(tmp_path)))
    leak_line = 1 + LEAKY.splitlines().index(
        next(line for line in LEAKY.splitlines() if "# the leak" in line)
    )
    out, page = tmp_path / "run.json", tmp_path / "run.html"
    proc = run_fdleak("run", "-q", "--json", str(out), "--html", str(page), "--", sys.executable, str(script))
    assert proc.returncode == 1, proc.stderr
    wrote_line(proc.stderr, page)
    report = json.loads(out.read_text())
    validate_report(report)
    frame = report["leaks"][0]["origin"]["frames"][-1]
    assert (frame["file"], frame["line"], frame["function"]) == (str(script), leak_line, "export")

    shown = dom(page)
    assert shown.title == PAGE_TITLE and shown.scripts == 0
    leak_card(shown, report)
    culprit = "".join(shown.of_class("culprit"))  # the frame to fix, with its source lines
    assert culprit.startswith(f"{script}:{leak_line} in export")
    assert f"{leak_line}    keep.append(open(os.path.join(" in culprit and "def export(i):" in culprit
    here = [text for text in shown.of_class("here") if text.startswith(str(leak_line))]
    assert len(here) == 1  # the line itself is highlighted
    chart_matches(shown, report["timeline"])

    again = tmp_path / "again.html"
    proc = run_fdleak("report", str(out), "--html", str(again))
    assert proc.returncode == 1, proc.stderr  # the report has a leak
    wrote_line(proc.stderr, again)
    assert again.read_text() == page.read_text()


HOSTILE = """\
import os
import time

directory = os.path.dirname(os.path.abspath(__file__))
keep = []
for i in range(20):
    keep.append(open(os.path.join(directory, f"script>\\n\\x1b[31m\\"q'_{i}.txt"), "w"))
    with open(os.path.join(directory, "scratch.txt"), "w"):
        pass
time.sleep(1.3)  # the Python tracker writes where each fd was opened every second
os._exit(0)
"""


def test_hostile_names_are_shown_as_text_and_never_run(tmp_path: Path) -> None:
    """Paths holding <script>, quotes, a newline and an escape sequence: the page shows them
    as text (control characters as \\xNN), in tables and in the SVG's tooltips; no script
    element exists and the title is untouched."""
    need_tool("strace")
    hostile = tmp_path / HOSTILE_DIR
    hostile.mkdir()
    script = hostile / "script>leaky.py"  # the path reads ...'pwned'</script>leaky.py
    script.write_text(HOSTILE)
    out, page = tmp_path / "r.json", tmp_path / "hostile.html"
    proc = run_fdleak("run", "-q", "--json", str(out), "--html", str(page), "--", sys.executable, str(script))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(out.read_text())
    signature = report["leaks"][0]["signature"]
    assert "</script>" in signature and "\n" in signature and "\x1b" in signature

    markup = page.read_text()
    assert "<script" not in markup.lower() and "</script>" not in markup  # escaped in the file

    shown = dom(page)
    assert shown.title == PAGE_TITLE and shown.scripts == 0
    expected = signature.replace("\n", "\\x0a").replace("\x1b", "\\x1b")
    assert expected in shown.of_class("signature")
    assert f"{tmp_path}/{HOSTILE_DIR}/script>\\x0a\\x1b[31m\"q'_0.txt" in shown.all_text()
    (line,) = report["timeline"]
    assert f"pid {line['pid']}: {plain(line['command'])}" in shown.all_text()  # the SVG <title>, as text
    frame = report["leaks"][0]["origin"]["frames"][-1]
    assert frame["file"] == str(script)
    culprit = "".join(shown.of_class("culprit"))
    assert culprit.startswith(f"{script}:{frame['line']} in <module>")
    assert f"{frame['line']}    keep.append(open(os.path.join(directory" in culprit


# --- /proc modes --------------------------------------------------------------------


def test_watch_page_charts_every_sample_and_draws_pixels(tmp_path: Path) -> None:
    """fdleak watch of a real leaking process: the chart has one point per sample, and a
    screenshot shows the line's colour inside the chart."""
    with holder(tmp_path, "--leak-every", "0.05") as held:
        out, page = tmp_path / "watch.json", tmp_path / "watch.html"
        proc = run_fdleak(
            "watch", "-q", "-p", str(held.pid), "--interval", "0.1s", "--duration", "1.5s",
            "--json", str(out), "--html", str(page),
        )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr  # growth in 1.5 s: flagged or not, charted
    wrote_line(proc.stderr, page)
    report = json.loads(out.read_text())
    validate_report(report)
    (series,) = report["series"]
    assert len(series["samples"]) >= 10

    shown = dom(page)
    assert shown.title == PAGE_TITLE and shown.scripts == 0
    chart_matches(shown, report["series"])
    legend = shown.markup[shown.markup.index('class="legend"') :]
    assert f"<td>{max(n for _, n in series['samples'])}</td>" in legend

    png = tmp_path / "watch.png"
    chromium(f"--screenshot={png}", "--window-size=1000,640", "--hide-scrollbars", page.as_uri())
    width, _, rows = png_pixels(png)
    # the line's colour (#1f6fd1), right of where the legend's swatch sits
    blue = sum(
        1
        for row in rows
        for p in row[width // 8 :]
        if abs(p[0] - 0x1F) < 40 and abs(p[1] - 0x6F) < 40 and abs(p[2] - 0xD1) < 40
    )
    assert blue > 200, f"the chart's line is not on the screenshot ({blue} pixels of its colour)"


def test_snapshot_and_diff_pages(tmp_path: Path) -> None:
    """fdleak snapshot and diff pages list what /proc showed: every fd of the holder, and
    what it opened between the two snapshots."""
    with holder(tmp_path, "--files", "6", "--leak-every", "0.05") as held:
        a, b = tmp_path / "a.json", tmp_path / "b.json"
        snap_page, diff_page = tmp_path / "snap.html", tmp_path / "diff.html"
        proc = run_fdleak("snapshot", "-p", str(held.pid), "--json", str(a), "--html", str(snap_page))
        assert proc.returncode == 0, proc.stderr
        wrote_line(proc.stderr, snap_page)
        time.sleep(0.6)  # the holder leaks a file every 50 ms meanwhile
        assert run_fdleak("snapshot", "-p", str(held.pid), "--json", str(b)).returncode == 0
        files = {fd: f"{tmp_path}/held_{n}.txt" for n, fd in enumerate(sorted(held.fds))}
    grown = {fd["target"] for fd in json.loads(b.read_text())["processes"][0]["fds"]} - {
        fd["target"] for fd in json.loads(a.read_text())["processes"][0]["fds"]
    }
    proc = run_fdleak("diff", str(a), str(b), "--html", str(diff_page))
    assert proc.returncode == 0, proc.stderr
    wrote_line(proc.stderr, diff_page)

    shown = dom(snap_page)
    assert shown.title == "fdleak snapshot" and str(held.pid) in shown.of_class("pid")
    text = shown.all_text()
    assert len(files) == 6 and all(target in text for target in files.values())
    diffed = dom(diff_page)
    assert diffed.title == "fdleak diff"
    assert len(grown) >= 5 and all("leaky_" in target for target in grown)
    assert signature_of(FdKind.FILE, f"{tmp_path}/leaky_1.txt") in diffed.all_text()
    assert f"+{len(grown)}" in diffed.all_text()


# --- bad input: one line, exit status 2 ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: no such file"),
        ("not json", "{path} is not JSON; give a report written by --json FILE"),
        (
            '{"schema": "other/1"}',
            "{path} is not an fdleak report (its schema is 'other/1'); give a file written by --json "
            "of analyze, run, trace, watch or snapshot",
        ),
        (
            '{"schema": "fdleak.report/1", "leaks": [{"pids": 5}]}',
            "{path} is a damaged fdleak report (TypeError: 'int' object is not iterable)",
        ),
    ],
)
def test_report_bad_input(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    proc = run_fdleak("report", str(path), "--html", str(tmp_path / "p.html"))
    assert (proc.returncode, proc.stderr) == (2, "fdleak: " + message.format(path=path) + "\n")
    assert not (tmp_path / "p.html").exists()


def test_unwritable_destination(tmp_path: Path) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(EMPTY))
    page = tmp_path / "missing" / "p.html"
    proc = run_fdleak("report", str(saved), "--html", str(page))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"fdleak: cannot write {page}: No such file or directory; choose a writable directory\n",
    )
    proc = run_fdleak("report", str(saved), "--html", str(tmp_path))
    assert (proc.returncode, proc.stderr) == (
        2,
        f"fdleak: cannot write {tmp_path}: it is a directory; give a file name\n",
    )
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_report_prints_text_without_html(tmp_path: Path) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(EMPTY))
    validate_report(EMPTY)
    proc = run_fdleak("report", str(saved))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fdleak: no leak found (7 lines, 3 fd events") and proc.stderr == ""


EMPTY = {
    "schema": "fdleak.report/1",
    "tool": {"name": "fdleak", "version": "0.1.0"},
    "source": {"mode": "strace-log", "inputs": ["t.txt"], "command": None, "pids": []},
    "window": {"start": None, "end": None, "events": 3, "lines": 7, "unparsed_lines": 0},
    "processes": [],
    "leaks": [],
    "open_fds": [],
}


def test_a_page_needs_nothing_from_outside() -> None:
    """No URL on the page but the SVG namespace: nothing to fetch, works offline."""
    from fdleak.model.observation import SourceInfo
    from fdleak.model.report import Report, Window
    from fdleak.views.html import render

    markup = render(Report(SourceInfo("strace-log"), Window(None, None, 0, 0, 0), (), (), ()))
    assert not re.findall(r"https?://", markup.replace("http://www.w3.org/2000/svg", ""))
    assert "src=" not in markup and "<link" not in markup and "@import" not in markup
