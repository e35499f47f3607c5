"""Rendering a report's ``.qmd`` to PDF and HTML: ``quarto render`` when Quarto is on PATH, else Pandoc + Typst.

The fallback does what Quarto does with the engines Quarto itself uses: it resolves the
``{{< include >}}`` shortcodes, runs Pandoc with a small Lua filter for Quarto's ``when-format``
divs, figure divs and numbered captions, compiles Pandoc's Typst output with the ``typst`` package
(PDF, no LaTeX), and writes a self-contained HTML page (images as data URIs, the Vega scripts inline).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nkl.catalog.store import atomic_path, write_text
from nkl.errors import ConfigError, MissingExtraError, ReportError
from nkl.report.document import resolve_includes

VEGA_HEADER = "_vega.html"
_VEGA_MARKER = "<!-- nkl:vega-scripts -->"

# Quarto's when-format divs, figure divs (::: {#fig-x} content, caption :::) and numbered captions, for plain Pandoc.
QUARTO_COMPAT_LUA = r"""
local is_html = FORMAT:match("html") ~= nil
local function matches(fmt)
  if fmt == "html" then return is_html end
  if fmt == "pdf" or fmt == "typst" then return not is_html end
  return FORMAT:match(fmt) ~= nil
end

local function Div(el)
  local when = el.attributes["when-format"]
  if when and el.classes:includes("content-visible") then
    if matches(when) then return el.content else return {} end
  end
  if when and el.classes:includes("content-hidden") then
    if matches(when) then return {} else return el.content end
  end
  if el.identifier:match("^fig%-") then
    local blocks, body, caption = el.content, pandoc.List(), {}
    if #blocks > 1 and blocks[#blocks].t == "Para" then
      caption = { blocks[#blocks] }
      for i = 1, #blocks - 1 do body:insert(blocks[i]) end
    else
      body = blocks
    end
    return pandoc.Figure(body, { long = caption }, pandoc.Attr(el.identifier))
  end
end

-- Typst numbers figures and tables itself; HTML gets "Figure N:" / "Table N:" written into the caption.
local function number(doc)
  if not is_html then return doc end
  local counts = { Figure = 0, Table = 0 }
  local function label(el, kind)
    counts[kind] = counts[kind] + 1
    local long = el.caption.long
    if #long > 0 and long[1].content then
      long[1].content:insert(1, pandoc.Space())
      long[1].content:insert(1, pandoc.Strong(pandoc.Str(kind .. " " .. counts[kind] .. ":")))
    end
    return el
  end
  return doc:walk({
    Figure = function(el) return label(el, "Figure") end,
    Table = function(el) return label(el, "Table") end,
  })
end

-- Columns as wide as their content: Pandoc gives the columns of a long pipe table equal shares of the page.
local function Table(el)
  for i, spec in ipairs(el.colspecs) do
    el.colspecs[i] = { spec[1], pandoc.ColWidthDefault }
  end
  return el
end

return { { Div = Div, Table = Table }, { Pandoc = number } }
"""

# Draws every chart of the page from its inline Vega-Lite spec (see markdown.figure).
EMBED_JS = """document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("script[data-nkl-vega]")) {
    vegaEmbed("#" + el.dataset.nklVega, JSON.parse(el.textContent), {actions: false}).catch(console.error);
  }
});"""
STYLE = "<style>.nkl-vega { width: 100%; display: flex; justify-content: center; } figure { margin: 1.5em 0; }</style>"


@dataclass(frozen=True)
class Rendered:
    """What a render produced, and with which engine."""

    engine: str
    files: list[Path]


def choose_engine(engine: str) -> str:
    """``quarto`` or ``pandoc``: auto takes Quarto when it is on PATH."""
    if engine == "quarto" and shutil.which("quarto") is None:
        raise ConfigError("[REPORT] engine = quarto, but `quarto` is not on PATH; install Quarto or use engine = auto (Pandoc + Typst)")
    if engine == "quarto" or (engine == "auto" and shutil.which("quarto")):
        return "quarto"
    return "pandoc"


def _cache_dir() -> Path:
    base = os.environ.get("NKL_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nkl"
    return Path(base)


def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (from vl-convert, no network), cached per vl-convert version.

    Building it takes seconds, so it is kept in ``$NKL_CACHE_DIR`` (default ``~/.cache/nkl``).
    """
    import vl_convert

    version = getattr(vl_convert, "__version__", "unknown")
    cached = _cache_dir() / f"vega-embed-{version}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    bundle = vl_convert.javascript_bundle()
    try:
        write_text(bundle, cached)
    except OSError:
        logging.getLogger("nkl").debug("cannot cache the Vega bundle in %s", cached)
    return bundle


