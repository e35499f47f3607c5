"""The extractor registry: each extractor declares its keys and its spec; adding one = one module + one entry here.

Names in ``[FEATS] type`` are nkululeko's: exact names (``os``, ``praat``, ``snr``) and prefix families
(``wav2vec2-large-robust-ft-swbd-300h`` is a ``wav2vec2`` extractor whose default model is named after it).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from importlib import import_module
from typing import Any, ClassVar

import numpy as np
import polars as pl

from nkl.choices import unknown_choice
from nkl.config.components import NoSettings, assign_keys, build_settings, settings_dict
from nkl.errors import ConfigError
from nkl.hashing import stable_hash

CPU_BATCH = 8  # files per batch when [FEATS] batch_size is 0 (auto): small batches keep CPU memory low
GPU_BATCH = 64  # the same on a GPU, where larger batches are what makes it fast

logger = logging.getLogger(__name__)

# name in [FEATS] type → "module:Class" (imported only when used, so heavy libraries load lazily)
EXTRACTORS: dict[str, str] = {
    "os": "nkl.features.opensmile_extractor:OpenSmileExtractor",
    "praat": "nkl.features.praat_extractor:PraatExtractor",
    "import": "nkl.features.import_extractor:ImportExtractor",
    "spkrec": "nkl.features.spkrec_extractor:SpkrecExtractor",
    "bert": "nkl.features.bert_extractor:BertExtractor",
    "spectra": "nkl.features.spectra_extractor:SpectraExtractor",
    "wav2vec2": "nkl.features.ssl_extractor:Wav2Vec2Extractor",
    "hubert": "nkl.features.ssl_extractor:HubertExtractor",
    "wavlm": "nkl.features.ssl_extractor:WavLMExtractor",
    "data2vec": "nkl.features.ssl_extractor:Data2VecExtractor",
    "whisper": "nkl.features.ssl_extractor:WhisperExtractor",
    "ast": "nkl.features.ssl_extractor:AstExtractor",
    "audwav2vec2": "nkl.features.ssl_extractor:AudWav2Vec2Extractor",
    "agender": "nkl.features.ssl_extractor:AgenderExtractor",
    # predictors as features: the same rows in estimates_<target> as `nkl predict` writes (computed once for both)
    "snr": "nkl.predict.snr:SnrPredictor",
    "mos": "nkl.predict.dnsmos:DnsmosPredictor",
    "squim": "nkl.predict.squim:SquimObjectivePredictor",
    "agender_agender": "nkl.predict.wav2vec2_heads:AgeGenderPredictor",
    "auddim": "nkl.predict.wav2vec2_heads:EmotionDimsPredictor",
}

# prefix families: a [FEATS] type that starts with one of these (and is not an exact name) is that family's extractor
PREFIX_FAMILIES: tuple[str, ...] = ("wav2vec2", "hubert", "wavlm", "whisper", "data2vec", "ast", "bert", "spkrec")

# nkululeko names that nkl does not build, with what they would need (one line each)
UNAVAILABLE: dict[str, str] = {
    "clap": "laion-clap pins its own torch and downloads its checkpoint at run time; not built",
    "emotion2vec": "emotion2vec needs funasr and its checkpoint download; not built",
    "trill": "TRILL needs tensorflow and tensorflow_hub (a second deep-learning stack); not built",
    "xbow": "openXBOW needs Java and a git clone of openXBOW; not built",
    "mld": "mid-level descriptors need audEERING's audmld sources; not built",
    "audmodel": "audEERING's audmodel backend needs their model server; use agender/audwav2vec2 with a local model folder",
    "sptk": "diffsptk features are not built yet",
    "lfcc": "LFCC features are not built yet",
    "cqcc": "CQCC features are not built yet",
}


class Extractor(ABC):
    """Turns one decoded signal into a fixed-length feature vector.

    Construction only stores settings (it must stay cheap and picklable: workers receive the object);
    ``setup()`` loads whatever is heavy, once per process. ``Settings`` declares the extractor's own INI keys,
    written ``<key_prefix>.<field>`` in ``[FEATS]`` (or an alias spelling); only these enter the cache key.
    """

    name: ClassVar[str]
    Settings: ClassVar[type] = NoSettings
    key_prefix: ClassVar[str] = ""
    sample_rate: ClassVar[int | None] = 16000
    min_duration: ClassVar[float] = 0.02
    # where the extractor's numbers come from, for explain and error messages
    source: ClassVar[str] = "signal processing"
    # libraries ``setup`` imports that are safe to load before a fork: the workers' forkserver loads them once
    worker_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: Any = None, *, kind: str = "", device: str = "cpu", batch_size: int = 0) -> None:
        if isinstance(settings, Mapping):  # a plain dict of field names, device and batch_size (Python callers, tests)
            values = dict(settings)
            device, batch_size = values.pop("device", device), values.pop("batch_size", batch_size)
            settings = self.Settings(**values)
        self.settings = settings if settings is not None else self.Settings()
        self.kind = kind or self.name
        self.device = device or "cpu"
        self.requested_batch_size = batch_size

    def params(self) -> dict[str, Any]:
        """Parameters that change the output (by default: the settings without secrets and unhashed keys)."""
        return settings_dict(self.settings)

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of the libraries (and models) that compute the features."""

    @abstractmethod
    def setup(self) -> None:
        """Load libraries or models; called once per worker process before ``extract``."""

    @abstractmethod
    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        """Feature names and values for one mono float32 signal."""

    def validate(self) -> None:
        """Check the settings before any work (a model path that does not exist, a bad layer); ConfigError naming the key."""
        return None

    def describe(self) -> str:
        """One line for explain: what computes the features."""
        shown = ", ".join(f"{k} {v}" for k, v in self.params().items() if v not in ("", None, [], {}))
        return f"{self.kind}" + (f" ({shown})" if shown else "")

    # Batched extractors (models) set ``batched = True`` and ``names``, and implement ``extract_batch``: the engine then
    # runs them in the main process on ``batch_size`` signals at a time (one model copy, on the configured device)
    # instead of one file at a time in worker processes.
    batched: ClassVar[bool] = False
    names: ClassVar[list[str]] = []
    # Extractors that read no audio (``import``) set ``reads_audio = False`` and implement ``rows_for(samples)``.
    reads_audio: ClassVar[bool] = True

    def keyed(self, samples: pl.DataFrame) -> pl.DataFrame:
        """The samples with ``content_key`` set to what this extractor's rows are keyed by: the audio (itself, by
        default); an extractor of text returns a copy keyed by the text, so an edited transcript is computed again."""
        return samples

    @property
    def progress_label(self) -> str:
        """What the progress bar says while this extractor runs."""
        return f"Features {self.table}" + (f" (batches of {self.batch_size} on {self.device})" if self.batched else "")

    @property
    def batch_size(self) -> int:
        """Signals per ``extract_batch`` call (0 requested = 64 on a GPU, 8 on the CPU); 0 for per-file extractors."""
        if not self.batched:
            return 0
        requested = int(self.requested_batch_size or 0)
        return requested if requested > 0 else (GPU_BATCH if self.device.startswith("cuda") else CPU_BATCH)

    def extract_batch(self, signals: list[np.ndarray]) -> np.ndarray:
        """Rows of ``names`` values for several signals at ``sample_rate`` (in input order); batched extractors only."""
        raise NotImplementedError(f"{self.name} is not a batched extractor")

    def spec(self) -> dict[str, Any]:
        """Everything that determines the output: the cache key's extractor half."""
        return {"name": self.name, "params": self.params(), "versions": self.versions(), "sample_rate": self.sample_rate}

    @property
    def spec_hash(self) -> str:
        return stable_hash(self.spec())

    @property
    def table(self) -> str:
        """Catalog table of this extractor's features, e.g. ``features_os_egemapsv02``."""
        suffix = "_".join(str(v) for v in self.params().values() if isinstance(v, (str, int, float)) and v not in ("functionals", None, ""))
        return re.sub(r"[^a-z0-9_]+", "_", f"features_{self.name}_{suffix}".lower()).strip("_")

    def torch_device(self) -> str:
        """The torch device: cuda when asked for and visible, else cpu (with one warning)."""
        import torch

        requested = str(self.device or "cpu").strip().lower()
        if requested.startswith("cuda"):
            if torch.cuda.is_available():
                return requested
            logger.warning("%s: device = %s but no CUDA GPU is visible; running on the CPU", self.name, requested)
        elif requested not in ("cpu", "mps"):
            raise ConfigError(f"Unknown device '{requested}'; use cpu, cuda or cuda:N")
        return "cpu"


