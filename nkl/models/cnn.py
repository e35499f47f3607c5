"""The convolutional front-end of ``[MODEL] type = cnn`` (the rest of the network is the mlp family's).

Two 3×3 convolutions (8 and 16 channels, ReLU, 2×2 max pooling between them where the image is large enough) and an
adaptive average pool to 4×4 turn a bands × frames image into 256 values for the fully connected ``layers``. The image
is a ``spectra`` row read back by its column names; any other features are one row of values (1 × width).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nkl.errors import ConfigError

WIDTH = 16 * 4 * 4  # values out of the front-end


def conv_front_end(nn: Any, image: tuple[int, ...]) -> list[Any]:
    """Modules that take a flat row of ``height × width`` values to ``WIDTH`` values."""
    height, across = image
    pool = [nn.MaxPool2d(2)] if min(height, across) >= 8 else []
    return [nn.Unflatten(1, (1, height, across)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), *pool,
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten()]


def input_image(name: str, params: Mapping[str, Any], width: int) -> tuple[int, ...]:
    """The cnn's input shape: from the spectra columns (``image``), else one row of all the features; () for mlp."""
    if name != "cnn":
        return ()
    height, across = params.get("image") or (1, width)
    if height * across != width:
        raise ConfigError(f"cnn: the features have {width} values, not a {height}×{across} spectrogram; use [FEATS] type = ['spectra']")
    return (int(height), int(across))


def design_params(columns: list[str]) -> dict[str, Any]:
    """``image`` for the cnn from the feature column names (a ModelSpec ``design_params``)."""
    from nkl.features.spectra_extractor import cnn_design

    return cnn_design(columns)
