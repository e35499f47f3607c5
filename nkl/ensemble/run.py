"""``nkl ensemble``: fuse finished experiments into a new experiment with predictions, results (bootstrap CIs), a plot,
a ``runs`` row listing its members, and ``ensemble.json`` for ``nkl predict --model``."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from nkl.catalog.schemas import RUNS, check_schema
from nkl.catalog.store import write_text
from nkl.context import RunContext
from nkl.ensemble.fusion import REGRESSION, canonical, fuse_classification, fuse_regression
from nkl.ensemble.members import Member, aligned, check_compatible, finished_runs, load_member
from nkl.errors import ConfigError
from nkl.evaluate.results import result_plots, results_table
from nkl.hashing import stable_hash
from nkl.plan.runs import RunResult, package_versions, stored_predictions

SPEC_FILE = "ensemble.json"


@dataclass(frozen=True)
class EnsembleSpec:
    """What an ensemble is: its members, method and weights (as given: 'performance', numbers, or none)."""

    name: str
    members: tuple[str, ...]
    method: str = "mean"
    weights: str = ""
    threshold: float = 1.0
    intersect: bool = False
    seed: int = 42


def _weights(spec: EnsembleSpec, members: list[Member], method: str) -> np.ndarray | None:
    """Fixed member weights: each member's dev UAR ('performance'), numbers given, or None."""
    text = spec.weights.strip()
    if not text:
        if method == "performance_weighted":
            text = "performance"
        else:
            return None
    if text == "performance":
        missing = [m.name for m in members if m.dev_uar is None]
        if missing:
            raise ConfigError(f"performance weights come from each member's dev UAR (never its test score), but "
                              f"'{missing[0]}' has no dev split; run it with [EXP] traindevtest = True or give --weights w1,w2,...")
        return np.array([m.dev_uar for m in members], dtype=np.float64)
    try:
        values = np.array([float(w) for w in re.split(r"[,\s]+", text) if w], dtype=np.float64)
    except ValueError:
        raise ConfigError(f"--weights '{text}': expected 'performance' or one number per member, like 0.5,0.3,0.2") from None
    if len(values) != len(members) or (values < 0).any() or values.sum() <= 0:
        raise ConfigError(f"--weights '{text}': expected {len(members)} non-negative numbers (one per member, in order) "
                          "with a positive sum")
    return values


def fuse_frames(method: str, task: str, labels: list[str], frames: list[pl.DataFrame], weights: np.ndarray | None,
                threshold: float) -> pl.DataFrame:
    """Fused predicted (+ uncertainty, prob_*) of members' rows that are aligned by sample."""
    if task == "classification":
        P = np.stack([f.select([f"prob_{c}" for c in labels]).to_numpy().astype(np.float64) for f in frames])
        P = np.nan_to_num(P, nan=0.0)
        u = np.stack([f["uncertainty"].fill_null(1.0).to_numpy().astype(np.float64) for f in frames])
        index, scores, uncertainty = fuse_classification(method, P, u, weights, threshold)
        out = pl.DataFrame({"predicted": [labels[i] for i in index], "uncertainty": uncertainty})
        return out.with_columns([pl.Series(f"prob_{c}", scores[:, i]) for i, c in enumerate(labels)])
    values = np.stack([f["predicted"].cast(pl.Float64).to_numpy() for f in frames])
    return pl.DataFrame({"predicted": fuse_regression(method, values, weights)})


