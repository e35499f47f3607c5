"""One conformance suite over every registered extractor (like tests/models/test_every_model.py for models).

Each extractor declares its keys (documented, INI spellings resolved by the registry), builds cheaply and
picklably, keys its cache on its settings only, and computes finite values on real EmoDB audio. Model-based
extractors whose weights cannot be downloaded here are exercised on tiny random models in their own tests.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

import nkl
from nkl.audio.decode import load_audio
from nkl.errors import ConfigError
from nkl.features.registry import EXTRACTORS, PREFIX_FAMILIES, build_extractors, get_extractor_class

# extractors that compute on the CPU without model weights from the hub (mos runs its ONNX models: ~1.3 s a file)
OFFLINE = ["os", "praat", "snr"]


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_every_extractor_declares_documented_keys(name):
    cls = get_extractor_class(name)
    assert dataclasses.is_dataclass(cls.Settings)
    for f in dataclasses.fields(cls.Settings):
        assert f.metadata.get("help"), f"{name}: key {f.name} has no help text"
    extractor = cls(kind=name)
    assert pickle.loads(pickle.dumps(extractor)).spec_hash == extractor.spec_hash  # what a worker receives
    assert extractor.table.replace("_", "").isalnum()


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_extractors_compute_finite_values_on_real_speech(name, emodb):
    extractor = get_extractor_class(name)(kind=name)
    extractor.setup()
    signal, rate = load_audio(str(emodb / "wav" / "03a01Fa.wav"), 0.0, None, extractor.sample_rate)
    names, values = extractor.extract(signal, rate)
    assert len(names) == len(values) == len(set(names)) > 0
    assert np.isfinite(values).mean() > 0.9


def test_prefix_families_resolve_nkululeko_names():
    for family in PREFIX_FAMILIES:
        assert get_extractor_class(f"{family}-some-checkpoint") is get_extractor_class(family)
    with pytest.raises(ConfigError, match=r"Unknown feature extractor 'praatt' in \[FEATS\] type; did you mean 'praat'\?"):
        get_extractor_class("praatt")


def _plan(tmp_path: Path, **feats_keys):
    exp = nkl.Experiment(root=str(tmp_path / "ws"), name="e").load("db", str(tmp_path / "db.csv")).target("emotion").fit("svm")
    return exp.features(**feats_keys)


def test_a_key_of_an_unused_extractor_warns_and_a_typo_fails_naming_the_keys(tmp_path):
    exp = _plan(tmp_path, type=["os"], **{"praat.f0_max": 500})
    assert any("'praat.f0_max' is a setting of praat" in w for w in exp.plan().warnings)
    with pytest.raises(ConfigError, match=r"Unknown key 'praat.f0_maxx' in \[FEATS\]; did you mean 'praat.f0_max'\?"):
        _plan(tmp_path, type=["praat"], **{"praat.f0_maxx": 500}).plan()


def test_only_the_chosen_components_enter_the_plan_hash(tmp_path):
    from nkl.plan.execute import plan_hash

    base = _plan(tmp_path, type=["os"])
    keys_of_unused = base.features(**{"praat.f0_max": 500}).fit("svm", n_estimators=7, layers=[8])
    assert plan_hash(base.plan(), "s") == plan_hash(keys_of_unused.plan(), "s")
    assert plan_hash(base.plan(), "s") != plan_hash(base.fit("svm", C_val=3.0).plan(), "s")
    assert plan_hash(base.plan(), "s") != plan_hash(base.features(set="GeMAPSv01b").plan(), "s")


def test_bad_settings_fail_when_the_plan_is_built(tmp_path):
    with pytest.raises(ConfigError, match=r"'pitchh' in \[FEATS\] praat.features; did you mean 'pitch'"):
        _plan(tmp_path, type=["praat"], **{"praat.features": ["pitchh"]}).plan()
    with pytest.raises(ConfigError, match=r"\[MODEL\] (drop|layers)"):
        _plan(tmp_path, type=["os"]).fit("mlp", layers="many").plan()


def test_predictors_as_features_share_the_rows_of_nkl_predict(tmp_path):
    from nkl.predict.run import build_predictors

    exp = _plan(tmp_path, type=["snr", "os"])
    as_feature = build_extractors(exp.config)[0]
    as_target = build_predictors(["snr"], exp.config)[0]
    assert (as_feature.table, as_feature.spec_hash) == (as_target.table, as_target.spec_hash) == ("estimates_snr", as_target.spec_hash)
