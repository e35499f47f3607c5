"""``nkl predict --model <ensemble>``: apply each member's saved model to new audio, then fuse as the ensemble did."""

from __future__ import annotations

import numpy as np
import polars as pl

from nkl.context import RunContext
from nkl.errors import ModelError
from nkl.models.bundle import ModelBundle
from nkl.predict.apply_model import apply_bundle, find_bundle


def apply_ensemble(ctx: RunContext, spec: dict, samples: pl.DataFrame, *, workers: int = 0) -> pl.DataFrame:
    """Fused predictions of an ensemble (its ``ensemble.json``) for these samples: sample, file, predicted (+ uncertainty
    and prob_* for classification)."""
    from nkl.ensemble.run import fuse_frames

    frames = []
    for member in spec["members"]:
        tuned = ctx.workspace.experiment_dir(member) / "model"
        if (tuned / "finetune.json").is_file():  # a fine-tuned transformer member
            from nkl.finetune.fit import apply_finetuned

            ctx.log.info("ensemble member %s: applying its fine-tuned model", member)
            frames.append(apply_finetuned(ctx, tuned, samples).sort("sample"))
            continue
        try:
            bundle = ModelBundle.load(find_bundle(member, ctx.workspace))
        except ModelError:
            raise ModelError(f"ensemble member '{member}' has no saved model in {ctx.workspace.root}; run it again with "
                             "[EXP] save = True, then run nkl ensemble again") from None
        ctx.log.info("ensemble member %s: applying its saved model", member)
        frames.append(apply_bundle(ctx, bundle, samples, workers=workers).sort("sample"))
    common = set.intersection(*(set(f["sample"].to_list()) for f in frames))
    frames = [f.filter(pl.col("sample").is_in(list(common))).sort("sample") for f in frames]
    labels = list(spec.get("labels") or [])
    weights = np.array(spec["weights"], dtype=np.float64) if spec.get("weights") else None
    fused = fuse_frames(spec["method"], spec.get("task", "classification"), labels, frames, weights, float(spec.get("threshold", 1.0)))
    return pl.concat([frames[0].select("sample", "file"), fused], how="horizontal")
