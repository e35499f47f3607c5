"""Who speaks in each sample (``targets = ['speaker']``): one speaker embedding per file, then clustering over the selection.

Two steps, because speaker labels only mean something relative to the other samples:

1. **Embeddings, per file, cached by content** like features (table ``embeddings_speaker_<method>``):

   * ``speaker.method = resemblyzer`` (default, offline): Resemblyzer's GE2E voice encoder (weights inside the wheel),
     256 values per file after its volume normalisation and long-silence trimming.
   * ``speaker.method = pyannote``: a pyannote.audio speaker-diarization pipeline (``[PREDICT] speaker.pipeline``: a
     local folder with ``config.yaml``, the file itself, or a hub id with ``[MODEL] hf_token``) is run on each file; the
     file's *dominant* speaker (most speech) gives the embedding (the pipeline's centroid for that speaker), and the
     file's number of speakers and the dominant speaker's share of speech are kept too. pyannote's labels
     (``SPEAKER_00`` ...) are per file, so they are not used across files.

2. **Clustering over the selected samples** (scikit-learn agglomerative clustering, cosine distance, average linkage):
   into ``speaker.num_speakers`` clusters when given, else cut at cosine distance ``speaker.threshold``. Labels are
   ``spk_00`` (the speaker with the most files), ``spk_01`` ... Rows go to ``estimates_speaker`` (``est_speaker``, and
   for pyannote ``est_speakers_in_file`` and ``est_speaker_share``) with the hash of the clustered set
   (``set_hash``): labels from different clusterings are not comparable, so the table holds the latest clustering
   only; the same selection and settings again reuse it, a different selection re-clusters (embeddings are reused).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nkl.config.sections import key
from nkl.context import RunContext
from nkl.errors import ConfigError, MissingExtraError, ModelError
from nkl.hashing import stable_hash
from nkl.predict.registry import Predictor
from nkl.pretrained.pyannote import hf_token, import_pyannote, load_pyannote, source_hash
from nkl.pretrained.torch_threads import one_torch_thread

TABLE = "estimates_speaker"
METHODS = ("resemblyzer", "pyannote")
DEFAULT_THRESHOLD = 0.35  # cosine distance; measured on EmoDB (see README: speaker clustering)
DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
EMBEDDING_PREFIX = "emb_"
PYANNOTE_EXTRAS = ["speakers_in_file", "dominant_share"]
LINKAGE = "average"


@dataclass(frozen=True)
class SpeakerSettings:
    """[PREDICT] keys of the speaker target."""

    method: str = key("resemblyzer", "Embeddings per file from resemblyzer (offline, weights in the wheel) or pyannote "
                      "(a speaker-diarization pipeline; the dominant speaker of each file).", choices=METHODS)
    pipeline: str = key("", "pyannote: local pipeline folder (config.yaml), a config.yaml file, or a hub id "
                        "(default pyannote/speaker-diarization-community-1; hub ids need [MODEL] hf_token).", path=True)
    num_speakers: int = key(0, "Number of speakers among the selected samples when known (0 = cut the clustering at speaker.threshold).")
    threshold: float = key(0.35, "Cosine distance at which clusters stop merging when num_speakers is 0 (average linkage).")
    hf_token: str = key("", "pyannote: Hugging Face token (default: [MODEL] hf_token, else $HF_TOKEN).", secret=True)


class SpeakerPredictor(Predictor):
    """Speaker embeddings per file (``embeddings_speaker_<method>``), clustered into ``est_speaker`` by ``finalize``."""

    target = "speaker"
    sample_rate = 16000
    min_duration = 0.1
    source = "Resemblyzer wheel (default) or a pyannote speaker-diarization pipeline ([PREDICT] speaker.pipeline)"

    Settings = SpeakerSettings

    def __init__(self, settings: Any = None, **common: Any) -> None:
        super().__init__(settings, **common)
        self.method = str(self.options.get("method") or "resemblyzer").lower()
        self._model: Any = None

    @property
    def table(self) -> str:
        return f"embeddings_speaker_{self.method}"

    @property
    def pipeline_source(self) -> str:
        return str(self.options.get("pipeline") or DEFAULT_PIPELINE)

    def params(self) -> dict[str, Any]:
        if self.method == "resemblyzer":
            return {"method": "resemblyzer", "preprocess": "normalize_volume+trim_long_silences"}
        return {"method": "pyannote", "pipeline": self.pipeline_source, "pipeline_hash": source_hash(self.pipeline_source),
                "embedding": "dominant speaker"}

    def versions(self) -> dict[str, str]:
        packages = ("resemblyzer", "torch") if self.method == "resemblyzer" else ("pyannote.audio", "torch")
        try:
            return {package: version(package) for package in packages}
        except PackageNotFoundError:
            raise (MissingExtraError("speaker", "resemblyzer") if self.method == "resemblyzer"
                   else MissingExtraError("pyannote", "pyannote.audio")) from None

    def setup(self) -> None:
        """Load the encoder or pipeline once per process (nothing is written); one-line errors when it cannot."""
        if self._model is not None:
            return
        if self.method == "resemblyzer":
            try:
                with warnings.catch_warnings():  # resemblyzer imports a deprecated scipy namespace
                    warnings.simplefilter("ignore", DeprecationWarning)
                    from resemblyzer import VoiceEncoder
            except ImportError as exc:
                raise MissingExtraError("speaker", "resemblyzer") from exc
            with one_torch_thread():
                self._model = VoiceEncoder("cpu", verbose=False)
            return
        pipeline = load_pyannote(self.pipeline_source, kind="pipeline", key="[PREDICT] speaker.pipeline",
                                 default=DEFAULT_PIPELINE, token=hf_token(self.options))
        if not hasattr(pipeline, "_embedding"):
            raise ModelError(f"The pyannote pipeline '{self.pipeline_source}' is not a speaker-diarization pipeline with speaker "
                             "embeddings; set [PREDICT] speaker.pipeline to a SpeakerDiarization pipeline")
        torch, _ = import_pyannote()
        device = self.torch_device()
        if device != "cpu":
            pipeline.to(torch.device(device))
        self._model = pipeline

    def extract(self, signal: np.ndarray, sample_rate: int) -> tuple[list[str], np.ndarray]:
        if sample_rate != self.sample_rate:
            raise ValueError(f"speaker embeddings need {self.sample_rate} Hz audio, got {sample_rate} Hz")
        self.setup()
        with one_torch_thread():
            return self._resemblyzer(signal) if self.method == "resemblyzer" else self._pyannote(signal)

    def _resemblyzer(self, signal: np.ndarray) -> tuple[list[str], np.ndarray]:
        from resemblyzer.audio import normalize_volume, trim_long_silences

        wav = normalize_volume(np.asarray(signal, dtype=np.float32), -30, increase_only=True)  # Resemblyzer's preprocess_wav
        trimmed = trim_long_silences(wav)
        embedding = self._model.embed_utterance(trimmed if trimmed.size >= 0.1 * self.sample_rate else wav)
        return [f"{EMBEDDING_PREFIX}{i:03d}" for i in range(embedding.size)], embedding.astype(np.float64)

    def _pyannote(self, signal: np.ndarray) -> tuple[list[str], np.ndarray]:
        import torch

        with warnings.catch_warnings():  # pooling and numpy warnings on very short speech turns
            warnings.simplefilter("ignore")
            output = self._model({"waveform": torch.from_numpy(np.asarray(signal, dtype=np.float32)[None]), "sample_rate": self.sample_rate})
        annotation = getattr(output, "speaker_diarization", output)
        embeddings = getattr(output, "speaker_embeddings", None)
        labels = list(annotation.labels())
        if not labels:
            raise ValueError("the pyannote pipeline found no speech")
        if embeddings is None:
            raise ValueError("the pyannote pipeline returned no speaker embeddings")
        durations = np.array([annotation.label_duration(label) for label in labels])
        dominant = int(np.argmax(durations))
        embedding = np.asarray(embeddings[dominant], dtype=np.float64)
        if not np.all(np.isfinite(embedding)):
            raise ValueError("the dominant speaker's embedding is not finite (too little speech)")
        names = [f"{EMBEDDING_PREFIX}{i:03d}" for i in range(embedding.size)] + PYANNOTE_EXTRAS
        return names, np.concatenate([embedding, [len(labels), durations[dominant] / durations.sum()]])

    # ---- database level ------------------------------------------------------------------------
    def clustering_spec(self) -> dict[str, Any]:
        """Everything besides the set of samples that decides the labels."""
        num = int(self.options.get("num_speakers") or 0)
        threshold = float(self.options.get("threshold") or DEFAULT_THRESHOLD)
        return {"embeddings": self.spec_hash, "num_speakers": num, "threshold": None if num else threshold,
                "metric": "cosine", "linkage": LINKAGE, "scikit-learn": version("scikit-learn")}

    def finalize(self, ctx: RunContext, samples: pl.DataFrame) -> pl.DataFrame:
        """Cluster the samples' embeddings into ``est_speaker`` (cached by set and settings); write the speakers plot."""
        from nkl.features.cache import load_features

        keys = sorted(set(samples["content_key"].to_list()))
        embeddings = load_features(ctx, self, keys)
        columns = [c for c in embeddings.columns if c.startswith(EMBEDDING_PREFIX)]
        matrix = embeddings.select(columns).to_numpy() if columns else np.zeros((embeddings.height, 0))
        usable = np.all(np.isfinite(matrix), axis=1) & (np.linalg.norm(np.nan_to_num(matrix), axis=1) > 0) if matrix.size else np.zeros(0, bool)
        embeddings = embeddings.filter(pl.Series(usable))
        set_hash = stable_hash(sorted(embeddings["content_key"].to_list()))
        cluster_hash = stable_hash({"set": set_hash, **self.clustering_spec()})
        ws = ctx.workspace
        stored = ws.frame(TABLE, cluster_hash)
        cached = stored.collect() if stored is not None else None
        if cached is not None and cached.height:
            frame = cached
            ctx.log.info("speaker: clustering of %d samples reused (%s)", frame.height, cluster_hash[:12])
        else:
            spec = self.clustering_spec()
            ids = cluster_speakers(embeddings.select(columns).to_numpy(), num_speakers=spec["num_speakers"],
                                   threshold=spec["threshold"] or DEFAULT_THRESHOLD)
            frame = embeddings.select("content_key").with_columns(
                pl.lit(cluster_hash).alias("spec_hash"), pl.lit(set_hash).alias("set_hash"),
                pl.Series("est_speaker", speaker_labels(ids), dtype=pl.String))
            if "speakers_in_file" in embeddings.columns:
                frame = frame.with_columns(embeddings["speakers_in_file"].cast(pl.Int64).alias("est_speakers_in_file"),
                                           embeddings["dominant_share"].alias("est_speaker_share"))
            ws.write_part(TABLE, cluster_hash, frame, index=False)
            for part in ws.parts(TABLE):  # the latest clustering only: labels of two clusterings do not compare
                if not part.name.startswith(cluster_hash):
                    part.unlink()
            ws.refresh_views([TABLE])
            found = frame["est_speaker"].n_unique() if frame.height else 0
            ctx.log.info("speaker: %d samples clustered into %d speakers (%s)", frame.height, found, self.method)
        name = str(self.options.get("experiment") or "predict")
        if frame.height:
            speakers_plot(frame, ws.experiment_dir(name) / "plots" / f"{name}_speakers", self.method)
        return frame


