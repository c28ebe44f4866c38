"""The source lines an HTML page shows: only Python sources, never through a link, and
for a saved report rendered by root, only its writer's files."""

from __future__ import annotations

import os
from pathlib import Path

from fdleak.model.observation import SourceInfo
from fdleak.model.report import FdEntry, Frame, Leak, Origin, Report, Window
from fdleak.pipeline.snippets import source_snippets


def report_naming(*files: str) -> Report:
    frames = tuple(Frame(name, 2, "f") for name in files)
    example = FdEntry(1, 5, "file", "/tmp/x", "open", 1.0, None)
    leak = Leak("L1", "file", "/tmp/x", 1, 1, 0, (1,), 1.0, 1.0, 1.0, "high", "kept", (example,),
                Origin("t", frames))  # fmt: skip
    return Report(SourceInfo(mode="python"), Window(1.0, 2.0, 1, 0, 0), (), (leak,), ())


def test_only_regular_python_sources_not_through_links(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text("one\ntwo\nthree\n")
    (tmp_path / "linked.py").symlink_to(source)  # a link, even to a source: not followed
    (tmp_path / "secret.py").symlink_to("/etc/hostname")
    (tmp_path / "dir").symlink_to("/etc")
    os.mkfifo(tmp_path / "fifo.py")  # would block a plain open
    names = [str(tmp_path / n) for n in ("app.py", "linked.py", "secret.py", "fifo.py")]
    names.append(str(tmp_path / "dir" / "hostname.py"))
    found = source_snippets(report_naming(*names))
    assert list(found) == [(str(source), 2)]
    assert found[(str(source), 2)].lines == ("one", "two", "three")


def test_a_saved_report_rendered_by_root_shows_only_its_writers_files(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text("one\ntwo\n")
    mine = os.stat(source).st_uid
    assert source_snippets(report_naming(str(source)), owner=mine)
    assert not source_snippets(report_naming(str(source)), owner=mine + 1)


def test_relative_names_are_read_from_the_given_root(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text("a\nb\nc\n")
    assert (("tasks.py", 2)) in source_snippets(report_naming("tasks.py"), root=str(tmp_path))
