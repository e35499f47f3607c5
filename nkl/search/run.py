"""``nkl optim`` and ``nkl flags``: every combination scored on dev or speaker-grouped folds of the training data (one
feature extraction per feature set, shared through the cache), all of them in the ``search_results`` table, and the
best one run once as the experiment, which is when the test set is first used.

[OPTIM] (nkululeko's keys): ``model``, ``search_strategy`` (grid, random, halving_grid, halving_random; grid_cv and
random_cv are grid and random), ``n_iter``, ``cv_folds``, ``metric``, ``random_state``, and one key per model parameter:
``[v1, v2]``, ``(min, max)`` (five values: log-spaced for rates and when max/min ≥ 100, else even; integers when both
are), ``(min, max, step)`` or a single value. [FLAGS]: lists ``models``, ``features``, ``balancing``, ``scale`` and
``model_<key>`` / ``feats_<key>`` / ``exp_<key>``; the Cartesian product of them.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import Any

import numpy as np
import polars as pl

from nkl.config.config import Config
from nkl.config.values import parse_literal
from nkl.context import RunContext
from nkl.errors import ConfigError
from nkl.plan import Plan, execute
from nkl.plan.runs import RunResult
from nkl.search.scoring import apply_params, row_estimator, scorer

OPTIM_KEYS = ("model", "search_strategy", "n_iter", "cv_folds", "metric", "random_state")
STRATEGIES = {"grid": "grid", "grid_cv": "grid", "random": "random", "random_cv": "random", "halving_grid": "halving_grid",
              "halving_random": "halving_random"}
MLP_ALIASES = {"nlayers": None, "nnodes": None, "lr": "learning_rate", "bs": "batch_size", "do": "drop"}
SEARCH_RESULTS = pl.Schema({"experiment": pl.String, "features": pl.String, "params": pl.String, "metric": pl.String,
                            "score": pl.Float64, "std": pl.Float64, "rank": pl.Int64, "scored_on": pl.String, "resources": pl.Int64})


def values_of(name: str, raw: str) -> list:
    """A search dimension from its INI text: a list, a (min, max[, step]) range, or one value."""
    value = parse_literal(raw)
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"[OPTIM] {name} = []: an empty list leaves nothing to search")
        return value
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"[OPTIM] {name} = {raw}: a range is (min, max) or (min, max, step) of numbers")
        low, high = value[0], value[1]
        if high < low:
            raise ConfigError(f"[OPTIM] {name} = {raw}: max is below min")
        if len(value) == 3:
            step = value[2]
            if step <= 0:
                raise ConfigError(f"[OPTIM] {name} = {raw}: the step must be positive")
            count = int(math.floor((high - low) / step + 1e-9)) + 1
            out = [low + i * step for i in range(count)]
            return [int(round(v)) for v in out] if all(isinstance(v, int) for v in value) else [round(v, 10) for v in out]
        if isinstance(low, int) and isinstance(high, int):
            return sorted({int(round(v)) for v in np.linspace(low, high, min(5, high - low + 1))})
        log = low > 0 and (high / low >= 100 or "rate" in name or name in ("lr", "C_val", "C"))
        points = np.geomspace(low, high, 5) if log else np.linspace(low, high, 5)
        return [float(f"{p:.6g}") for p in points]
    return [value]


def _product(space: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(space)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(space[k] for k in keys))]


def _prepared(ctx: RunContext, config: Config) -> tuple[Plan, Any]:
    """The plan's data and features up to the fit (imported, split and extracted once), and its feature matrix."""
    from nkl.plan.runs import feature_matrix
    from nkl.plan.stages import ScaleStage, new_state

    plan = Plan(config)
    state = new_state()
    for stage in plan.stages:
        if isinstance(stage, ScaleStage):
            break
        stage.run(ctx, state)
    return plan, feature_matrix(ctx, plan, state.splits)


