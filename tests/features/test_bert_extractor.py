"""type = ['bert']: text embeddings of EmoDB's real transcripts through a tiny random BERT saved to a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import nkl
from nkl.errors import ConfigError, DataError
from nkl.features.bert_extractor import BertExtractor
from tests.conftest import write_ini

# EmoDB's ten sentences, by the text id in each file name (characters 3-5: 03a01Fa.wav → a01)
TRANSCRIPTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 3-layer BERT (hidden 32) with a word-level vocabulary of the transcripts."""
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("bert") / "tiny-bert"
    folder.mkdir()
    words = sorted({w.strip(".,?").lower() for t in TRANSCRIPTS.values() for w in t.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", *words]) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def with_text(balanced_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = pl.read_csv(balanced_csv, infer_schema=False)
    texts = [TRANSCRIPTS[Path(f).name[2:5]] for f in table["file"].to_list()]
    path = tmp_path_factory.mktemp("text") / "with_text.csv"
    table.with_columns(pl.Series("text", texts)).write_csv(path)
    return path


def test_embeddings_follow_the_text_and_the_layer(tiny_bert):
    texts = list(TRANSCRIPTS.values())[:4]
    last = BertExtractor({"model": str(tiny_bert), "batch_size": 3})
    values = last.embed(texts)
    assert values.shape == (4, 32) and np.isfinite(values).all()
    assert np.allclose(values[1], BertExtractor({"model": str(tiny_bert)}).embed([texts[1]])[0], atol=1e-5)  # padding does not leak
    lower = BertExtractor({"model": str(tiny_bert), "layer": 1}).embed(texts)
    assert not np.allclose(values, lower) and last.spec_hash != BertExtractor({"model": str(tiny_bert), "layer": 1}).spec_hash


def test_rows_are_keyed_by_text_and_bad_settings_fail_in_one_line(tiny_bert, tmp_path):
    extractor = BertExtractor({"model": str(tiny_bert)})
    samples = pl.DataFrame({"sample": ["a", "b", "c"], "content_key": ["k1", "k2", "k3"], "text": ["Das will sie.", "Das will sie.", None]})
    keyed = extractor.keyed(samples)
    assert keyed["content_key"][0] == keyed["content_key"][1] != keyed["content_key"][2]
    with pytest.raises(DataError, match=r"bert\.text_column = 'words': the data has no such column"):
        BertExtractor({"model": str(tiny_bert), "text_column": "words"}).keyed(samples)
    with pytest.raises(ConfigError, match="does not exist"):
        BertExtractor({"model": str(tmp_path / "missing")}).validate()
    with pytest.raises(ConfigError, match="out of range"):
        BertExtractor({"model": str(tiny_bert), "layer": 5}).setup()


def test_nkululeko_bert_ini_runs_and_an_edited_transcript_is_embedded_again(tiny_bert, with_text, run_cli, tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(with_text.read_bytes())
    ini = write_ini(tmp_path / "bert.ini", f"""
        [EXP]
        root = {tmp_path / 'ws'}
        name = exp_bert
        [DATA]
        databases = ['emodb']
        emodb = {data}
        emodb.split_strategy = speaker_split
        emodb.test_size = 40
        target = emotion
        [FEATS]
        type = ['bert', 'os']
        bert.model = {tiny_bert}
        bert.text_column = text
        [MODEL]
        type = svm
        """)
    done = run_cli("run", ini, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = nkl.connect(tmp_path / "ws")
    distinct = pl.read_csv(data)["text"].n_unique()
    assert catalog.sql("select count(*) n from features_bert")["n"][0] == distinct  # one row per sentence, not per file
    assert catalog.sql("select count(*) n from predictions where split = 'test' and run = 0")["n"][0] == 24  # every sample joined
    explained = run_cli("explain", ini, cwd=tmp_path)
    assert f"cached: {distinct} of {distinct}" in " ".join(explained.stdout.split())
    table = pl.read_csv(data)
    table.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Der Lappen liegt.")).otherwise(pl.col("text")).alias("text"),
                       ).write_csv(data)
    again = run_cli("run", ini, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert catalog.sql("select count(*) n from features_bert")["n"][0] == distinct + 1
