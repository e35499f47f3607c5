"""The experiments an ensemble combines, read from the catalog and aligned by sample id (never by row position)."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from nkl.catalog.workspace import Workspace
from nkl.errors import ConfigError, DataError


@dataclass
class Member:
    """One finished experiment: its latest done run and that run's evaluated predictions."""

    name: str
    run: dict[str, Any]
    task: str
    target: str
    eval_split: str
    predictions: pl.DataFrame  # the best run on the evaluation split: sample, truth, predicted, uncertainty, prob_*
    labels: list[str]
    dev_uar: float | None  # of the best run, when the experiment has a dev split

    @property
    def best_run(self) -> int:
        return int(self.run.get("best_run") or 0)


def _target(run: dict[str, Any]) -> str:
    from nkl.config.loader import config_from_text

    config = config_from_text(run.get("config_text") or "", run["experiment"])
    members = json.loads(run["members"]) if run.get("members") else None
    if members:  # an ensemble of ensembles: its members' target
        return str(members.get("target", ""))
    return config.data.target if config is not None else ""


def finished_runs(ws: Workspace) -> pl.DataFrame:
    """The latest done run of each experiment of a workspace."""
    runs = ws.frame("runs")
    if runs is None:
        return pl.DataFrame(schema={"experiment": pl.String})
    done = runs.filter(pl.col("status") == "done").collect()
    return done.sort("start").group_by("experiment", maintain_order=True).last() if done.height else done


def resolve_names(ws: Workspace, names: list[str], patterns: list[str]) -> list[str]:
    """Experiment names given directly plus those matching shell patterns ('exp_os_*'), in order, each once. Patterns
    match experiments only, not ensembles (name an ensemble to fuse it again)."""
    runs = finished_runs(ws)
    if "members" in runs.columns:
        runs = runs.filter(pl.col("members").is_null())
    known = runs["experiment"].to_list() if runs.height else []
    out = list(names)
    for pattern in patterns:
        matched = sorted(n for n in known if fnmatch.fnmatchcase(n, pattern))
        if not matched:
            raise ConfigError(f"--experiments '{pattern}' matches no finished experiment in {ws.root}; "
                              f"experiments: {', '.join(sorted(known)) or 'none'}")
        out += matched
    return list(dict.fromkeys(out))


def load_member(ws: Workspace, name: str, runs: pl.DataFrame) -> Member:
    mine = runs.filter(pl.col("experiment") == name) if runs.height else runs
    if mine.height == 0:
        known = sorted(runs["experiment"].to_list()) if runs.height else []
        raise ConfigError(f"experiment '{name}' has no finished run in {ws.root}; run it first (nkl run {name}.ini); "
                          f"finished experiments: {', '.join(known) or 'none'}")
    run = mine.row(0, named=True)
    task = run.get("task") or "classification"
    eval_split = run.get("eval_split") or "test"
    best = int(run.get("best_run") or 0)
    rows = ws.read_part("predictions", name)
    if rows is None:
        raise ConfigError(f"experiment '{name}' has no predictions in {ws.root}; run it again (nkl run)")
    rows = rows.filter(pl.col("experiment") == name)
    labels = [c.removeprefix("prob_") for c in rows.columns if c.startswith("prob_")]
    evaluated = rows.filter((pl.col("run") == best) & (pl.col("split") == eval_split))
    if task == "classification" and not labels:
        raise ConfigError(f"experiment '{name}' stored no class probabilities (prob_* columns); it cannot be fused")
    dev_uar = None
    results = ws.read_part("results", name)
    if results is not None:
        dev = results.filter((pl.col("run") == best) & (pl.col("split") == "dev") & (pl.col("metric") == "uar"))
        dev_uar = float(dev["value"][0]) if dev.height else None
    return Member(name, run, task, _target(run), eval_split, evaluated, labels, dev_uar)


def check_compatible(members: list[Member]) -> None:
    """Same task, target, evaluation split and classes; a DataError naming the first difference."""
    first = members[0]
    for m in members[1:]:
        for what, a, b in (("task", first.task, m.task), ("target", first.target, m.target),
                           ("evaluation split", first.eval_split, m.eval_split)):
            if a != b:
                raise DataError(f"ensemble members differ in {what}: '{first.name}' has {a or '?'}, '{m.name}' has {b or '?'}; "
                                "combine experiments of one target and task")
        if first.task == "classification" and set(first.labels) != set(m.labels):
            only_a = sorted(set(first.labels) - set(m.labels))
            only_b = sorted(set(m.labels) - set(first.labels))
            raise DataError(f"ensemble members differ in classes: only '{first.name}' has {only_a or 'none'}, only '{m.name}' has "
                            f"{only_b or 'none'}; set the same [DATA] labels in both")


def aligned(members: list[Member], *, intersect: bool, log) -> tuple[list[str], list[pl.DataFrame]]:
    """The samples every member evaluated (sorted) and each member's rows in that order.

    Members whose evaluated samples differ are refused with the difference named, unless ``intersect`` (then the
    common samples are used, with a warning)."""
    sets = [set(m.predictions["sample"].to_list()) for m in members]
    common = set.intersection(*sets)
    for m, samples in zip(members, sets, strict=True):
        if len(m.predictions) != len(samples):
            raise DataError(f"experiment '{m.name}' holds several predictions for one sample in its evaluation; run it again")
    if any(s != sets[0] for s in sets):
        diffs = [f"'{m.name}' {len(s)} samples ({len(s - common)} not in all)" for m, s in zip(members, sets, strict=True)]
        example = next(iter(sorted(set.union(*sets) - common)))
        if not intersect:
            raise DataError(f"ensemble members evaluated different samples: {', '.join(diffs)}, e.g. {example}; use the same "
                            "test split in every experiment, or pass --intersect to fuse only the samples all evaluated")
        log.warning("ensemble members evaluated different samples (%s); fusing the %d samples all evaluated", ", ".join(diffs), len(common))
    if not common:
        raise DataError("ensemble members evaluated no sample in common")
    order = sorted(common)
    frames = []
    for m in members:
        frame = pl.DataFrame({"sample": order}).join(m.predictions, on="sample", how="left")
        frames.append(frame)
    truth = frames[0]["truth"].to_list()
    for m, frame in zip(members[1:], frames[1:], strict=True):
        if frame["truth"].to_list() != truth:
            bad = next(s for s, a, b in zip(order, truth, frame["truth"].to_list(), strict=True) if a != b)
            raise DataError(f"ensemble members disagree on the truth of sample {bad} ('{members[0].name}' vs '{m.name}'); "
                            "they must share the target and its mapping")
    return order, frames
