"""Load the libraries of the fit step while feature extraction keeps the cores busy.

Importing scikit-learn costs a second of one core. During extraction the parent process only
waits for its workers, so doing that work then, in a thread, takes it off the critical path of a cold run. The plot
libraries warm up in the plot process (``nkl.evaluate.plot_process``), which keeps the Vega-Lite renderer's memory out of
this process. Purely an optimisation: any failure is ignored (the real step reports it).
"""

from __future__ import annotations

import threading

import numpy as np

from nkl.config.config import Config


def _warm_model(config: Config, task: str) -> None:
    from nkl.models.registry import get_model_spec
    from nkl.models.train import model_params

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = np.repeat([0, 1, 2], 4) if task == "classification" else rng.normal(size=12)
    params = {**model_params(config), "epochs": 1, "early_stopping_rounds": 0}
    get_model_spec(config.model.type).build(params, 0).fit(X, y)
    # The model's saving library (skops: 0.3 s of imports) is not loaded here: the run saves the model while the plot
    # process draws, a wait in which this process has a core to itself anyway.


def _warm(config: Config, task: str) -> None:
    try:
        _warm_model(config, task)  # the plot libraries warm up in the plot process (nkl.evaluate.plot_process)
    except Exception:  # noqa: BLE001 - an optimisation only; the real step reports its own errors
        pass


def start_prewarm(config: Config, task: str) -> threading.Thread:
    """Start warming up in a daemon thread; join it before the fit step."""
    thread = threading.Thread(target=_warm, args=(config, task), name="nkl-prewarm", daemon=True)
    thread.start()
    return thread
