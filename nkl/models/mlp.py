"""The multi-layer perceptron family on PyTorch: ``mlp`` (classifier), ``mlp_reg`` (regressor) and ``cnn``.

``cnn`` is the same network behind a convolutional front-end (``nkl.models.cnn``).

Needs the ``torch`` extra. Model selection uses the dev set only: after every epoch the model is
scored on the dev set (UAR for classification, MSE for regression), the weights of the best
epoch are restored at the end, and ``patience`` stops training early. With no dev set the
weights of the last epoch are kept. Test data never reaches this module during training.

Regression targets are used as given (nkululeko does the same); targets far from unit scale
train slowly at the default learning rate of 0.0001.

Weights are saved with safetensors next to a JSON file describing the architecture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from nkl.config.sections import key
from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.models import cnn
from nkl.models._arrays import (
    balanced_sample_weight,
    class_codes,
    combine_weights,
    count_classes,
    feature_matrix,
    targets,
)
from nkl.models._files import atomic_path, read_json, write_json
from nkl.models.base import ModelSpec, Task

if TYPE_CHECKING:
    import torch

FAMILY = "torch_mlp"
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "estimator.json"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
OPTIMIZERS = ("adamw", "adam", "sgd")
REGRESSION_LOSSES = ("mse", "mae")
PREDICT_BATCH_ROWS = 4096

logger = logging.getLogger(__name__)


def import_torch() -> Any:
    """Return the ``torch`` module, or raise ``MissingExtraError`` naming the extra."""
    try:
        import torch
    except ImportError as error:
        raise MissingExtraError("torch", "torch") from error
    return torch


def import_safetensors_torch() -> Any:
    """Return ``safetensors.torch`` (part of the ``torch`` extra), or raise ``MissingExtraError``."""
    try:
        import safetensors.torch
    except ImportError as error:
        raise MissingExtraError("torch", "safetensors") from error
    return safetensors.torch


def hidden_layers(value: Any) -> tuple[int, ...]:
    """Read ``[MODEL] layers``: a list of sizes, or a dict whose values are taken in given order.

    nkululeko writes ``layers = {'l1': 128, 'l2': 16}``; the keys are names only and the order
    is the order written, never sorted.
    """
    sizes = list(value.values()) if isinstance(value, Mapping) else value
    if isinstance(sizes, int):
        sizes = [sizes]
    if not isinstance(sizes, (list, tuple)) or not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in sizes):
        raise ConfigError(f"Bad [MODEL] layers {value!r}; expected a list of positive ints such as [128, 16] or a dict such as {{'l1': 128, 'l2': 16}}")
    return tuple(sizes)


def dropouts(value: Any, n_layers: int) -> tuple[float, ...]:
    """Read ``[MODEL] drop``: one rate for every hidden layer, or one per layer (list or dict)."""
    rates = list(value.values()) if isinstance(value, Mapping) else value
    if isinstance(rates, (int, float)) and not isinstance(rates, bool):
        rates = [float(rates)] * n_layers
    if not isinstance(rates, (list, tuple)) or len(rates) != n_layers:
        raise ConfigError(f"Bad [MODEL] drop {value!r}; expected one rate or {n_layers} rates (one per layer)")
    if not all(isinstance(rate, (int, float)) and 0.0 <= rate < 1.0 for rate in rates):
        raise ConfigError(f"Bad [MODEL] drop {value!r}; every rate must be in [0, 1)")
    return tuple(float(rate) for rate in rates)


def _choice(params: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(key, default)
    if value not in choices:
        raise ConfigError(f"Bad value {value!r} for [MODEL] {key}; expected one of: {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class MLPArchitecture:
    """Everything needed to rebuild the network before loading its weights."""

    input_dim: int
    layers: tuple[int, ...]
    drop: tuple[float, ...]
    activation: str
    n_outputs: int
    task: Task
    image: tuple[int, ...] = ()  # (height, width) of the convolutional input (cnn); () = fully connected only

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Self:
        """Rebuild from the dict that ``dataclasses.asdict`` wrote to JSON."""
        return cls(
            input_dim=int(payload["input_dim"]),
            layers=tuple(payload["layers"]),
            drop=tuple(payload["drop"]),
            activation=payload["activation"],
            n_outputs=int(payload["n_outputs"]),
            task=payload["task"],
            image=tuple(payload.get("image") or ()),
        )


def build_module(architecture: MLPArchitecture) -> torch.nn.Sequential:
    """Build ``Linear -> activation -> Dropout`` per hidden layer, then a ``Linear`` output."""
    torch = import_torch()
    nn = torch.nn
    activations: dict[str, Callable[[], Any]] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": nn.LeakyReLU,
    }
    blocks: list[Any] = []
    width = architecture.input_dim
    if architecture.image:
        blocks, width = cnn.conv_front_end(nn, architecture.image), cnn.WIDTH
    for size, rate in zip(architecture.layers, architecture.drop, strict=True):
        blocks += [nn.Linear(width, size), activations[architecture.activation]()]
        if rate > 0.0:
            blocks.append(nn.Dropout(rate))
        width = size
    blocks.append(nn.Linear(width, architecture.n_outputs))
    return nn.Sequential(*blocks)


def _unweighted_recall(truth: np.ndarray, predicted: np.ndarray) -> float:
    """UAR over the classes present in ``truth`` (dev-set model selection only)."""
    classes = np.unique(truth)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in classes]))


@dataclass
class MLPModel:
    """A PyTorch MLP behind the nkl ``Estimator`` interface.

    ``info`` after ``fit``: ``best_epoch`` (1-based), ``epochs_run``, ``dev_curve`` (the dev
    score of every epoch; empty without a dev set), ``dev_metric``, ``train_loss`` and ``device``.
    """

    family: ClassVar[str] = FAMILY
    name: str
    task: Task
    params: dict[str, Any]
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    architecture: MLPArchitecture | None = None
    module: Any = field(default=None, repr=False)
    _device: str = "cpu"

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_dev: np.ndarray | None = None,
        y_dev: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Train for ``epochs``, keep the dev-best weights; see the module docstring."""
        torch = import_torch()
        features = feature_matrix(X)
        classify = self.task == "classification"
        if classify:
            y_fit: np.ndarray = class_codes(y)
            y_eval = None if y_dev is None else class_codes(y_dev, what="y_dev")
            n_outputs = count_classes(y_fit, y_eval)
            balance = bool(self.params.get("class_weight", False))
            weights = combine_weights(sample_weight, balanced_sample_weight(y_fit) if balance else None)
        else:
            y_fit = targets(y)
            y_eval = None if y_dev is None else targets(y_dev, what="y_dev")
            n_outputs = 1
            weights = combine_weights(sample_weight)
        if weights is None:
            weights = np.ones(len(y_fit))
        has_dev = X_dev is not None and y_eval is not None
        dev_features = feature_matrix(X_dev, what="X_dev") if has_dev else None

        layers = hidden_layers(self.params.get("layers", [64]))
        self.architecture = MLPArchitecture(
            input_dim=features.shape[1],
            layers=layers,
            drop=dropouts(self.params.get("drop", 0.0), len(layers)),
            activation=_choice(self.params, "activation", "relu", ACTIVATIONS),
            n_outputs=n_outputs,
            task=self.task,
            image=cnn.input_image(self.name, self.params, features.shape[1]),
        )
        self._device = _pick_device(torch, str(self.params.get("device", "cpu")))
        forked = [torch.device(self._device).index or 0] if self._device.startswith("cuda") else []
        # Seed inside a forked RNG so that training never changes the caller's torch RNG state.
        with torch.random.fork_rng(devices=forked):
            torch.manual_seed(self.seed)
            self.module = build_module(self.architecture).to(self._device)
            self._train(torch, features, y_fit, weights, dev_features, y_eval)
        return self

    def _train(
        self,
        torch: Any,
        features: np.ndarray,
        y_fit: np.ndarray,
        weights: np.ndarray,
        dev_features: np.ndarray | None,
        y_eval: np.ndarray | None,
    ) -> None:
        classify = self.task == "classification"
        data = torch.utils.data
        dataset = data.TensorDataset(
            torch.as_tensor(features, dtype=torch.float32),
            torch.as_tensor(y_fit, dtype=torch.int64 if classify else torch.float32),
            torch.as_tensor(weights, dtype=torch.float32),
        )
        # Shuffled batches of indices, each fetched with one tensor index (no per-row collation).
        batches = data.BatchSampler(
            data.RandomSampler(dataset, generator=torch.Generator().manual_seed(self.seed)),
            batch_size=int(self.params.get("batch_size", 8)),
            drop_last=False,
        )
        loader = data.DataLoader(dataset, sampler=batches, batch_size=None)
        optimizer = _make_optimizer(torch, self.params, self.module.parameters())
        loss_name = "cross_entropy" if classify else _choice(self.params, "loss", "mse", REGRESSION_LOSSES)
        patience = self.params.get("patience")
        epochs = int(self.params.get("epochs", 1))

        dev_curve: list[float] = []
        train_loss: list[float] = []
        best_score = -np.inf
        best_epoch = 0
        best_state: dict[str, Any] | None = None
        for epoch in range(1, epochs + 1):
            train_loss.append(_run_epoch(torch, self.module, loader, optimizer, loss_name, self._device))
            if dev_features is None or y_eval is None:
                continue
            dev_predictions = self.predict(dev_features)
            if classify:
                score = _unweighted_recall(y_eval, dev_predictions)
            else:
                score = -float(np.mean((dev_predictions - y_eval) ** 2))
            dev_curve.append(score if classify else -score)
            if score > best_score:
                best_score, best_epoch = score, epoch
                best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            elif patience and epoch - best_epoch >= int(patience):
                break
        epochs_run = len(train_loss)
        if best_state is not None:
            self.module.load_state_dict(best_state)
        else:
            best_epoch = epochs_run
        self.info = {
            "best_epoch": best_epoch,
            "epochs_run": epochs_run,
            "dev_curve": dev_curve,
            "dev_metric": ("uar" if classify else "mse") if dev_curve else None,
            "train_loss": train_loss,
            "device": self._device,
        }

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return class codes (int64) or regression values (float64)."""
        outputs = self._forward(X)
        if self.task == "classification":
            return np.argmax(outputs, axis=1).astype(np.int64)
        return outputs[:, 0].astype(np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Return softmax probabilities, one column per code ``0..K-1``."""
        if self.task != "classification":
            raise ModelError(f"Model {self.name!r} is a regressor and has no predict_proba")
        logits = self._forward(X)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        """Write ``weights.safetensors`` and ``estimator.json`` (architecture) into ``folder``."""
        safetensors_torch = import_safetensors_torch()
        module = self._fitted()
        folder = Path(folder)
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        with atomic_path(folder / WEIGHTS_FILE) as tmp_path:
            safetensors_torch.save_file(state, str(tmp_path))
        write_json(
            folder / META_FILE,
            {
                "name": self.name,
                "task": self.task,
                "params": self.params,
                "seed": self.seed,
                "info": self.info,
                "architecture": {k: v for k, v in asdict(self.architecture).items() if k != "image" or v},  # mlp: as before
            },
        )

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Rebuild the network from ``estimator.json`` and load the saved weights (on the CPU)."""
        import_torch()
        safetensors_torch = import_safetensors_torch()

        folder = Path(folder)
        meta = read_json(folder / META_FILE)
        model = cls(
            name=meta["name"],
            task=meta["task"],
            params=meta["params"],
            seed=meta["seed"],
        )
        model.info = meta["info"]
        model.architecture = MLPArchitecture.from_json(meta["architecture"])
        model.module = build_module(model.architecture)
        model.module.load_state_dict(safetensors_torch.load_file(str(folder / WEIGHTS_FILE)))
        model.module.eval()
        return model

    def _forward(self, X: np.ndarray) -> np.ndarray:
        torch = import_torch()
        module = self._fitted()
        features = torch.as_tensor(feature_matrix(X), dtype=torch.float32)
        module.eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(features), PREDICT_BATCH_ROWS):
                batch = features[start : start + PREDICT_BATCH_ROWS].to(self._device)
                chunks.append(module(batch).cpu().numpy())
        if not chunks:
            return np.zeros((0, self.architecture.n_outputs))
        return np.concatenate(chunks).astype(np.float64)

    def _fitted(self) -> Any:
        if self.module is None:
            raise ModelError(f"Model {self.name!r} is not fitted yet")
        return self.module


def _pick_device(torch: Any, requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    if requested.startswith("cuda"):
        if torch.cuda.is_available():
            return requested
        logger.warning(
            "[MODEL] device %r requested but CUDA is not available; using the CPU",
            requested,
        )
        return "cpu"
    raise ConfigError(f"Bad value {requested!r} for [MODEL] device; expected 'cpu' or 'cuda'")


def _make_optimizer(torch: Any, params: Mapping[str, Any], weights: Any) -> Any:
    name = _choice(params, "optimizer", "adamw", OPTIMIZERS)
    rate = float(params.get("learning_rate", 0.0001))
    optimizers = {
        "adamw": torch.optim.AdamW,
        "adam": torch.optim.Adam,
        "sgd": torch.optim.SGD,
    }
    return optimizers[name](weights, lr=rate)


def _run_epoch(torch: Any, module: Any, loader: Any, optimizer: Any, loss_name: str, device: str) -> float:
    """Train one pass over ``loader``; return the weighted mean training loss."""
    functional = torch.nn.functional
    module.train()
    total_loss, total_weight = 0.0, 0.0
    for features, target, weight in loader:
        features, target, weight = (
            features.to(device),
            target.to(device),
            weight.to(device),
        )
        outputs = module(features)
        if loss_name == "cross_entropy":
            losses = functional.cross_entropy(outputs, target, reduction="none")
        elif loss_name == "mae":
            losses = (outputs[:, 0] - target).abs()
        else:
            losses = (outputs[:, 0] - target) ** 2
        loss = (losses * weight).sum() / weight.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += float((losses.detach() * weight).sum())
        total_weight += float(weight.sum())
    return total_loss / total_weight


def load_model(folder: Path) -> MLPModel:
    """Read a model of this family that ``MLPModel.save`` wrote into ``folder``."""
    return MLPModel.load(folder)


def _builder(name: str, task: Task) -> Callable[[Mapping[str, Any], int], MLPModel]:
    def build(params: Mapping[str, Any], seed: int) -> MLPModel:
        # Check the keys now, so a typo fails before any data is loaded; then the extra.
        layers = hidden_layers(params.get("layers", [64]))
        dropouts(params.get("drop", 0.0), len(layers))
        _choice(params, "activation", "relu", ACTIVATIONS)
        _choice(params, "optimizer", "adamw", OPTIMIZERS)
        if task == "regression":
            _choice(params, "loss", "mse", REGRESSION_LOSSES)
        device = str(params.get("device", "cpu"))
        if device != "cpu" and not device.startswith("cuda"):
            raise ConfigError(f"Bad value {device!r} for [MODEL] device; expected 'cpu' or 'cuda'")
        import_torch()
        return MLPModel(name=name, task=task, params=dict(params), seed=seed)

    return build


@dataclass(frozen=True)
class MlpSettings:
    """[MODEL] keys of mlp and mlp_reg."""

    layers: Any = key([64, 16], "Hidden layer sizes, in order, e.g. [64, 16] or {'l1': 64, 'l2': 16}.")
    drop: Any = key(0.0, "Dropout (one value or one per layer).")
    activation: str = key("relu", "Activation.", choices=ACTIVATIONS)
    batch_size: int = key(8, "Batch size.")
    optimizer: str = key("adamw", "Optimizer.", choices=OPTIMIZERS)
    loss: str = key("", "Loss: cross (classification; the default), mse (the regression default) or mae.", choices=("cross", "mse", "mae"))
    learning_rate: float = key(0.0001, "Learning rate.")
    patience: int = key(0, "Early stopping after N epochs without dev improvement (0 = off).")


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "mlp",
        "classification",
        _builder("mlp", "classification"),
        "torch",
        "Multi-layer perceptron classifier (layers, drop, epochs, patience); dev-best epoch kept",
        MlpSettings,
    ),
    ModelSpec(
        "mlp_reg",
        "regression",
        _builder("mlp_reg", "regression"),
        "torch",
        "Multi-layer perceptron regressor (MSE or MAE loss); dev-best epoch kept",
        MlpSettings,
    ),
    ModelSpec(
        "cnn",
        "classification",
        _builder("cnn", "classification"),
        "torch",
        "Convolutional network on spectrograms ([FEATS] type = ['spectra']): 2 conv layers, then layers; dev-best epoch kept",
        MlpSettings,
        design_params=cnn.design_params,
    ),
)
