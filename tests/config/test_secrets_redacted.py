"""Secrets stay in the user's own INI: `nkl run` and `nkl report` write tokens as `***` in every file of the
workspace (config.ini, log, runs.config_text, model files, report sources, HTML and PDF), and no hash depends on them."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import polars as pl
import pytest

from nkl.config import load_config
from nkl.config.redact import MASK, is_secret_key, redact_ini_text
from nkl.plan import Plan
from nkl.pretrained.pyannote import hf_token

TOKEN = "hf_SECRETtoken123"
PREDICT_TOKEN = "hf_SECRETpredict456"


def secret_ini(folder: Path, csv: Path, token: str = TOKEN, predict_token: str = PREDICT_TOKEN, report: bool = True) -> Path:
    text = f"""
        [EXP]
        root = {folder / 'ws'}
        name = exp
        [DATA]
        databases = ['db']
        db = {csv}
        db.split_strategy = ['03', '08', '09', '10']
        target = emotion
        [FEATS]
        type = ['os']
        scale = standard
        workers = 1
        [MODEL]
        type = svm
        # the token below is for pyannote; svm ignores it
        hf_token = {token}
        [PREDICT]
        speaker.hf_token = {predict_token}
        """
    if report:
        text += """
        [REPORT]
        title = secrets
        format = both
        """
    path = folder / "exp.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def texts_of(path: Path) -> list[str]:
    """What a file holds, readably: its bytes, and for Parquet its string columns, for a PDF its text."""
    data = path.read_bytes()
    out = [data.decode("latin-1")]
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        out += [str(v) for c, t in frame.schema.items() if t == pl.String for v in frame[c].to_list()]
    if path.suffix == ".pdf" and shutil.which("pdftotext"):
        out.append(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout)
    return out


def test_no_file_of_the_workspace_holds_a_secret(balanced_csv, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "quarto").exists()))
    ini = secret_ini(tmp_path, balanced_csv)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli("report", ini, "--name", "again", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ws = tmp_path / "ws"
    files = [p for p in ws.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"config.ini", "estimator.json", "catalog.duckdb", "exp.parquet", "exp_report.html", "exp_report.pdf", "again.html",
            "again.pdf", "_appendix.md", "_model.md"} <= names, names
    assert any(p.suffix == ".log" for p in files)
    leaks = [str(p.relative_to(ws)) for p in files for text in texts_of(p) if TOKEN in text or PREDICT_TOKEN in text]
    assert leaks == []
    for text in (done.stdout, done.stderr):
        assert TOKEN not in text and PREDICT_TOKEN not in text
    config = (ws / "experiments" / "exp" / "config.ini").read_text()
    assert f"hf_token = {MASK}" in config and f"speaker.hf_token = {MASK}" in config
    assert "# the token below is for pyannote; svm ignores it" in config  # the rest of the INI as written
    runs = pl.read_parquet(ws / "tables" / "runs" / "exp.parquet")
    assert runs["config_hash"][0] == load_config(ini).hash
    assert TOKEN in ini.read_text()  # the user's own INI keeps it


def test_the_hash_does_not_depend_on_secrets(balanced_csv, tmp_path):
    one = load_config(secret_ini(tmp_path / "a", balanced_csv, report=False))
    other = load_config(secret_ini(tmp_path / "b", balanced_csv, token="hf_other", predict_token="", report=False))
    blank = load_config(secret_ini(tmp_path / "c", balanced_csv, token="", predict_token="", report=False))
    assert one.model.hf_token == TOKEN and other.model.hf_token == "hf_other"
    moved = [c.replace("exp", root=str(tmp_path / "ws")) for c in (one, other, blank)]  # same workspace: only the tokens differ
    assert len({c.hash for c in moved}) == 1
    assert len({str(Plan(c).hash_inputs()) for c in moved}) == 1
    assert TOKEN not in str(moved[0].settings()) and PREDICT_TOKEN not in str(moved[0].settings())
    assert moved[0].replace("model", C_val=2.0).hash != moved[0].hash  # other keys still count


def test_redacted_text_masks_every_spelling_and_keeps_the_layout():
    text = textwrap.dedent("""\
        [MODEL]
        type = svm
        HF_Token = abcd1234   # inline comment
        [PREDICT]
        speaker.hf_token = hf_multi
            continued_line
        speaker.method = pyannote
        [FEATS]
        bert.max_tokens = 256
        my.api_key: k-9876
        empty_token =
        ; a comment that repeats the value abcd1234
        """)
    redacted = redact_ini_text(text, ["abcd1234"])
    assert redacted == textwrap.dedent("""\
        [MODEL]
        type = svm
        HF_Token = ***
        [PREDICT]
        speaker.hf_token = ***
        speaker.method = pyannote
        [FEATS]
        bert.max_tokens = 256
        my.api_key: ***
        empty_token =
        ; a comment that repeats the value ***
        """)
    assert is_secret_key("MODEL", "hf_token") and is_secret_key("PREDICT", "speaker.hf_token")
    assert not is_secret_key("FEATS", "bert.max_tokens") and not is_secret_key("MODEL", "type")


def test_a_config_built_in_python_is_written_redacted(balanced_csv, tmp_path):
    config = load_config(secret_ini(tmp_path, balanced_csv, report=False))
    from dataclasses import replace

    built = replace(config, source="")  # as the Python API builds one: no INI text, to_ini() is written
    assert TOKEN in built.to_ini()
    text = built.redacted_text()
    assert TOKEN not in text and PREDICT_TOKEN not in text and f"hf_token = {MASK}" in text


def test_a_masked_token_counts_as_unset(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "from_env")
    assert hf_token({"hf_token": MASK}) == "from_env"
    assert hf_token({"hf_token": "mine"}) == "mine"
    monkeypatch.delenv("HF_TOKEN")
    assert hf_token({"hf_token": MASK}) is None


@pytest.mark.parametrize("section", ["MODEL", "PREDICT", "FEATS"])
def test_component_secrets_are_known_in_their_sections(section):
    assert is_secret_key(section, "speaker.hf_token")


def test_every_component_secret_key_is_named_like_a_secret():
    """Config recognises components' secrets by name (it imports no registry): each declared secret, in every spelling."""
    from nkl.config.redact import secret_fields, secret_name
    from nkl.features.registry import registered_components
    from nkl.models.registry import MODELS
    from nkl.predict.registry import registered_predictors

    classes = [cls.Settings for _, cls in registered_components()] + [cls.Settings for _, cls in registered_predictors()]
    classes += [spec.settings for spec in MODELS.values()]
    declared = [(cls.__name__, name) for cls in classes for f in secret_fields(cls) for name in (f.name, *f.metadata.get("aliases", ()))]
    assert any(name == "hf_token" for _, name in declared)  # speaker.hf_token is among them
    assert all(secret_name(name) for _, name in declared), declared