def _search(ctx: RunContext, config: Config, design: Any, combos: list[dict], strategy: str, n_iter: int, cv_folds: int,
            metric: str, seed: int) -> tuple[list[dict], str]:
    """Score every combination (or a seeded sample of them) on training rows; rows of cv_results_ and what they were scored on."""
    from sklearn.model_selection import GridSearchCV, GroupKFold, PredefinedSplit, RandomizedSearchCV, StratifiedGroupKFold

    split = design.samples["split"].to_numpy()
    speakers = design.samples["speaker"].fill_null("").to_numpy()
    has_dev = (split == "dev").any()
    if has_dev and not strategy.startswith("halving"):
        rows = np.flatnonzero((split == "train") | (split == "dev"))
        cv: Any = PredefinedSplit(np.where(split[rows] == "dev", 0, -1))
        scored_on = "dev"
    else:
        rows = np.flatnonzero((split == "train") | (split == "dev"))
        n_speakers = len(set(speakers[rows].tolist()))
        folds = min(cv_folds, n_speakers)
        if folds < 2:
            raise ConfigError(f"[OPTIM] cv_folds: the training data has {n_speakers} speaker(s); speaker-grouped folds need 2")
        cv = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if design.task == "classification" else GroupKFold(folds))
        scored_on = f"{folds} speaker-grouped folds of train" + (" + dev" if has_dev else "")
    X, y, groups = rows.reshape(-1, 1).astype(float), design.y[rows], speakers[rows]
    estimator = row_estimator(config, design, seed)
    grid = {"params": combos}
    score = scorer(metric, design.task)
    if strategy == "grid":
        search: Any = GridSearchCV(estimator, grid, scoring=score, cv=cv, refit=False, error_score="raise")
    elif strategy == "random":
        search = RandomizedSearchCV(estimator, grid, n_iter=min(n_iter, len(combos)), scoring=score, cv=cv, refit=False,
                                    random_state=seed, error_score="raise")
    else:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

        kwargs = {"scoring": score, "cv": cv, "refit": False, "random_state": seed, "error_score": "raise", "factor": 3,
                  "min_resources": "smallest"}
        search = (HalvingGridSearchCV(estimator, grid, **kwargs) if strategy == "halving_grid"
                  else HalvingRandomSearchCV(estimator, grid, n_candidates=min(n_iter, len(combos)), **kwargs))
    try:
        search.fit(X, y, groups=groups)
    except ValueError as exc:
        if "resources" not in str(exc) or not strategy.startswith("halving"):
            raise
        ctx.log.warning("too few training rows (%d) for successive halving (%s); every combination is scored on all of them",
                        len(rows), str(exc).splitlines()[0])
        return _search(ctx, config, design, combos, strategy.removeprefix("halving_"), n_iter, cv_folds, metric, seed)
    results = search.cv_results_
    sign = -1.0 if isinstance(score, str) and score.startswith("neg_") else 1.0
    n = len(results["params"])
    resources = results.get("n_resources", [len(rows)] * n)
    out = [{"params": results["params"][i]["params"], "score": sign * float(results["mean_test_score"][i]),
            "std": float(results["std_test_score"][i]), "resources": int(resources[i])} for i in range(n)]
    if strategy.startswith("halving"):  # the last round's candidates (most resources) are the ones ranked
        last = max(r["resources"] for r in out)
        out = [r for r in out if r["resources"] == last] + [r for r in out if r["resources"] != last]
    return out, scored_on


def _ranked(rows: list[dict], higher_better: bool) -> list[dict]:
    top = max(r["resources"] for r in rows)
    final = sorted((r for r in rows if r["resources"] == top), key=lambda r: -r["score"] if higher_better else r["score"])
    early = [r for r in rows if r["resources"] != top]
    for rank, row in enumerate(final, start=1):
        row["rank"] = rank
    for row in early:
        row["rank"] = None
    return final + early


