"""The registry: names, did-you-mean errors, build-time checks, and cheap imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nkl.errors import ConfigError
from nkl.models import MODELS, ModelSpec, get_model_spec

NKULULEKO_TYPES = {
    "svm",
    "svr",
    "knn",
    "knn_reg",
    "tree",
    "tree_reg",
    "bayes",
    "finetune",
    "gmm",
    "log_reg",
    "lin_reg",
    "xgb",
    "xgr",
    "mlp",
    "mlp_reg",
    "cnn",
}


def test_registry_holds_the_nkululeko_model_types() -> None:
    assert set(MODELS) == NKULULEKO_TYPES


@pytest.mark.parametrize("name", sorted(NKULULEKO_TYPES))
def test_each_spec_is_complete(name: str) -> None:
    spec = get_model_spec(name)
    assert isinstance(spec, ModelSpec)
    assert spec.name == name
    assert spec.task == ("regression" if name in {"svr", "knn_reg", "tree_reg", "lin_reg", "xgr", "mlp_reg"} else "classification")
    assert spec.doc and "\n" not in spec.doc
    assert spec.extra == ("torch" if name.startswith("mlp") or name == "cnn" else "transformers" if name == "finetune" else None)


def test_unknown_model_type_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"Unknown model type 'svn' in \[MODEL\] type; did you mean 'svm'") as caught:
        get_model_spec("svn")
    assert "Choices: bayes, cnn, finetune, gmm, knn" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_unknown_model_type_without_a_close_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        get_model_spec("transformer")
    message = str(caught.value)
    assert "did you mean" not in message
    assert all(name in message for name in NKULULEKO_TYPES)


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("svm", {"kernel": "rbv"}, "kernel"),
        ("knn", {"KNN_weights": "distant"}, "KNN_weights"),
        ("xgb", {"max_depth": "deep"}, "xgb"),
        ("mlp", {"activation": "gelu"}, "activation"),
        ("mlp", {"layers": [64, 0]}, "layers"),
        ("mlp", {"layers": [8, 16], "drop": [0.1]}, "drop"),
        ("mlp_reg", {"loss": "huber"}, "loss"),
        ("mlp", {"optimizer": "lion"}, "optimizer"),
    ],
)
def test_bad_model_params_fail_when_the_model_is_built(name: str, params: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        get_model_spec(name).build(params, 0)


def test_importing_the_registry_does_not_import_model_libraries() -> None:
    code = "import sys, nkl.models; print(sorted(m for m in ('torch', 'lightgbm', 'sklearn', 'skops', 'safetensors') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
