"""Split strategies: which samples train, tune (dev) and test a model. Speaker-disjoint by default."""

from __future__ import annotations

import random

import polars as pl

from nkl.config.config import Config
from nkl.config.sections import DatabaseSection
from nkl.context import RunContext
from nkl.errors import DataError
from nkl.hashing import stable_hash


def _match_speakers(stated: list, speakers: list[str], where: str) -> list[str]:
    """Map user-written speaker ids to the data's (3 matches '03'); unknown ids are an error."""
    by_stripped = {s.lstrip("0") or "0": s for s in speakers}
    out = []
    for raw in stated:
        text = str(raw).strip()
        if text in speakers:
            out.append(text)
        elif (text.lstrip("0") or "0") in by_stripped:
            out.append(by_stripped[text.lstrip("0") or "0"])
        else:
            raise DataError(f"{where}: speaker '{text}' is not in the data; speakers: {', '.join(sorted(speakers)[:30])}")
    return out


def _pick(items: list[str], percent: float, rng: random.Random) -> list[str]:
    n = max(1, round(len(items) * percent / 100))
    if n >= len(items):
        raise DataError(f"{percent}% of {len(items)} leaves nothing to train on; use a smaller size or more data")
    return rng.sample(sorted(items), n)


def _balanced_speakers(df: pl.DataFrame, target: str, percent: float, seed: int, where: str) -> list[str]:
    """About ``percent`` % of the speakers, chosen so that their samples' class distribution is close to the whole's:
    scikit-learn's StratifiedGroupKFold (groups = speakers), the fold closest in class distribution and size."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    speakers = df["speaker"].to_numpy()
    values = df[target]
    if values.dtype.is_numeric() and values.n_unique() > 10:  # a numeric target: stratify by quartile
        labels = values.qcut(4, labels=["q1", "q2", "q3", "q4"], allow_duplicates=True).cast(pl.String).to_numpy()
    else:
        labels = values.cast(pl.String).fill_null("").to_numpy()
    n_speakers = len(set(speakers.tolist()))
    n_splits = min(n_speakers, max(2, round(100 / max(percent, 1e-9))))
    if n_splits < 2:
        raise DataError(f"{where} = balanced needs at least 2 speakers")
    classes, overall = np.unique(labels, return_counts=True)
    overall = overall / overall.sum()
    best, best_score = None, np.inf
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed % (2**32))
    for _, test in folds.split(np.zeros(len(labels)), labels, groups=speakers):
        share = np.array([(labels[test] == c).sum() for c in classes]) / len(test)
        score = np.abs(share - overall).sum() + abs(len(test) / len(labels) - percent / 100)
        if score < best_score:
            best, best_score = sorted(set(speakers[test].tolist())), score
    if not best or len(best) >= n_speakers:
        raise DataError(f"{where} = balanced: {percent}% of {n_speakers} speakers leaves nothing to train on")
    return best


def _split_one(name: str, db: DatabaseSection, df: pl.DataFrame, dev: bool, seed: int, target: str = "") -> pl.DataFrame:
    """Assign train/dev/test to the samples of one database."""
    where = f"[DATA] {name}.split_strategy"
    strategy = db.split_strategy
    rng = random.Random(f"{seed}:{name}")
    speakers = sorted(s for s in df["speaker"].unique().to_list() if s is not None)
    needs_speakers = isinstance(strategy, (list, tuple)) or strategy in ("speaker_split", "speakers_stated", "balanced")
    if needs_speakers and df["speaker"].null_count():
        raise DataError(
            f"{where} = {strategy} needs a speaker for every sample; {df['speaker'].null_count()} have none. "
            "Add a speaker column or use split_strategy = random"
        )
    test_spk: list[str] = []
    dev_spk: list[str] = []
    train_spk: list[str] | None = None
    if strategy in ("train", "test"):
        return df.with_columns(split=pl.lit(strategy))
    if strategy in ("specified", "database"):
        outside = df.filter(pl.col("table_split").is_null()).height
        if outside:
            raise_if_empty = df.height == outside
            if raise_if_empty:
                raise DataError(f"{where} = {strategy}: no sample of {name} is in a train/dev/test table")
            df = df.filter(pl.col("table_split").is_not_null())
        out = df.with_columns(split=pl.col("table_split"))
        if dev and "dev" not in out["split"].to_list():
            train = sorted(out.filter(pl.col("split") == "train")["speaker"].drop_nulls().unique().to_list())
            dev_spk = _pick(train, db.dev_size, rng)
            out = out.with_columns(split=pl.when(pl.col("speaker").is_in(dev_spk) & (pl.col("split") == "train"))
                                   .then(pl.lit("dev")).otherwise(pl.col("split")))
        return out
    if strategy == "random":
        samples = df["sample"].to_list()
        test = set(_pick(samples, db.test_size, rng))
        rest = [s for s in samples if s not in test]
        devset = set(_pick(rest, db.dev_size, rng)) if dev else set()
        return df.with_columns(split=pl.when(pl.col("sample").is_in(list(test))).then(pl.lit("test"))
                               .when(pl.col("sample").is_in(list(devset))).then(pl.lit("dev")).otherwise(pl.lit("train")))
    if isinstance(strategy, (list, tuple)):
        test_spk = _match_speakers(list(strategy), speakers, where)
    elif strategy == "speakers_stated":
        test_spk = _match_speakers(db.test, speakers, f"[DATA] {name}.test")
        dev_spk = _match_speakers(db.dev, speakers, f"[DATA] {name}.dev")
        if db.train:
            train_spk = _match_speakers(db.train, speakers, f"[DATA] {name}.train")
    elif strategy == "speaker_split":
        if len(speakers) < 2:
            raise DataError(f"{where} = speaker_split needs at least 2 speakers; {name} has {len(speakers)}")
        test_spk = _pick(speakers, db.test_size, rng)
    elif strategy == "balanced":  # speaker-disjoint, with test (and dev) classes distributed like the whole's
        stable = int(stable_hash([seed, name]), 16)
        test_spk = _balanced_speakers(df, target, db.test_size, stable, where)
        if dev:
            rest = df.filter(~pl.col("speaker").is_in(test_spk))
            dev_spk = _balanced_speakers(rest, target, db.dev_size, stable + 1, where)
    if db.disjoint_speakers:
        overlaps = [(a, b, sorted(set(x) & set(y))) for a, x, b, y in (
            ("test", test_spk, "dev", dev_spk), ("test", test_spk, "train", train_spk or []),
            ("dev", dev_spk, "train", train_spk or [])) if set(x) & set(y)]
        if overlaps:
            a, b, shared = overlaps[0]
            raise DataError(
                f"[DATA] {name}: speakers {', '.join(shared)} are in both {a} and {b}, but splits must be speaker-disjoint; "
                f"remove them from one list, or set {name}.disjoint_speakers = False"
            )
    if dev and not dev_spk:
        pool = [s for s in (train_spk or speakers) if s not in test_spk]
        dev_spk = _pick(pool, db.dev_size, rng)
    if train_spk is None:
        train_spk = [s for s in speakers if s not in test_spk and s not in dev_spk]
    return df.with_columns(
        split=pl.when(pl.col("speaker").is_in(test_spk)).then(pl.lit("test"))
        .when(pl.col("speaker").is_in(dev_spk)).then(pl.lit("dev"))
        .when(pl.col("speaker").is_in(train_spk)).then(pl.lit("train"))
        .otherwise(pl.lit(None, pl.String))
    ).filter(pl.col("split").is_not_null())


def assign_splits(ctx: RunContext, config: Config, df: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """Add a ``split`` column (train/dev/test) to the selected samples; return it with the split hash."""
    parts = []
    dbs = dict(config.databases)
    for name in df["database"].unique(maintain_order=True).to_list():
        part = _split_one(name, dbs[name], df.filter(pl.col("database") == name), config.exp.traindevtest, config.exp.seed,
                          config.data.target)
        if dbs[name].as_train:  # only the rows this database's split trains (and tunes) on
            part = part.filter(pl.col("split") != "test")
        if dbs[name].as_test:
            part = part.filter(pl.col("split") == "test")
        parts.append(part)
    out = pl.concat(parts, how="diagonal_relaxed")
    counts = dict(out["split"].value_counts().iter_rows())
    if not config.model.cv_folds:
        for needed in ("train", "test"):
            if not counts.get(needed):
                raise DataError(
                    f"the {needed} split is empty; give at least one database a split_strategy that yields {needed} data "
                    "(e.g. speaker_split, or a list of test speakers)"
                )
    strict = [n for n, db in config.databases if db.disjoint_speakers and db.split_strategy != "random"]
    scoped = out.filter(pl.col("database").is_in(strict) & pl.col("speaker").is_not_null())
    by_split = {s: set(scoped.filter(pl.col("split") == s).select(pl.concat_str("database", pl.lit("/"), "speaker")).to_series().to_list())
                for s in ("train", "dev", "test")}
    for a, b in (("train", "test"), ("train", "dev"), ("dev", "test")):
        shared = sorted(by_split[a] & by_split[b])
        if shared and not config.model.cv_folds:
            raise DataError(
                f"speakers {', '.join(shared[:5])} are in both {a} and {b}, but splits must be speaker-disjoint; "
                "change the split strategies, or set <db>.disjoint_speakers = False"
            )
    if any(db.split_strategy == "random" for _, db in config.databases):
        ctx.log.warning("split_strategy = random splits samples, not speakers: results are not speaker-independent")
    split_hash = stable_hash(sorted(zip(out["sample"].to_list(), out["split"].to_list(), out["content_key"].to_list(), strict=True)))
    return out.sort("split", "sample"), split_hash
