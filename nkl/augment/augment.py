"""``nkl augment``: augmented copies of selected samples, written by content hash, seeded per file, listed in the
``augmentations`` table and a CSV that is a database of its own.

Chains (``[AUGMENT] augment``): ``traditional`` (audiomentations: Gaussian noise, time shift, band-pass filter,
clipping; each with a probability key) and ``random_splice`` (the non-silent chunks of a file re-ordered, each
reversed with ``p_reverse``). Each file's randomness comes from (its content key, the chain and its settings, the seed),
so a rerun writes the same audio, and its name is the hash of the same: nothing is augmented twice and two experiments
share their files. Only the training split is augmented unless ``sample_selection`` says otherwise; the test split
needs ``allow_test = True`` as well. Augmented rows keep their source's speaker and labels and carry ``augmented``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf

from nkl.audio.decode import load_audio
from nkl.catalog.store import atomic_path, make_folder, sweep_temp_files
from nkl.errors import AudioError, ConfigError, MissingExtraError
from nkl.hashing import stable_hash

CHAINS = ("traditional", "random_splice")
DEFAULTS: dict[str, Any] = {"p_noise": 0.5, "noise_min": 0.001, "noise_max": 0.05, "p_shift": 0.5, "p_bandpass": 0.5,
                            "p_clipping": 0.3, "p_reverse": 0.3, "top_db": 12.0}
KEYS = {"augment": "list", "sample_selection": "str", "allow_test": "bool", "filter": "dict", "result": "str", "seed": "int",
        **{k: "float" for k in DEFAULTS}}
AUGMENTATIONS = pl.Schema({"experiment": pl.String, "sample": pl.String, "source_sample": pl.String, "chain": pl.String,
                           "seed": pl.Int64, "path": pl.String})


@dataclass(frozen=True)
class AugmentSettings:
    chains: tuple[str, ...]
    params: tuple[tuple[str, float], ...]
    selection: str = "train"
    allow_test: bool = False
    filter: tuple[tuple[str, tuple[str, ...]], ...] = ()
    result: str = "augmented.csv"
    seed: int = 42

    @property
    def settings(self) -> dict[str, float]:
        return dict(self.params)

    @property
    def spec_hash(self) -> str:
        """What the augmented training rows depend on (the chains, their settings, the filter and the seed)."""
        return stable_hash([self.chains, self.params, self.filter, self.seed])

    def describe(self) -> str:
        shown = ", ".join(f"{k} {v:g}" for k, v in self.params if k.startswith("p_"))
        where = "; ".join(f"{k} in {list(v)}" for k, v in self.filter)
        return f"{' + '.join(self.chains)} ({shown}) on {self.selection}{f' where {where}' if where else ''}, seed {self.seed}"


def settings_from(items: Mapping[str, Any], seed: int) -> AugmentSettings:
    """Validated [AUGMENT] keys: unknown chains, probabilities outside [0, 1] and test without allow_test are one line."""
    chains = tuple(str(c) for c in items.get("augment") or ["traditional"])
    for chain in chains:
        if chain not in CHAINS:
            from nkl.choices import did_you_mean

            raise ConfigError(f"[AUGMENT] augment: unknown transform chain '{chain}'{did_you_mean(chain, CHAINS)} choices: {', '.join(CHAINS)}")
    params = {k: float(items.get(k, v)) for k, v in DEFAULTS.items()}
    for key, value in params.items():
        if key.startswith("p_") and not 0.0 <= value <= 1.0:
            raise ConfigError(f"[AUGMENT] {key} is a probability and must be between 0 and 1, got {value:g}")
    if not 0 < params["noise_min"] <= params["noise_max"]:
        raise ConfigError("[AUGMENT] noise_min and noise_max: amplitudes with 0 < noise_min <= noise_max")
    selection = str(items.get("sample_selection") or "train")
    if selection not in ("train", "dev", "test", "all"):
        raise ConfigError(f"[AUGMENT] sample_selection must be train, dev, test or all, got '{selection}'")
    if selection in ("test", "all") and not items.get("allow_test"):
        raise ConfigError(f"[AUGMENT] sample_selection = {selection} augments test files, which makes test results meaningless; "
                          "set allow_test = True if that is really wanted")
    spec = items.get("filter") or {}
    filters = tuple((str(k), tuple(str(x) for x in (v if isinstance(v, (list, tuple)) else [v]))) for k, v in dict(spec).items())
    return AugmentSettings(chains, tuple(params.items()), selection, bool(items.get("allow_test", False)), filters,
                           str(items.get("result") or "augmented.csv"), int(items.get("seed", seed)))


def _traditional(p: dict[str, float]) -> Any:
    try:
        import audiomentations as am
    except ImportError as exc:
        raise MissingExtraError("augment", "audiomentations") from exc
    return am.Compose([
        am.AddGaussianNoise(min_amplitude=p["noise_min"], max_amplitude=p["noise_max"], p=p["p_noise"]),
        am.Shift(min_shift=-0.5, max_shift=0.5, p=p["p_shift"]),
        am.BandPassFilter(min_center_freq=100.0, max_center_freq=6000.0, p=p["p_bandpass"]),
        am.ClippingDistortion(p=p["p_clipping"]),
    ])


def _random_splice(audio: np.ndarray, rate: int, p: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Non-silent chunks (energy within ``top_db`` of the peak) shuffled, each reversed with ``p_reverse``."""
    frame = max(1, rate // 50)  # 20 ms
    usable = len(audio) // frame * frame
    if usable == 0:
        return audio
    energy = 10 * np.log10(np.maximum((audio[:usable].reshape(-1, frame) ** 2).mean(axis=1), 1e-12))
    loud = energy > energy.max() - p["top_db"]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(int), [0]])))
    chunks = [audio[s * frame:e * frame] for s, e in zip(edges[0::2], edges[1::2], strict=True)]
    if len(chunks) < 2:
        chunks = np.array_split(audio, 4)
    order = rng.permutation(len(chunks))
    return np.concatenate([chunks[i][::-1] if rng.random() < p["p_reverse"] else chunks[i] for i in order]).astype(np.float32)


