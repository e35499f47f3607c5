"""The experiment report of a real trained workspace (EmoDB subset, SVM): contents, offline HTML, optional sections."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from report_helpers import page_pixels, pdf_text, remote_references

from nkl.catalog.schemas import ARTIFACTS, BIAS, check_schema
from nkl.catalog.workspace import Workspace
from nkl.evaluate.metrics import classification_metrics
from nkl.report import ReportOptions, experiment_report

OPTIONS = ReportOptions(engine="pandoc", title="Report under test", author="pytest")


def copy_workspace(trained, target: Path) -> Workspace:
    shutil.copytree(trained.root / "tables", target / "tables")
    shutil.copytree(trained.root / "experiments", target / "experiments")
    return Workspace(target)


@pytest.fixture(scope="module")
def plain(trained, tmp_path_factory: pytest.TempPathFactory):
    """The report of the trained experiment as `nkl run` left it (no explore, no predict)."""
    ws = copy_workspace(trained, tmp_path_factory.mktemp("plain") / "ws")
    result = experiment_report(ws, "exp", OPTIONS)
    return ws, result, pdf_text(result.files[0])


def evaluated(ws: Workspace) -> pl.DataFrame:
    runs = ws.scan("runs").filter(pl.col("status") == "done").collect().sort("start")
    best = runs["best_run"][-1]
    predictions = ws.scan("predictions").filter((pl.col("run") == best) & (pl.col("split") == "test")).collect()
    return predictions.join(ws.scan("samples").select("sample", "gender").collect(), on="sample")


def test_report_files_are_where_the_readme_says(plain) -> None:
    ws, result, _ = plain
    folder = ws.experiment_dir("exp")
    assert result.files == [folder / "exp_report.pdf", folder / "exp_report.html"] and result.engine == "pandoc"
    assert (folder / "exp_report_files" / "exp_report.qmd").is_file()
    assert sorted(p.name for p in (folder / "exp_report_files" / "figures").glob("*.svg")) == ["classes.svg", "confusion.svg", "groups.svg"]


def test_pdf_names_the_uar_every_class_and_the_manifest_hashes(plain) -> None:
    ws, _, text = plain
    uar = ws.scan("results").filter((pl.col("metric") == "uar") & (pl.col("split") == "test")).collect().row(0, named=True)
    assert f"UAR {uar['value']:.3f} [{uar['ci_low']:.3f}, {uar['ci_high']:.3f}]" in text
    run = ws.scan("runs").collect().row(-1, named=True)
    assert run["config_hash"] in text and run["split_hash"] in text and run["plan_hash"] in text
    labels = ws.scan("predictions").select("truth").unique().collect()["truth"].to_list()
    assert len(labels) == 7
    per_class = text[text.index("Per-class scores"):]
    for label in labels:
        assert label in per_class
    assert "Report under test" in text and "pytest" in text


def test_page_one_is_not_blank(plain, tmp_path: Path) -> None:
    _, result, _ = plain
    pixels = page_pixels(result.files[0], 1, tmp_path)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005


def test_per_gender_uar_matches_the_predictions(plain) -> None:
    ws, _, text = plain
    frame = evaluated(ws)
    labels = sorted(frame["truth"].unique().to_list())
    for gender in ("female", "male"):
        part = frame.filter(pl.col("gender") == gender)
        uar = classification_metrics(part["truth"].to_list(), part["predicted"].to_list(), labels)["uar"]
        assert re.search(rf"gender {gender} {part.height} {uar:.3f}", text), f"no UAR row for {gender}"


def test_html_is_offline_and_draws_every_chart_from_its_spec(plain) -> None:
    ws, result, _ = plain
    html = result.files[1].read_text()
    assert remote_references(html) == []
    specs = dict(re.findall(r'<script type="application/json" data-nkl-vega="vis-fig-([a-z0-9-]+)">(.*?)</script>', html, re.S))
    assert sorted(specs) == ["classes", "confusion", "groups"]
    figures = ws.experiment_dir("exp") / "exp_report_files" / "figures"
    for name, payload in specs.items():
        assert json.loads(payload.replace("<\\/", "</")) == json.loads((figures / f"{name}.vl.json").read_text())
    assert "window.vegaEmbed" in html and "<strong>Figure 2:</strong> Confusion matrix" in html


def test_missing_explore_and_predict_leave_notes(plain) -> None:
    _, _, text = plain
    assert "nkl explore has not run for exp" in text and "nkl predict has not run" in text
    assert "Appendix: the INI file" in text and "type = svm" in text


def test_explore_and_predict_findings_appear_when_present(trained, tmp_path: Path) -> None:
    ws = copy_workspace(trained, tmp_path / "ws")
    bias = pl.DataFrame([
        {"experiment": "exp", "source": "samples", "target": "emotion", "attribute": "gender", "level": None, "test": "chi-squared",
         "groups": "female, male", "statistic": 14.2, "p": 0.0011, "p_adj": 0.0033, "effect": 0.31, "effect_name": "Cramér's V",
         "effect_label": "medium", "cohens_d": None, "n": 60, "verdict": "emotion depends on gender"},
        {"experiment": "exp", "source": "samples", "target": "emotion", "attribute": "age", "level": None, "test": "kruskal",
         "groups": "", "statistic": 1.1, "p": 0.6, "p_adj": 0.6, "effect": 0.01, "effect_name": "eta²", "effect_label": "negligible",
         "cohens_d": None, "n": 60, "verdict": "no evidence"},
    ])
    ws.write_part("bias", "exp", check_schema(bias, BIAS, "bias").select(list(BIAS)))
    plot = ws.root / "experiments" / "exp" / "explore" / "gender.svg"
    plot.parent.mkdir(parents=True)
    plot.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><rect width="60" height="60" fill="#c33"/></svg>')
    artifacts = pl.DataFrame([{"experiment": "exp", "kind": "value_counts", "path": "experiments/exp/explore/gender.svg",
                               "caption": "Emotion per gender", "source": "explore", "vega_lite": None, "png": None, "svg": None}])
    ws.write_part("artifacts", "exp", check_schema(artifacts, ARTIFACTS, "artifacts").select(list(ARTIFACTS)))
    samples = ws.scan("samples").select("content_key").unique().collect().sort("content_key")
    snr = samples.with_columns(spec_hash=pl.lit("test"), est_snr=pl.int_range(pl.len()).cast(pl.Float64) / 2)
    ws.write_part("estimates_snr", "test", snr)

    text = pdf_text(experiment_report(ws, "exp", OPTIONS).files[0])
    assert "2 tests in the bias table; 1 significant" in text
    assert "gender and emotion: chi-squared statistic 14.20, p = 0.0011 (corrected 0.0033); Cramér’s V 0.31 (medium)" in text  # Pandoc typesets ' as ’
    assert "no evidence" not in text and "nkl explore has not run" not in text
    assert "Emotion per gender." in text
    assert (ws.experiment_dir("exp") / "exp_report_files" / "figures" / "explore_0.svg").is_file()
    expected = snr.join(ws.scan("samples").select("content_key", "sample").collect(), on="content_key")["est_snr"]
    assert f"est_snr {expected.len()} {expected.mean():.2f}" in text


def test_regression_experiment_report(trained, tmp_path: Path) -> None:
    """A regression experiment (SVR on age) gets CCC/MAE with CIs, the scatter plot and per-gender CCC."""
    from nkl.config import load_config
    from nkl.context import RunContext
    from nkl.plan import Plan, execute

    ws = copy_workspace(trained, tmp_path / "ws")
    text = trained.ini.read_text().replace(str(trained.root), str(ws.root)).replace("name = exp", "name = age").replace("type = svm", "type = svr")
    ini = tmp_path / "age.ini"
    ini.write_text(text.replace("target = emotion", "target = age"))
    execute(Plan(load_config(ini)), RunContext(ws))
    result = experiment_report(ws, "age", ReportOptions(engine="pandoc", format="pdf"))
    assert [p.name for p in result.files] == ["age_report.pdf"]
    pdf = pdf_text(result.files[0])
    ccc = ws.scan("results").filter((pl.col("experiment") == "age") & (pl.col("metric") == "ccc")).collect().row(0, named=True)
    assert f"CCC {ccc['value']:.3f} [{ccc['ci_low']:.3f}, {ccc['ci_high']:.3f}]" in pdf
    assert "Predicted against true age on test" in pdf and "gender female" in pdf and "MAE" in pdf
    assert (ws.experiment_dir("age") / "age_report_files" / "figures" / "scatter.svg").is_file()