def _check_combos(config: Config, combos: list[dict]) -> None:
    """Build each combination's plan: a bad value is one line before any extraction."""
    seen = set()
    for combo in combos:
        key = json.dumps(combo, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            Plan(apply_params(config, combo))
        except ConfigError as exc:
            raise ConfigError(f"search combination {key}: {exc}") from None


def _finish(ctx: RunContext, config: Config, table: pl.DataFrame, best: dict[str, Any], workers: int | None) -> RunResult:
    import dataclasses

    ctx.workspace.write_part("search_results", config.exp.name, table)
    config = dataclasses.replace(config, source="")  # the experiment records the chosen settings, not the search's INI
    ctx.log.info("best combination %s; running it once as experiment %s (scored on test)", json.dumps(best, default=str), config.exp.name)
    return execute(Plan(apply_params(config, best)), ctx, workers=workers)


def run_optim(ctx: RunContext, config: Config, *, workers: int | None = None) -> tuple[pl.DataFrame, RunResult]:
    """Search [OPTIM]'s space for [OPTIM] model (default [MODEL] type); the best setting becomes the experiment."""
    items = config.raw_section("OPTIM")
    model = str(parse_literal(items.get("model", "")) or config.model.type)
    strategy_raw = str(parse_literal(items.get("search_strategy", "grid")))
    strategy = STRATEGIES.get(strategy_raw.lower())
    if strategy is None:
        raise ConfigError(f"[OPTIM] search_strategy '{strategy_raw}' is not known; choices: {', '.join(STRATEGIES)}")
    n_iter = int(parse_literal(items.get("n_iter", "50")))
    cv_folds = int(parse_literal(items.get("cv_folds", "3")))
    metric = str(parse_literal(items.get("metric", "")) or "")
    seed = int(parse_literal(items.get("random_state", str(config.exp.seed))))
    space = {MLP_ALIASES.get(k) or k: values_of(k, v) for k, v in items.items() if k not in OPTIM_KEYS}
    unsupported = [k for k in items if k in MLP_ALIASES and MLP_ALIASES[k] is None]
    if unsupported:
        raise ConfigError(f"[OPTIM] {unsupported[0]}: search the MLP's layers as `layers = [{{'l1': 64}}, {{'l1': 128, 'l2': 64}}]`")
    if not space:
        raise ConfigError("[OPTIM] has no parameter to search; add one, e.g. C_val = [0.1, 1, 10] (svm) or n_estimators = (50, 200, 50)")
    base = config.replace("model", type=model)
    combos = _product(space)
    _check_combos(base, combos)
    started = time.monotonic()
    _, design = _prepared(ctx, base)
    ctx.log.info("optim: %d combination(s) of %s, %s search", len(combos), ", ".join(space), strategy)
    rows, scored_on = _search(ctx, base, design, combos, strategy, n_iter, cv_folds, metric, seed)
    table = _table(config, rows, scored_on, metric or ("uar" if design.task == "classification" else "ccc"), "")
    ctx.log.info("optim: scored in %.1f s", time.monotonic() - started)
    best = json.loads(table["params"][0])
    return table, _finish(ctx, base, table, best, workers)


def _table(config: Config, rows: list[dict], scored_on: str, metric: str, features: str) -> pl.DataFrame:
    ranked = _ranked(rows, metric not in ("mse", "mae"))
    return pl.DataFrame([{"experiment": config.exp.name, "features": features, "params": json.dumps(r["params"], sort_keys=True, default=str),
                          "metric": metric, "score": r["score"], "std": r["std"], "rank": r["rank"], "scored_on": scored_on,
                          "resources": r["resources"]} for r in ranked], schema=SEARCH_RESULTS)


def run_flags(ctx: RunContext, config: Config, *, workers: int | None = None) -> tuple[pl.DataFrame, RunResult]:
    """The Cartesian product of [FLAGS] lists, scored per feature set on training data; the best becomes the experiment."""
    items = {k: parse_literal(v) for k, v in config.raw_section("FLAGS").items()}
    if not items:
        raise ConfigError("[FLAGS] is missing or empty; add lists such as models = ['svm', 'xgb'] and scale = ['standard', 'robust']")
    as_list = {k: (v if isinstance(v, list) else [v]) for k, v in items.items()}
    for key, values in as_list.items():
        if not values:
            raise ConfigError(f"[FLAGS] {key} = []: an empty list leaves nothing to search")
    features = [v if isinstance(v, list) else [v] for v in as_list.pop("features", [config.feats.type])]
    space: dict[str, list] = {}
    if "models" in as_list:
        space["type"] = as_list.pop("models")
    for key in ("balancing", "scale"):
        if key in as_list:
            space[f"feats_{key}"] = ["" if str(v).lower() == "none" else v for v in as_list.pop(key)]
    for key, values in as_list.items():
        if key.startswith(("model_", "feats_", "exp_")):
            space[key.removeprefix("model_") if key.startswith("model_") else key] = values
        else:
            raise ConfigError(f"[FLAGS] key '{key}' is not known; use models, features, balancing, scale, model_<key>, feats_<key> or exp_<key>")
    combos = _product(space) if space else [{}]
    seed = config.exp.seed
    tables, best_score, best = [], None, None
    metric = ""
    for feature_set in features:
        base = config.replace("feats", type=list(feature_set))
        _check_combos(base, combos)
    for feature_set in features:
        base = config.replace("feats", type=list(feature_set))
        _, design = _prepared(ctx, base)
        metric = "uar" if design.task == "classification" else "ccc"
        rows, scored_on = _search(ctx, base, design, combos, "grid", len(combos), 3, metric, seed)
        table = _table(config, rows, scored_on, metric, json.dumps(list(feature_set)))
        tables.append(table)
        top = table.row(0, named=True)
        if best_score is None or top["score"] > best_score:
            best_score, best = top["score"], {**json.loads(top["params"]), "feats_type": list(feature_set)}
    table = pl.concat(tables).sort("score", descending=True, nulls_last=True)
    table = table.with_columns(rank=pl.int_range(1, table.height + 1, dtype=pl.Int64))
    return table, _finish(ctx, config, table, best, workers)
