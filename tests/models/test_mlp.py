"""The torch MLP: layer order, dev-best epoch restore, patience, seeding, softmax, save format."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from sklearn.datasets import make_classification

from nkl.errors import ConfigError, MissingExtraError
from nkl.models import get_model_spec, save_estimator
from nkl.models.mlp import META_FILE, WEIGHTS_FILE, MLPModel

if TYPE_CHECKING:  # conftest is loaded by pytest; import it for type hints only
    from conftest import Split

torch = pytest.importorskip("torch")

FAST = {"epochs": 5, "learning_rate": 0.01, "batch_size": 32}


def _linear_shapes(model: MLPModel) -> list[tuple[int, int]]:
    return [(layer.in_features, layer.out_features) for layer in model.module if isinstance(layer, torch.nn.Linear)]


def _fit(params: dict[str, Any], data: Split, seed: int = 0, dev: bool = True) -> MLPModel:
    model = get_model_spec("mlp").build({**FAST, **params}, seed)
    if dev:
        return model.fit(data.X_train, data.y_train, X_dev=data.X_dev, y_dev=data.y_dev)
    return model.fit(data.X_train, data.y_train)


@pytest.mark.parametrize(
    ("layers", "sizes"),
    [([8, 32], [8, 32]), ({"l1": 8, "l2": 32}, [8, 32]), ({"b": 32, "a": 8}, [32, 8]), ({"l1": 128, "l2": 16}, [128, 16])],
)
def test_layers_keep_the_order_written(layers: Any, sizes: list[int], three_classes: Split) -> None:
    model = _fit({"layers": layers}, three_classes)
    widths = [10, *sizes, 3]
    assert _linear_shapes(model) == list(itertools.pairwise(widths))


def test_drop_per_layer_and_activation_are_built(three_classes: Split) -> None:
    model = _fit({"layers": [16, 8], "drop": [0.3, 0.0], "activation": "tanh"}, three_classes)
    assert [m.p for m in model.module if isinstance(m, torch.nn.Dropout)] == [0.3]
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.module) == 2


def test_the_dev_best_epoch_is_restored() -> None:
    # Dev labels are the opposite of the training labels, so the better the model learns the
    # training task, the worse it scores on dev: the dev curve peaks early and then falls.
    X, y = make_classification(n_samples=240, n_features=8, n_informative=4, n_classes=2, random_state=0)
    X_train, y_train, X_dev, y_dev = X[:200], y[:200], X[200:], 1 - y[200:]
    params = {"layers": [16], "epochs": 12, "learning_rate": 0.0003, "batch_size": 16}

    model = get_model_spec("mlp").build(params, 0).fit(X_train, y_train, X_dev=X_dev, y_dev=y_dev)
    curve = model.info["dev_curve"]
    best = model.info["best_epoch"]

    assert model.info["epochs_run"] == 12 and len(curve) == 12
    assert best == int(np.argmax(curve)) + 1
    assert curve[best - 1] > curve[-1]
    # The restored weights score the dev-best UAR ...
    predicted = model.predict(X_dev)
    uar = np.mean([np.mean(predicted[y_dev == c] == c) for c in (0, 1)])
    assert uar == pytest.approx(curve[best - 1])
    # ... and are exactly the weights after `best` epochs of the same seeded training.
    short = get_model_spec("mlp").build({**params, "epochs": best}, 0).fit(X_train, y_train)
    for name, weights in model.module.state_dict().items():
        torch.testing.assert_close(weights, short.module.state_dict()[name], rtol=0, atol=0)


def test_patience_stops_training_on_the_dev_curve() -> None:
    X, y = make_classification(n_samples=240, n_features=8, n_informative=4, n_classes=2, random_state=0)
    params = {"layers": [16], "epochs": 50, "learning_rate": 0.003, "batch_size": 16, "patience": 3}
    model = get_model_spec("mlp").build(params, 0).fit(X[:200], y[:200], X_dev=X[200:], y_dev=1 - y[200:])
    assert model.info["epochs_run"] == model.info["best_epoch"] + 3 < 50


def test_without_dev_the_last_epoch_is_kept(three_classes: Split) -> None:
    model = _fit({"patience": 1}, three_classes, dev=False)
    assert model.info["best_epoch"] == model.info["epochs_run"] == FAST["epochs"]
    assert model.info["dev_curve"] == []


def test_regression_keeps_the_dev_best_mse(continuous: Split) -> None:
    params = {**FAST, "layers": [16], "epochs": 8, "loss": "mae"}
    model = get_model_spec("mlp_reg").build(params, 0)
    model.fit(continuous.X_train, continuous.y_train, X_dev=continuous.X_dev, y_dev=continuous.y_dev)
    mse = float(np.mean((model.predict(continuous.X_dev) - continuous.y_dev) ** 2))
    assert model.info["dev_metric"] == "mse"
    assert mse == pytest.approx(min(model.info["dev_curve"]), rel=1e-6)


def test_seed_fixes_the_result_and_leaves_the_global_rng_alone(three_classes: Split) -> None:
    state = torch.get_rng_state()
    first = _fit({}, three_classes, seed=1).predict_proba(three_classes.X_test)
    assert torch.equal(torch.get_rng_state(), state)
    second = _fit({}, three_classes, seed=1).predict_proba(three_classes.X_test)
    other = _fit({}, three_classes, seed=2).predict_proba(three_classes.X_test)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_predict_proba_is_the_softmax_of_the_network_output(three_classes: Split) -> None:
    model = _fit({}, three_classes)
    with torch.no_grad():
        logits = model.module(torch.as_tensor(three_classes.X_test, dtype=torch.float32))
    expected = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(three_classes.X_test), expected, rtol=1e-5, atol=1e-7)


def test_saved_files_describe_the_architecture(three_classes: Split, tmp_path: Path) -> None:
    model = _fit({"layers": {"l1": 8, "l2": 32}, "drop": 0.1}, three_classes)
    save_estimator(model, tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["architecture"] == {
        "input_dim": 10,
        "layers": [8, 32],
        "drop": [0.1, 0.1],
        "activation": "relu",
        "n_outputs": 3,
        "task": "classification",
    }
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / WEIGHTS_FILE))) == set(model.module.state_dict())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback when CUDA is missing")
def test_cuda_request_falls_back_to_cpu(three_classes: Split) -> None:
    assert _fit({"device": "cuda"}, three_classes).info["device"] == "cpu"


def test_bad_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="device"):
        get_model_spec("mlp").build({"device": "tpu"}, 0)


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'nkl\[torch\]'"):
        get_model_spec("mlp").build({}, 0)