def run_ensemble(ctx: RunContext, spec: EnsembleSpec) -> RunResult:
    """Fuse the members' evaluated predictions and store the result as experiment ``spec.name``."""
    started, start_time = time.monotonic(), datetime.now(UTC)
    ws = ctx.workspace
    if len(spec.members) < 2:
        raise ConfigError("an ensemble needs at least two experiments; name them (INI files or names) or use --experiments 'pattern*'")
    if spec.name in spec.members:
        raise ConfigError(f"the ensemble's name '{spec.name}' is one of its members; choose another --name")
    runs = finished_runs(ws)
    members = [load_member(ws, name, runs) for name in spec.members]
    check_compatible(members)
    first = members[0]
    method = canonical(spec.method, first.task)
    if method == "majority_voting" and len(members) < 3:
        raise ConfigError("majority_voting needs at least three members (two members tie whenever they disagree); use mean")
    weights = _weights(spec, members, method) if method == "performance_weighted" or spec.weights else None
    order, frames = aligned(members, intersect=spec.intersect, log=ctx.log)
    fused = fuse_frames(method, first.task, first.labels, frames, weights, spec.threshold)
    base = frames[0].select("sample", "speaker", "truth")
    predictions = pl.concat([base, fused], how="horizontal").with_columns(
        experiment=pl.lit(spec.name), run=pl.lit(0, pl.Int64), fold=pl.lit(-1, pl.Int64), split=pl.lit(first.eval_split))
    if first.task != "classification":
        predictions = predictions.with_columns(uncertainty=pl.lit(None, pl.Float64), predicted=pl.col("predicted").cast(pl.String))
    predictions = predictions.select("experiment", "run", "fold", "sample", "speaker", "split", "truth", "predicted", "uncertainty",
                                     *[c for c in predictions.columns if c.startswith("prob_")])
    scoring = predictions if first.task == "classification" else predictions.with_columns(
        truth=pl.col("truth").cast(pl.Float64), predicted=pl.col("predicted").cast(pl.Float64))
    results = results_table(spec.name, first.task, scoring, first.labels, spec.seed)

    described = {"method": method, "members": list(spec.members), "weights": None if weights is None else weights.tolist(),
                 "weights_from": spec.weights or ("performance" if method == "performance_weighted" else ""),
                 "threshold": spec.threshold, "intersect": spec.intersect, "target": first.target, "task": first.task,
                 "labels": first.labels, "samples": len(order)}
    folder = ws.experiment_dir(spec.name)
    ws.write_part("predictions", spec.name, stored_predictions(predictions, first.task))
    ws.write_part("results", spec.name, results)
    member_splits = ws.read_part("splits", first.name)
    if member_splits is not None:  # the first member's split: what a report describes as the data
        ws.write_part("splits", spec.name, member_splits.with_columns(experiment=pl.lit(spec.name)))
    plots = result_plots(folder / "plots", spec.name, first.task, first.eval_split, scoring, results, first.labels, 0)
    write_text(json.dumps(described, indent=2), folder / SPEC_FILE)
    config_text = _config_text(first, spec, method)
    row = {"experiment": spec.name, "run_id": f"{start_time:%Y%m%dT%H%M%S%f}", "config_text": config_text,
           "config_hash": stable_hash(described), "plan_hash": stable_hash([described, [m.run.get("plan_hash") for m in members]]),
           "split_hash": first.run.get("split_hash"), "feature_spec": first.run.get("feature_spec"),
           "versions": json.dumps(package_versions(), sort_keys=True), "seed": spec.seed, "start": start_time,
           "duration_s": time.monotonic() - started, "status": "done", "best_run": 0, "task": first.task,
           "eval_split": first.eval_split, "members": json.dumps(described, sort_keys=True)}
    ws.write_part("runs", spec.name, check_schema(pl.DataFrame([row], schema=RUNS), RUNS, "runs"))
    return RunResult(spec.name, first.task, results, 0, cached=False, plots=plots, labels=first.labels, eval_split=first.eval_split)


def _config_text(first: Member, spec: EnsembleSpec, method: str) -> str:
    """The INI a report shows: the first member's, renamed, with the ensemble described in comments at its top."""
    text = first.run.get("config_text") or ""
    text = re.sub(r"(?m)^(\s*name\s*=).*$", rf"\g<1> {spec.name}", text, count=1)
    header = [f"# nkl ensemble of {', '.join(spec.members)}", f"# method = {method}"]
    if spec.weights:
        header.append(f"# weights = {spec.weights}")
    if method == "uncertainty_threshold":
        header.append(f"# threshold = {spec.threshold}")
    header.append(f"# the data and target below are those of '{first.name}'")
    return "\n".join(header) + "\n" + text


def ensemble_spec(folder: Path) -> dict | None:
    """The saved description of an ensemble experiment (its members and method), or None for other experiments."""
    path = folder / SPEC_FILE
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["REGRESSION", "EnsembleSpec", "ensemble_spec", "fuse_frames", "run_ensemble"]
