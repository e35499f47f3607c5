"""INI → typed Config: defaults, literal parsing without eval, nkululeko aliases and keys, env expansion, hashing."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nkl.config import Config, load_config, parse_config, read_ini
from nkl.config.values import parse_literal
from nkl.errors import ConfigError, NklError
from nkl.plan import Plan

MINIMAL = """
[EXP]
root = {root}
[DATA]
databases = ['emodb']
emodb = {csv}
target = emotion
[MODEL]
type = {model}
"""


def write(tmp_path: Path, text: str, name: str = "exp.ini") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def minimal(tmp_path: Path, model: str = "svm", extra: str = "") -> Path:
    return write(tmp_path, MINIMAL.format(root=tmp_path / "ws", csv=tmp_path / "emodb.csv", model=model) + extra)


def test_defaults_of_the_seed_table(tmp_path):
    config = load_config(minimal(tmp_path))
    plan = Plan(config)
    assert plan.extractors[0].settings.set == "eGeMAPSv02"
    assert config.feats.type == ["os"]
    assert plan.extractors[0].settings.level == "functionals"
    assert config.feats.fail_threshold == 0.5
    assert config.feats.batch_size == 0  # auto: 8 on the CPU, 64 on a GPU
    assert plan.extractors[0].batch_size == 0  # openSMILE works file by file
    assert plan.model_settings.C_val == 1.0 and plan.model_settings.kernel == "rbf"
    assert Plan(load_config(minimal(tmp_path, "mlp"))).model_settings.batch_size == 8
    assert config.exp.epochs == 1
    assert config.exp.runs == 1
    assert config.exp.seed == 42
    assert config.plot.format == "png"
    assert config.exp.name == "exp"  # the INI file's name
    db = dict(config.databases)["emodb"]
    assert db.type == "csv" and db.split_strategy == "speaker_split" and db.disjoint_speakers


@pytest.mark.parametrize(("model", "task"), [("svm", "classification"), ("xgb", "classification"), ("svr", "regression"),
                                             ("xgr", "regression")])
def test_experiment_type_is_inferred_from_the_model(tmp_path, model, task):
    config = load_config(minimal(tmp_path, model))
    assert config.exp.type == ""
    assert Plan(config).task == task


def test_type_that_contradicts_the_model_is_an_error(tmp_path):
    text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svr").replace("[EXP]", "[EXP]\ntype = classification")
    with pytest.raises(ConfigError, match=r"svr.*regression.*classification"):
        Plan(load_config(write(tmp_path, text)))


def test_literal_values_are_parsed_with_literal_eval():
    assert parse_literal("['03', '08']") == ["03", "08"]
    assert parse_literal("{'anger': 'angry'}") == {"anger": "angry"}
    assert parse_literal(" 0.5 ") == 0.5
    assert parse_literal("True") is True
    assert parse_literal("svm") == "svm"
    assert parse_literal("'quoted'") == "quoted"


def test_code_in_a_value_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the code would touch ./pwned (an experiment name may not hold '/')
    marker = tmp_path / "pwned"
    code = "__import__('os').system('touch pwned')"
    assert parse_literal(code) == code  # stays text
    config = load_config(write(tmp_path, MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace(
        "[EXP]", f"[EXP]\nname = {code}")))
    assert config.exp.name == code
    with pytest.raises(ConfigError, match=r"\[MODEL\] C_val: expected a number"):
        Plan(load_config(minimal(tmp_path, extra=f"C_val = {code}\n")))
    with pytest.raises(ConfigError, match=r"\[DATA\] emodb\.colnames: expected a dict"):
        load_config(write(tmp_path, MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace(
            "target = emotion", f"target = emotion\nemodb.colnames = {code}")))
    assert not marker.exists()


@pytest.mark.parametrize(("alias", "canonical", "value"), [
    ("samples_per_speaker", "limit_samples_per_speaker", 3),
    ("min_length", "min_duration_of_sample", 1.5),
    ("max_length", "max_duration_of_sample", 4.0),
])
def test_nkululeko_aliases_map_to_canonical_keys(tmp_path, alias, canonical, value):
    text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace(
        "target = emotion", f"target = emotion\n{alias} = {value}\nemodb.{alias} = {value}")
    config = load_config(write(tmp_path, text))
    assert getattr(config.data, canonical) == value
    assert getattr(dict(config.databases)["emodb"], canonical) == value


def test_alias_and_canonical_key_together_is_an_error(tmp_path):
    text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace(
        "target = emotion", "target = emotion\nmin_length = 1\nmin_duration_of_sample = 2")
    with pytest.raises(ConfigError, match="twice"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(("section", "key"), [("FEATS", "store_format"), ("MODEL", "tuning_params"), ("EXP", "fig_dir"),
                                              ("PLOT", "combine_per_speaker")])
def test_unimplemented_nkululeko_key_warns_naming_it(tmp_path, section, key):
    text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svm") + f"[{section}]\n{key} = something\n"
    if section in ("EXP", "MODEL"):
        text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace(f"[{section}]", f"[{section}]\n{key} = something")
    warnings = Plan(load_config(write(tmp_path, text))).warnings
    assert any(f"'{key}'" in w and f"[{section}]" in w and "not implement" in w for w in warnings), warnings


def test_unknown_key_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as error:
        Plan(load_config(minimal(tmp_path, extra="kernal = rbf\n")))
    message = str(error.value)
    assert "Unknown key 'kernal' in [MODEL]; did you mean 'kernel'?" in message
    assert "Known keys:" in message and "C_val" in message
    assert isinstance(error.value, ValueError) and isinstance(error.value, NklError)


def test_unknown_database_prefix(tmp_path):
    text = MINIMAL.format(root=tmp_path, csv="x.csv", model="svm").replace("target = emotion", "target = emotion\nemdb.split_strategy = random")
    with pytest.raises(ConfigError, match=r"'emdb' is not one of the databases.*did you mean 'emodb'"):
        load_config(write(tmp_path, text))


def test_invalid_ini_syntax_names_the_file(tmp_path):
    path = write(tmp_path, "[EXP]\nroot = x\nroot = y\n")
    with pytest.raises(ConfigError, match=f"{path}: not a valid INI file"):
        load_config(path)
    with pytest.raises(ConfigError, match="Config file not found"):
        load_config(tmp_path / "missing.ini")


def test_env_vars_are_expanded_in_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("NKL_TEST_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("NKL_TEST_UNSET", raising=False)
    text = """
    [EXP]
    root = ${NKL_TEST_UNSET:-/tmp/fallback}/ws
    [DATA]
    databases = ['a', 'b']
    a = $NKL_TEST_DATA/a.csv
    b = ${NKL_TEST_DATA:-/nowhere}/b.csv
    b.audio_path = ${NKL_TEST_DATA}/wav
    target = emotion
    [MODEL]
    type = svm
    """
    config = load_config(write(tmp_path, text))
    dbs = dict(config.databases)
    assert config.exp.root == "/tmp/fallback/ws"
    assert dbs["a"].path == f"{tmp_path}/data/a.csv"
    assert dbs["b"].path == f"{tmp_path}/data/b.csv"
    assert dbs["b"].audio_path == f"{tmp_path}/data/wav"


NKULULEKO_INI = """
[EXP]
root = ./results/
name = exp_emodb_os_svm
runs = 1
epochs = 1
save = True
[DATA]
databases = ['emodb']
emodb = ./data/emodb/emodb/
emodb.split_strategy = specified
emodb.test_tables = ['emotion.categories.test.gold_standard']
emodb.train_tables = ['emotion.categories.train.gold_standard']
emodb.mapping = {'anger, disgust': 'negative', 'happiness': 'positive'}
target = emotion
labels = ['negative', 'positive', 'neutral']
min_length = 1.0
[FEATS]
type = ['os']
scale = standard
balancing = smote
[MODEL]
type = svm
C_val = 10
kernel = linear
tuning_params = ['C_val']
[EXPL]
model = ['tree']
permutation = True
feature_distributions = True
max_feats = 10
[PLOT]
format = png
titles = False
best_model = True
"""


def test_nkululeko_ini_with_expl_and_plot_sections_loads(tmp_path):
    config = load_config(write(tmp_path, NKULULEKO_INI))
    db = dict(config.databases)["emodb"]
    assert db.type == "audformat"
    assert db.mapping == {"anger, disgust": "negative", "happiness": "positive"}
    assert config.data.labels == ["negative", "positive", "neutral"]
    assert config.data.min_duration_of_sample == 1.0
    plan = Plan(config)
    assert plan.model_settings.C_val == 10.0 and plan.model_settings.kernel == "linear"
    assert config.plot.titles is False
    assert config.expl.model == ["tree"] and config.expl.permutation and config.expl.feature_distributions and config.expl.max_feats == 10
    assert config.feats.balancing == "smote"  # implemented since: no warning
    warned = " ".join(plan.warnings)
    assert "'balancing'" not in warned
    for key in ("tuning_params", "best_model"):
        assert f"'{key}'" in warned


def test_config_round_trips_through_to_ini(tmp_path):
    config = load_config(write(tmp_path, NKULULEKO_INI))
    again = parse_config(read_ini(write(tmp_path, config.to_ini(), "again.ini")), name="again")
    assert again.hash == config.hash


def test_hash_changes_with_a_setting_and_not_with_comments(tmp_path):
    base = load_config(minimal(tmp_path))
    other = tmp_path / "other"
    other.mkdir()
    text = "# a comment\n" + minimal(tmp_path).read_text().replace("type = svm", "type = svm  # inline").replace("[EXP]", "\n[EXP]")
    commented = load_config(write(other, text))  # same file name: the name is the experiment's default name
    assert commented.hash == base.hash
    assert base.replace("model", C_val=2.0).hash != base.hash
    assert base.replace("feats", set="GeMAPSv01b").hash != base.hash
    with pytest.raises(ConfigError, match="did you mean 'C_val'"):
        Plan(base.replace("model", c_vall=3))


SECTIONS = {
    "EXP": ["root = /tmp/ws", "name = shuffled", "runs = 2", "epochs = 3", "seed = 7", "traindevtest = True"],
    "DATA": ["databases = ['emodb', 'other']", "emodb = /data/emodb.csv", "emodb.split_strategy = ['03', '08']",
             "emodb.mapping = {'anger': 'angry'}", "other = /data/other.csv", "other.split_strategy = train",
             "target = emotion", "labels = ['angry', 'neutral']", "min_duration_of_sample = 0.5"],
    "FEATS": ["type = ['os']", "set = GeMAPSv01b", "scale = robust", "workers = 2", "nan_strategy = median"],
    "MODEL": ["type = svm", "C_val = 3", "kernel = linear", "class_weight = True"],
    "PLOT": ["format = svg", "titles = False"],
}


def ini_text(order: list[str], seed: int) -> str:
    rng = random.Random(seed)
    blocks = []
    for section in order:
        lines = list(SECTIONS[section])
        rng.shuffle(lines)
        blocks.append(f"[{section}]\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(list(SECTIONS)), seed=st.integers(0, 2**32 - 1))
def test_hash_does_not_depend_on_key_or_section_order(tmp_path, order, seed):
    reference = parse_config(read_ini(write(tmp_path, ini_text(list(SECTIONS), 0), "ref.ini")))
    shuffled = parse_config(read_ini(write(tmp_path, ini_text(order, seed), "shuffled.ini")))
    assert isinstance(shuffled, Config)
    assert shuffled.hash == reference.hash
    assert shuffled.settings() == reference.settings()
