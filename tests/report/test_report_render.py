"""Rendering a .qmd: the Pandoc + Typst fallback (what CI runs) and the quarto path (with a stand-in `quarto` script)."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from report_helpers import page_pixels, pdf_text, remote_references

from nkl.errors import ConfigError, ReportError
from nkl.report import markdown as md
from nkl.report.document import fill_front_matter, resolve_includes, template_path
from nkl.report.render import choose_engine, render

LOG = logging.getLogger("nkl.test")
SPEC = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "mark": "bar", "data": {"values": [{"x": "a", "y": 3}, {"x": "b", "y": 5}]},
        "encoding": {"x": {"field": "x", "type": "nominal"}, "y": {"field": "y", "type": "quantitative"}}}
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect x="10" y="10" width="80" height="80" fill="#1f77b4"/>'
       '<text x="110" y="55" font-size="14">bars</text></svg>')


def write_document(folder: Path) -> Path:
    """A small report: a numbered table, a chart figure (interactive in HTML, SVG in PDF), an include."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir(exist_ok=True)
    (folder / "figures" / "chart.svg").write_text(SVG)
    section = ("# Results\n\n" + md.table(["metric", "value"], [["UAR", "0.6053"], ["accuracy", "0.6330"]], "Test metrics", "tbl-metrics")
               + "\n" + md.figure("fig-chart", "Samples per class.", "figures/chart.svg", SPEC, "50%"))
    (folder / "_results.md").write_text(section)
    template = '---\ntitle: ""\nauthor: ""\n---\n\nIntro text.\n\n{{< include _results.md >}}\n'
    qmd = folder / "doc.qmd"
    qmd.write_text(fill_front_matter(template, {"title": "Render check", "author": "tester"}))
    return qmd


def test_front_matter_keeps_the_users_values_unless_forced() -> None:
    template = '---\ntitle: "My own title"\nauthor: ""\nformat:\n  html:\n    toc: true\n---\nbody\n'
    filled = fill_front_matter(template, {"title": "nkl default", "author": "A. Author", "date": "2026-01-02"})
    assert 'title: "My own title"' in filled and 'author: "A. Author"' in filled and 'date: "2026-01-02"' in filled
    assert "  html:\n    toc: true" in filled and filled.endswith("---\nbody\n")
    forced = fill_front_matter(template, {"title": "From [REPORT]"}, frozenset({"title"}))
    assert 'title: "From [REPORT]"' in forced and "My own title" not in forced


def test_includes_are_resolved_and_a_missing_one_is_named(tmp_path: Path) -> None:
    (tmp_path / "_a.md").write_text("A text\n\n{{< include _b.md >}}\n")
    (tmp_path / "_b.md").write_text("B text\n")
    assert resolve_includes("start\n{{< include _a.md >}}\nend", tmp_path).split("\n") == ["start", "A text", "", "B text", "", "", "end"]
    with pytest.raises(ConfigError, match=r"_missing\.md"):
        resolve_includes("{{< include _missing.md >}}", tmp_path)


def test_builtin_templates_exist_and_a_missing_override_is_a_config_error(tmp_path: Path) -> None:
    for kind, includes in (("experiment", ["_manifest.md", "_results.md", "_appendix.md"]), ("workspace", ["_comparison.md"])):
        text = template_path(kind).read_text()
        assert text.startswith("---\n") and all(f"{{{{< include {i} >}}}}" in text for i in includes)
    with pytest.raises(ConfigError, match="does not exist"):
        template_path("experiment", tmp_path / "mine.qmd")


def test_pandoc_fallback_renders_pdf_and_offline_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no quarto
    monkeypatch.setenv("NKL_CACHE_DIR", str(Path.home() / ".cache" / "nkl"))
    qmd = write_document(tmp_path / "src")
    outputs = {"pdf": tmp_path / "out" / "doc.pdf", "html": tmp_path / "out" / "doc.html"}
    result = render(qmd, outputs, "auto", LOG)
    assert result.engine == "pandoc" and all(p.is_file() for p in outputs.values())
    text = pdf_text(outputs["pdf"])
    assert "Render check" in text and "tester" in text and "Table 1: Test metrics" in text and "0.6053" in text
    assert "Figure 1: Samples per class." in text and "bars" in text  # the SVG (not the HTML chart) is in the PDF
    assert page_pixels(outputs["pdf"], 1, tmp_path).std() > 5
    html = outputs["html"].read_text()
    assert remote_references(html) == []
    assert "<strong>Table 1:</strong> Test metrics" in html and "<strong>Figure 1:</strong> Samples per class." in html
    assert 'data-nkl-vega="vis-fig-chart"' in html and "vegaEmbed" in html and "window.vegaEmbed" in html
    assert "chart.svg" not in html and "<img" not in html.split("</head>")[1]  # the static image is PDF-only


def test_quarto_on_path_is_used_with_its_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    fake = bin_dir / "quarto"
    fake.write_text(f"""#!{os.sys.executable}
import json, pathlib, sys
args = sys.argv[1:]
with open({str(calls)!r}, "a") as f:
    f.write(json.dumps({{"args": args, "cwd": str(pathlib.Path.cwd())}}) + "\\n")
out = args[args.index("--output") + 1]
pathlib.Path(out).write_text("rendered by fake quarto: " + " ".join(args))
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert choose_engine("auto") == "quarto"
    qmd = write_document(tmp_path / "src")
    outputs = {"pdf": tmp_path / "out" / "named.pdf", "html": tmp_path / "out" / "named.html"}
    result = render(qmd, outputs, "auto", LOG)
    assert result.engine == "quarto"
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [c["args"][:5] for c in recorded] == [["render", "doc.qmd", "--to", "typst", "--output"], ["render", "doc.qmd", "--to", "html", "--output"]]
    assert recorded[0]["args"][5] == "named.pdf" and recorded[1]["args"][5:] == ["named.html", "-M", "embed-resources:true"]
    assert all(c["cwd"] == str(qmd.parent) for c in recorded)
    assert outputs["pdf"].read_text().startswith("rendered by fake quarto: render doc.qmd --to typst")
    assert "window.vegaEmbed" in (qmd.parent / "_vega.html").read_text()  # the template's include-in-header for Quarto's HTML


def test_a_failing_quarto_is_one_report_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "quarto"
    fake.write_text("#!/bin/sh\necho 'ERROR: typst compile failed: unknown font' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    qmd = write_document(tmp_path / "src")
    with pytest.raises(ReportError, match=r"quarto render --to typst failed.*unknown font"):
        render(qmd, {"pdf": tmp_path / "doc.pdf"}, "quarto", LOG)


def test_engine_quarto_without_quarto_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ConfigError, match="engine = quarto"):
        choose_engine("quarto")
    assert choose_engine("auto") == "pandoc"