def _select(samples: pl.DataFrame, settings: AugmentSettings) -> pl.DataFrame:
    for column, values in settings.filter:
        if column not in samples.columns:
            raise ConfigError(f"[AUGMENT] filter names column '{column}', which the data does not have; columns: {', '.join(samples.columns)}")
        samples = samples.filter(pl.col(column).cast(pl.String).is_in(list(values)))
    return samples


@dataclass(frozen=True)
class Copy:
    """One augmented copy to have: its source row, the chain, and the file named by the hash of what makes it."""

    source: dict[str, Any]
    chain: str
    key: str
    path: Path

    @property
    def sample(self) -> str:
        return f"{self.source['sample']}#aug-{self.chain}-{self.key[:12]}"


def planned_copies(samples: pl.DataFrame, settings: AugmentSettings, folder: Path) -> list[Copy]:
    """Every chain's copy of every selected sample, whether written already or not (writes nothing)."""
    params = settings.settings
    copies = []
    for sample in _select(samples, settings).iter_rows(named=True):
        for chain in settings.chains:
            spec = {"chain": chain, "params": params if chain == "traditional" else {k: params[k] for k in ("p_reverse", "top_db")}}
            key = stable_hash([sample["content_key"], spec, settings.seed])
            copies.append(Copy(sample, chain, key, folder / key[:2] / f"{key}.wav"))
    return copies


def _write_copy(copy: Copy, transform: Any, params: dict[str, float]) -> None:
    audio, rate = load_audio(copy.source["file"], float(copy.source["start"] or 0.0), copy.source["end"], sample_rate=None)
    seed = int(copy.key[:8], 16)
    random.seed(seed)  # audiomentations draws its parameters from Python's and NumPy's global RNGs
    np.random.seed(seed)
    if copy.chain == "traditional":
        out = transform(samples=audio.astype(np.float32), sample_rate=rate)
    else:
        out = _random_splice(audio, rate, params, np.random.default_rng(seed))
    make_folder(copy.path.parent)
    with atomic_path(copy.path) as tmp:
        sf.write(tmp, np.clip(out, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")


def augment_samples(samples: pl.DataFrame, settings: AugmentSettings, folder: Path, experiment: str, log,
                    progress: Any = None) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Write every chain's copy of every selected sample (those not written yet); return the augmented rows (source
    metadata, file = the copy, augmented = True), the ``augmentations`` table rows and how many files were written now."""
    copies = planned_copies(samples, settings, folder)
    if sum(sweep_temp_files(shard) for shard in folder.glob("*/")):  # copies a killed run was writing: written again below
        log.info("augment: removed temp files an interrupted run left in %s", folder)
    params = settings.settings
    transform = _traditional(params) if "traditional" in settings.chains else None
    rows, table, written = [], [], 0
    with (progress.task("Augmenting", total=len(copies)) if progress is not None else nullcontext()) as bar:
        for copy in copies:
            try:
                if not copy.path.is_file():
                    _write_copy(copy, transform, params)
                    written += 1
            except AudioError as exc:
                log.warning("augment: %s left out (%s)", copy.source["file"], exc)
            else:
                rows.append({**copy.source, "file": str(copy.path), "start": None, "end": None, "augmented": True,
                             "source_sample": copy.source["sample"], "sample": copy.sample})
                table.append({"experiment": experiment, "sample": copy.sample, "source_sample": copy.source["sample"],
                              "chain": copy.chain, "seed": settings.seed, "path": str(copy.path)})
            if bar is not None:
                bar.advance()
    augmented = pl.DataFrame(rows, infer_schema_length=None) if rows else samples.head(0)
    return augmented, pl.DataFrame(table, schema=AUGMENTATIONS), written