def resolve_name(name: str) -> str:
    """The registry entry of a ``[FEATS] type`` name: itself when registered, else its prefix family."""
    if name in EXTRACTORS:
        return name
    for family in PREFIX_FAMILIES:
        if name.startswith(family):
            return family
    if name in UNAVAILABLE or any(name.startswith(k) for k in UNAVAILABLE):
        why = UNAVAILABLE.get(name) or next(v for k, v in UNAVAILABLE.items() if name.startswith(k))
        raise ConfigError(f"[FEATS] type '{name}' is not available in nkl: {why}")
    raise ConfigError(unknown_choice("feature extractor", name, "[FEATS] type", [*EXTRACTORS, *(f"{p}-*" for p in PREFIX_FAMILIES)]))


def get_extractor_class(name: str) -> type[Extractor]:
    """The extractor class registered under ``name`` (or its prefix family); ConfigError with a hint for unknown names."""
    module, cls = EXTRACTORS[resolve_name(name)].split(":")
    return getattr(import_module(module), cls)


def registered_components() -> list[tuple[str, type[Extractor]]]:
    """Every registered extractor class (for telling a key of an unused extractor from a typo)."""
    return [(name, get_extractor_class(name)) for name in EXTRACTORS]


def extractor_settings(types: list[str], items: Mapping[str, Any], ignored: frozenset[str] = frozenset(),
                       common: tuple[str, ...] = ()) -> tuple[list[tuple[str, type[Extractor], Any]], list[str]]:
    """Each ``[FEATS] type`` entry with its class and settings built from the section's component keys; and warnings."""
    chosen = [(str(name), get_extractor_class(str(name))) for name in types]
    per_name, warnings = assign_keys("FEATS", items, chosen, registered_components(), ignored=ignored, common=common)
    out = [(name, cls, build_settings(cls.Settings, per_name[name], cls.key_prefix, "[FEATS]")) for name, cls in chosen]
    return out, warnings