class BackgroundJob:
    """A call run in a thread while the report is gathered (vl-convert's calls release the GIL)."""

    def __init__(self, target: Callable[[], str]) -> None:
        self._target = target
        self._result: list[str] = []
        self._error: list[Exception] = []
        self._thread = threading.Thread(target=self._run, name="nkl-report-job", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result.append(self._target())
        except Exception as exc:  # noqa: BLE001 -- handed to the caller of result()
            self._error.append(exc)

    def result(self) -> str:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


def warm_up_converter() -> str:
    """Start vl-convert's JavaScript engine (about a second) so that the first chart does not wait for it."""
    import vl_convert

    return vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": [{"x": 1}]}, "encoding": {"x": {"field": "x", "type": "quantitative"}}})


def vega_header(bundle: str) -> str:
    """The HTML header part that lets the page draw its charts offline."""
    script = bundle.replace("</script", "<\\/script")
    return f"{STYLE}\n<script>\n{script}\n</script>\n<script>\n{EMBED_JS}\n</script>\n"


def _pandoc() -> str:
    try:
        import pypandoc
    except ImportError:
        raise MissingExtraError("report", "pypandoc-binary") from None
    return pypandoc.get_pandoc_path()


def _run(command: list[str], cwd: Path, what: str, log: logging.Logger, stdin: str | None = None) -> None:
    log.debug("report: %s", " ".join(command))
    done = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    for line in done.stderr.splitlines():
        log.debug("%s: %s", what, line)
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()][-3:]
        raise ReportError(f"{what} failed on {cwd} (exit {done.returncode}): {' / '.join(last) or 'no message'}")


def _pandoc_pdf(markdown: str, folder: Path, stem: str, target: Path, log: logging.Logger) -> None:
    try:
        import typst
    except ImportError:
        raise MissingExtraError("report", "typst") from None
    filter_path = write_text(QUARTO_COMPAT_LUA, folder / "_quarto_compat.lua")
    typ = folder / f"{stem}.typ"
    _run([_pandoc(), "-f", "markdown", "-t", "typst", "--standalone", "--wrap=none", "--lua-filter", str(filter_path), "-o", str(typ)],
         folder, "pandoc (typst)", log, stdin=markdown)
    with atomic_path(target) as tmp:
        try:
            typst.compile(str(typ), output=str(tmp), root=str(folder))
        except RuntimeError as exc:  # typst.TypstError, with the compiler's message
            raise ReportError(f"typst could not compile {typ}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None


def _pandoc_html(markdown: str, folder: Path, target: Path, log: logging.Logger) -> None:
    filter_path = write_text(QUARTO_COMPAT_LUA, folder / "_quarto_compat.lua")
    header = write_text(_VEGA_MARKER + "\n", folder / "_header_marker.html")
    page = folder / f".{target.name}.pandoc.html"
    _run([_pandoc(), "-f", "markdown", "-t", "html5", "--standalone", "--wrap=none", "--embed-resources", "--toc", "--lua-filter", str(filter_path),
          "-H", str(header), "--resource-path", str(folder), "-o", str(page)], folder, "pandoc (html)", log, stdin=markdown)
    html = page.read_text(encoding="utf-8")
    page.unlink()
    # The 1 MB Vega bundle is pasted in after Pandoc: parsing it through --embed-resources would cost seconds.
    write_text(html.replace(_VEGA_MARKER, (folder / VEGA_HEADER).read_text(encoding="utf-8"), 1), target)


def _quarto(qmd: Path, fmt: str, target: Path, log: logging.Logger) -> None:
    name = target.stem + (".pdf" if fmt == "typst" else ".html")
    command = ["quarto", "render", qmd.name, "--to", fmt, "--output", name]
    if fmt == "html":
        command += ["-M", "embed-resources:true"]
    _run(command, qmd.parent, f"quarto render --to {fmt}", log)
    produced = qmd.parent / name
    if not produced.is_file():
        raise ReportError(f"quarto render --to {fmt} reported success but wrote no {produced}")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(produced, target)


def render(qmd: Path, outputs: dict[str, Path], engine: str, log: logging.Logger, bundle: BackgroundJob | None = None) -> Rendered:
    """Render ``qmd`` (its sections already written beside it) to ``outputs`` ({'pdf': path, 'html': path})."""
    chosen = choose_engine(engine)
    folder = qmd.parent
    if "html" in outputs:
        write_text(vega_header(bundle.result() if bundle else vega_bundle()), folder / VEGA_HEADER)
    else:
        write_text("", folder / VEGA_HEADER)
    if chosen == "quarto":
        for fmt, target in outputs.items():
            _quarto(qmd, "typst" if fmt == "pdf" else "html", target, log)
        return Rendered("quarto", list(outputs.values()))
    markdown = resolve_includes(qmd.read_text(encoding="utf-8"), folder)
    write_text(markdown, folder / f"{qmd.stem}.md")
    if "pdf" in outputs:
        _pandoc_pdf(markdown, folder, qmd.stem, outputs["pdf"], log)
    if "html" in outputs:
        _pandoc_html(markdown, folder, outputs["html"], log)
    return Rendered("pandoc", list(outputs.values()))
