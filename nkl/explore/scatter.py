"""2-D projections of the feature matrix (t-SNE, PCA with scikit-learn; UMAP with umap-learn), on standardised features."""

from __future__ import annotations

import numpy as np
import polars as pl

from nkl.errors import ConfigError, MissingExtraError

METHODS = ("tsne", "umap", "pca")


def project(X: np.ndarray, method: str, seed: int) -> np.ndarray:
    """``n x 2`` coordinates of the rows of ``X``."""
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(Z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(Z) - 1) / 3)), random_state=seed, init="pca").fit_transform(Z)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise MissingExtraError("explore", "umap-learn") from None
        return umap.UMAP(n_components=2, n_neighbors=min(10, len(Z) - 1), random_state=seed, n_jobs=1).fit_transform(Z)
    raise ConfigError(f"[EXPL] scatter: unknown method '{method}'; choose from {', '.join(METHODS)}")


def colour_column(values: pl.Series) -> pl.Series:
    """A column to colour points by: numeric columns with more than five values become tertiles (0_low, 1_middle, 2_high)."""
    numbers = values.cast(pl.Float64, strict=False)
    if numbers.null_count() == values.null_count() and numbers.n_unique() > 5:
        low, high = numbers.quantile(1 / 3), numbers.quantile(2 / 3)
        return pl.Series(values.name, [None if v is None else "0_low" if v <= low else "1_middle" if v <= high else "2_high"
                                       for v in numbers.to_list()], dtype=pl.String)
    return values.cast(pl.String)