def build_extractors(config: Any, *, validate: bool = True, warnings: list[str] | None = None) -> list[Extractor]:
    """One configured extractor per entry of ``[FEATS] type`` of a ``Config``; settings checked (ConfigError) when built.

    Keys of extractors that are not used are warnings: appended to ``warnings`` when given, else logged.
    """
    from nkl.config.nkululeko_keys import ignored_keys
    from nkl.config.sections import FeatsSection

    common = tuple(f.name for f in dataclasses.fields(FeatsSection))
    chosen, found = extractor_settings([str(t) for t in config.feats.type], config.component_items("FEATS"), ignored_keys("FEATS"), common)
    if warnings is not None:
        warnings.extend(found)
    else:
        for warning in found:
            logger.warning(warning)
    device = config.feats.device or config.model.device or "cpu"
    extractors = [cls(settings, kind=name, device=device, batch_size=config.feats.batch_size) for name, cls, settings in chosen]
    if validate:
        for ext in extractors:
            ext.validate()
    return extractors


def extractors_from_manifest(feats: Mapping[str, Any], device: str = "cpu") -> list[Extractor]:
    """The extractors a saved model was trained with (``feats`` of its bundle manifest)."""
    settings = dict(feats.get("settings") or {})
    if not settings and ("set" in feats or "level" in feats):  # bundles written before extractors owned their keys
        settings = {"os": {"set": feats.get("set", "eGeMAPSv02"), "level": feats.get("level", "functionals")}}
    out = []
    for name in feats["type"]:
        cls = get_extractor_class(str(name))
        values = settings.get(str(name), {})
        known = {f.name for f in dataclasses.fields(cls.Settings)}
        out.append(cls(cls.Settings(**{k: v for k, v in values.items() if k in known}), kind=str(name), device=device,
                       batch_size=int(feats.get("batch_size", 0))))
    return out


def manifest_feats(config: Any, extractors: list[Extractor]) -> dict[str, Any]:
    """What a saved model records to rebuild its extractors: type names and each one's settings (no secrets)."""
    return {"type": [e.kind for e in extractors], "settings": {e.kind: settings_dict(e.settings, for_hash=False) for e in extractors},
            "batch_size": config.feats.batch_size}
