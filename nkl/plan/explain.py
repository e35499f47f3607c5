"""``explain``: the plan's steps and, for each, what the catalog already holds. Writes nothing."""

from __future__ import annotations

import logging

from nkl.context import RunContext
from nkl.data.samples import cached_samples, read_source
from nkl.data.splits import assign_splits
from nkl.features.cache import known_keys
from nkl.plan.execute import cached_result, plan_hash, select_samples
from nkl.plan.plan import Plan, Step


def explain(plan: Plan, ctx: RunContext) -> list[tuple[Step, str]]:
    """Each step with its cache status: what a run would reuse and what it would compute."""
    quiet = RunContext(ctx.workspace, logging.getLogger("nkl.explain"))
    quiet.log.disabled = True
    c = plan.config
    status: dict[int, str] = {}
    steps = plan.steps
    all_loaded = True
    for i, (name, db) in enumerate(c.databases):
        _rows, stats, import_hash = read_source(name, db, c.data.target)
        cached = cached_samples(quiet, name, import_hash)
        if cached is None:
            all_loaded = False
            status[i] = f"to import: {len(stats)} files to probe and hash"
        else:
            status[i] = f"cached: {cached.height} samples"
    if not all_loaded:
        return [(s, status.get(i, "after import")) for i, s in enumerate(steps)]
    selected = select_samples(quiet, plan)
    splits, split_hash = assign_splits(quiet, c, selected)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(splits["split"].value_counts().iter_rows()))
    keys = set(splits["content_key"].to_list())
    key = plan_hash(plan, split_hash)
    fitted = "cached: results unchanged (plan " + key + ")" if cached_result(quiet, plan, key) else "to compute"
    for i, step in enumerate(steps):
        if step.kind == "filter":
            status[i] = f"{selected.height} samples selected"
        elif step.kind == "split":
            status[i] = f"{counts} (split {split_hash})"
        elif step.kind == "features":
            ext = next(e for e in plan.extractors if e.table in step.detail)
            done, failed = known_keys(quiet, ext)
            have = len(keys & done)
            bad = len(keys & set(failed))
            todo = len(keys) - have - bad
            status[i] = f"cached: {have} of {len(keys)}" + (f", {bad} rejected" if bad else "") + (f"; to extract: {todo}" if todo else "")
        elif step.kind in ("scale", "fit", "evaluate"):
            status[i] = fitted
    return [(s, status.get(i, "")) for i, s in enumerate(steps)]


def explain_text(plan: Plan, ctx: RunContext) -> str:
    """The explanation as plain text lines."""
    lines = [f"plan of experiment '{plan.name}' (config {plan.config.hash}, workspace {ctx.workspace.root})"]
    for n, (step, state) in enumerate(explain(plan, ctx), 1):
        lines.append(f"{n:>2}. {step.kind:<9} {step.detail}")
        if state:
            lines.append(f"    {'':<9} -> {state}")
    return "\n".join(lines)


__all__ = ["explain", "explain_text"]
