"""Building a report: gather from the catalog, write the sections and the filled template, render.

Layout for a report named ``<name>`` in folder ``<out>`` (default: the experiment's folder, or the
workspace root for a workspace report)::

    <out>/<name>.pdf, <out>/<name>.html    the report
    <out>/<name>_files/<name>.qmd          the filled template (render it again with `quarto render`)
    <out>/<name>_files/_*.md, figures/     its sections, charts (SVG + Vega-Lite JSON), copied plots
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nkl.catalog.store import write_text
from nkl.catalog.workspace import Workspace
from nkl.config.sections import ReportSection
from nkl.errors import ConfigError
from nkl.report.document import fill_front_matter, template_path
from nkl.report.render import BackgroundJob, choose_engine, render, vega_bundle, warm_up_converter


@dataclass(frozen=True)
class ReportOptions:
    """What to render and where; built from [REPORT] and the command line."""

    name: str = ""
    title: str = ""
    author: str = ""
    format: str = "both"
    template: str = ""
    engine: str = "auto"
    out_dir: Path | None = None

    @classmethod
    def from_section(cls, section: ReportSection | None, **overrides: object) -> ReportOptions:
        """Options from a [REPORT] section (defaults without one); ``None`` overrides are ignored."""
        s = section or ReportSection()
        base = {"name": s.latex, "title": s.title, "author": s.author, "format": s.format, "template": s.template, "engine": s.engine}
        base.update({k: v for k, v in overrides.items() if v is not None})
        if base["format"] not in ("pdf", "html", "both"):
            raise ConfigError(f"report format must be pdf, html or both, got {base['format']!r}")
        if base["engine"] not in ("auto", "quarto", "pandoc"):
            raise ConfigError(f"report engine must be auto, quarto or pandoc, got {base['engine']!r}")
        return cls(**base)  # type: ignore[arg-type]

    def check(self, kind: str = "experiment") -> None:
        """Fail now (before a run does any work) on a missing quarto or template."""
        choose_engine(self.engine)
        template_path(kind, self.template)

    def outputs(self, folder: Path, stem: str) -> dict[str, Path]:
        formats = ("pdf", "html") if self.format == "both" else (self.format,)
        return {fmt: folder / f"{stem}.{fmt}" for fmt in formats}


@dataclass(frozen=True)
class ReportResult:
    """The files written, the engine that rendered them, and how long it took."""

    files: list[Path]
    sources: Path
    engine: str
    seconds: float


def _prepare(folder: Path, stem: str) -> Path:
    sources = folder / f"{stem}_files"
    shutil.rmtree(sources / "figures", ignore_errors=True)  # no stale chart from an earlier render
    sources.mkdir(parents=True, exist_ok=True)
    return sources


def _write_document(sources: Path, stem: str, kind: str, options: ReportOptions, sections: dict[str, str], front: dict[str, str]) -> Path:
    for file_name, text in sections.items():
        write_text(text, sources / file_name)
    template = template_path(kind, options.template).read_text(encoding="utf-8")
    forced = frozenset(k for k in ("title", "author") if getattr(options, k))
    return write_text(fill_front_matter(template, front, forced), sources / f"{stem}.qmd")


def experiment_report(ws: Workspace, name: str, options: ReportOptions, log: logging.Logger | None = None) -> ReportResult:
    """Render the report of one experiment from what the catalog holds; nothing is recomputed."""
    from nkl.report.experiment import write_sections
    from nkl.report.gather import gather_experiment

    log = log or logging.getLogger("nkl")
    started = time.monotonic()
    BackgroundJob(warm_up_converter)
    bundle = BackgroundJob(vega_bundle) if options.format != "pdf" else None
    facts = gather_experiment(ws, name)
    stem = options.name or f"{name}_report"
    folder = Path(options.out_dir) if options.out_dir else ws.experiment_dir(name)
    sources = _prepare(folder, stem)
    sections = write_sections(facts, ws.root, sources)
    start = facts.run.get("start")
    front = {"title": options.title or f"Experiment {name}", "subtitle": f"nkl report, workspace {ws.root.name}",
             "author": options.author, "date": start.strftime("%Y-%m-%d") if hasattr(start, "strftime") else ""}
    qmd = _write_document(sources, stem, "experiment", options, sections, front)
    rendered = render(qmd, options.outputs(folder, stem), options.engine, log, bundle)
    seconds = time.monotonic() - started
    log.debug("report of %s: %s (%s, %.1f s)", name, ", ".join(str(f) for f in rendered.files), rendered.engine, seconds)
    return ReportResult(rendered.files, sources, rendered.engine, seconds)


def workspace_report(ws: Workspace, options: ReportOptions, log: logging.Logger | None = None) -> ReportResult:
    """Render one report comparing every finished experiment of a workspace."""
    from nkl.report.gather import gather_workspace
    from nkl.report.workspace import write_sections

    log = log or logging.getLogger("nkl")
    started = time.monotonic()
    BackgroundJob(warm_up_converter)
    bundle = BackgroundJob(vega_bundle) if options.format != "pdf" else None
    facts = gather_workspace(ws)
    stem = options.name or "workspace_report"
    folder = Path(options.out_dir) if options.out_dir else ws.root
    sources = _prepare(folder, stem)
    sections = write_sections(facts, sources)
    front = {"title": options.title or f"Experiments in {ws.root.name}", "subtitle": f"nkl report, {facts.rows.height} experiments",
             "author": options.author, "date": datetime.now(UTC).strftime("%Y-%m-%d")}
    qmd = _write_document(sources, stem, "workspace", options, sections, front)
    rendered = render(qmd, options.outputs(folder, stem), options.engine, log, bundle)
    seconds = time.monotonic() - started
    log.debug("workspace report: %s (%s, %.1f s)", ", ".join(str(f) for f in rendered.files), rendered.engine, seconds)
    return ReportResult(rendered.files, sources, rendered.engine, seconds)