def cluster_speakers(embeddings: np.ndarray, *, num_speakers: int = 0, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Cluster ids of embeddings (rows): 0 for the cluster with the most rows, then 1, ... (ties: first row first).

    ``num_speakers`` > 0 asks for that many clusters; otherwise clusters are merged while their average cosine
    distance stays below ``threshold``.

    >>> cluster_speakers(np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]]), num_speakers=2).tolist()
    [0, 1, 0]
    """
    n = len(embeddings)
    if num_speakers < 0:
        raise ConfigError(f"[PREDICT] speaker.num_speakers must be 0 (unknown) or more, got {num_speakers}")
    if num_speakers > n:
        raise ConfigError(f"[PREDICT] speaker.num_speakers = {num_speakers} but only {n} samples have a speaker embedding")
    if not 0 < threshold < 2:
        raise ConfigError(f"[PREDICT] speaker.threshold is a cosine distance between 0 and 2, got {threshold}")
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=num_speakers or None, distance_threshold=None if num_speakers else threshold,
                                    metric="cosine", linkage=LINKAGE)
    raw = model.fit_predict(np.asarray(embeddings, dtype=np.float64))
    clusters, first, counts = np.unique(raw, return_index=True, return_counts=True)
    order = sorted(range(len(clusters)), key=lambda i: (-counts[i], first[i]))
    relabel = {clusters[i]: rank for rank, i in enumerate(order)}
    return np.array([relabel[c] for c in raw], dtype=np.int64)


def speaker_labels(ids: np.ndarray) -> list[str]:
    """``spk_00``, ``spk_01`` ... (wider when there are 100 or more clusters).

    >>> speaker_labels(np.array([0, 1, 0]))
    ['spk_00', 'spk_01', 'spk_00']
    """
    width = max(2, len(str(int(ids.max())))) if len(ids) else 2
    return [f"spk_{int(i):0{width}d}" for i in ids]


def speakers_plot(frame: pl.DataFrame, stem: Path, method: str) -> list[Path]:
    """Bar chart of how many files each found speaker has (``<stem>.png`` and ``.svg``)."""
    import altair as alt

    from nkl.evaluate.plots import save_chart

    counts = frame.group_by("est_speaker").len("files").sort("est_speaker")
    chart = alt.Chart(alt.Data(values=counts.to_dicts())).mark_bar().encode(
        x=alt.X("est_speaker:N", title="found speaker", sort=None),
        y=alt.Y("files:Q", title="files"),
        tooltip=["est_speaker:N", "files:Q"],
    ).properties(title=f"{counts.height} speakers found in {frame.height} files ({method})", width=max(240, 18 * counts.height), height=240)
    stem.parent.mkdir(parents=True, exist_ok=True)
    return save_chart(chart, stem)
