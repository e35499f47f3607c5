"""`nkl run` with [REPORT], `nkl report CONFIG`, `nkl report --workspace` over three experiments, and one-line errors."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from pathlib import Path

import polars as pl
import pytest
from report_helpers import pdf_text, remote_references

from nkl.catalog.workspace import Workspace
from nkl.config import load_config
from nkl.context import RunContext
from nkl.plan import Plan, execute

REPO = Path(__file__).resolve().parents[2]


def report_ini(trained, root: Path, report: str, name: str = "exp", model: str = "svm") -> Path:
    """The trained experiment's INI with another root, model and name, plus a [REPORT] section."""
    text = trained.ini.read_text()
    text = re.sub(r"^root = .*$", f"root = {root}", text, flags=re.M)
    text = re.sub(r"^name = .*$", f"name = {name}", text, flags=re.M).replace("type = svm", f"type = {model}")
    path = root.parent / f"{name}.ini"
    path.write_text(text + textwrap.dedent(report))
    return path


@pytest.fixture
def no_quarto(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI subprocesses find no quarto (the fallback is what CI exercises)."""
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "quarto").exists()))


def test_nkl_run_with_report_section_renders_pdf_and_html(trained, ws_copy: Path, run_cli, no_quarto) -> None:
    ini = report_ini(trained, ws_copy, """
        [REPORT]
        latex = my_report
        title = EmoDB subset, SVM
        author = CI
        """)
    done = run_cli("run", ini, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    folder = ws_copy / "experiments" / "exp"
    assert f"report: {folder / 'my_report.pdf'}" in done.stderr and f"report: {folder / 'my_report.html'}" in done.stderr
    text = pdf_text(folder / "my_report.pdf")
    run = Workspace(ws_copy).scan("runs").collect().row(-1, named=True)
    assert "EmoDB subset, SVM" in text and "CI" in text and run["config_hash"] in text
    assert remote_references((folder / "my_report.html").read_text()) == []


def test_nkl_report_config_rerenders_only_what_is_asked(trained, ws_copy: Path, run_cli, no_quarto) -> None:
    ini = report_ini(trained, ws_copy, """
        [REPORT]
        format = pdf
        """)
    done = run_cli("report", ini, "--format", "html", "--name", "again", cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    folder = ws_copy / "experiments" / "exp"
    assert (folder / "again.html").is_file() and not (folder / "again.pdf").exists()
    assert not list(Workspace(ws_copy).tables_dir.glob("report*"))  # a report writes no table


def test_workspace_report_lists_three_experiments_with_uar_and_ci(trained, ws_copy: Path, run_cli, no_quarto) -> None:
    for name, model in (("exp_knn", "knn"), ("exp_bayes", "bayes")):
        config = load_config(report_ini(trained, ws_copy, "", name=name, model=model))
        execute(Plan(config), RunContext(Workspace(config.exp.root)))
    done = run_cli("report", "--workspace", ws_copy, cwd=ws_copy.parent)
    assert done.returncode == 0, done.stderr
    text = pdf_text(ws_copy / "workspace_report.pdf")
    uar = Workspace(ws_copy).scan("results").filter((pl.col("metric") == "uar") & (pl.col("split") == "test")).collect()
    assert sorted(uar["experiment"].to_list()) == ["exp", "exp_bayes", "exp_knn"]
    ranked = uar.sort("value", descending=True)
    for row in ranked.iter_rows(named=True):
        assert re.search(rf"{row['experiment']} \S+ test \d+ {row['value']:.3f} "
                         rf"\[{row['ci_low']:.3f}, {row['ci_high']:.3f}\]", text), row["experiment"]
    table = text[text.index("Classification experiments, sorted by UAR"):]
    positions = [table.index(f"{name} ") for name in ranked["experiment"].to_list()]
    assert positions == sorted(positions), "rows are not sorted by UAR"
    assert remote_references((ws_copy / "workspace_report.html").read_text()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["report", "--workspace", "{empty}"], "holds no finished experiment; run `nkl run CONFIG.ini` first"),
    (["report", "--workspace", "{ws}", "--experiment", "nope"], "experiment 'nope' has no finished run"),
    (["report", "--workspace", "{ws}", "--format", "docx"], "report format must be pdf, html or both"),
    (["report", "--workspace", "{ws}", "--template", "{empty}/mine.qmd"], "mine.qmd does not exist"),
])
def test_report_mistakes_are_one_line(trained, tmp_path: Path, run_cli, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    done = run_cli(*(a.format(empty=tmp_path / "empty", ws=trained.root) for a in args), cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("line", "message"), [
    ("formt = pdf", "Unknown key 'formt' in [REPORT]; did you mean 'format'?"),
    ("template = nowhere/mine.qmd", "[REPORT] template: nowhere/mine.qmd does not exist; copy"),
])
def test_report_mistakes_stop_nkl_run_before_any_work(trained, tmp_path: Path, run_cli, line: str, message: str) -> None:
    ini = report_ini(trained, tmp_path / "ws", f"\n[REPORT]\n{line}\n")
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "ws").exists()


@pytest.mark.slow
def test_quickstart_example_renders_its_report(emodb: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch, no_quarto) -> None:
    """The README's main experiment, cold, on all of EmoDB: the report comes out at the end of `nkl run`."""
    monkeypatch.setenv("NKL_EMODB", str(emodb))
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    done = run_cli("run", "examples/emodb/exp_os_svm.ini", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "results" / "experiments" / "exp_os_svm"
    text = pdf_text(folder / "exp_os_svm_report.pdf")
    uar = Workspace(tmp_path / "results").scan("results").filter(pl.col("metric") == "uar").collect().row(0, named=True)
    assert f"UAR {uar['value']:.3f}" in text and (folder / "exp_os_svm_report.html").is_file()
