"""Small randomly initialised pyannote models and pipelines saved to folders, for tests of the real loading path.

Real pyannote weights cannot be downloaded here. These folders have the layout pyannote reads
(``pytorch_model.bin`` checkpoints, a pipeline ``config.yaml`` with ``$model/<subfolder>`` entries, PLDA ``.npz``
files), so ``Model.from_pretrained`` / ``Pipeline.from_pretrained`` load them as they would a downloaded copy.
Random weights give meaningless segments and speakers: tests assert structure, not accuracy.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

SEGMENT_SECONDS = 2.0  # the segmentation model's chunk (real models use 10 s; shorter keeps tests fast)


def _save(model, folder: Path) -> Path:
    """Write a checkpoint as pyannote's ``Model.from_pretrained`` expects it (Lightning layout + pyannote metadata)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": "2.5.0"}
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, folder / "pytorch_model.bin")
    return folder


def save_random_segmentation(folder: Path, seed: int = 0) -> Path:
    """A tiny powerset PyanNet (3 speakers, at most 2 at a time; classes: none, {1}, {2}, {3}, {1,2} ...) in ``folder/pytorch_model.bin``."""
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    model = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": 16, "num_layers": 1}, linear={"hidden_size": 16, "num_layers": 1},
                    sample_rate=16000)
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=SEGMENT_SECONDS, min_duration=SEGMENT_SECONDS,
        warm_up=(0.0, 0.0), classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True)
    model.build()
    with torch.no_grad():  # favour the one-speaker classes {1} and {2}: random weights alone predict overlap everywhere,
        model.classifier.bias[:] = -5.0  # which leaves the pipeline no clean frames to embed (NaN speaker embeddings)
        model.classifier.bias[1:3] = 5.0
    return _save(model, folder)


def save_random_pipeline(folder: Path, seed: int = 0) -> Path:
    """A SpeakerDiarization pipeline folder: config.yaml, segmentation/, embedding/ (x-vector, 512 values), plda/.

    Agglomerative clustering never uses the PLDA, but the pipeline loads one: an identity transform is written.
    """
    import yaml

    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC

    save_random_segmentation(folder / "segmentation", seed)
    torch.manual_seed(seed + 1)
    with warnings.catch_warnings():  # torchaudio warns about its own MFCC defaults (empty top mel filters at 16 kHz)
        warnings.simplefilter("ignore", UserWarning)
        embedding = XVectorMFCC(sample_rate=16000)
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=1.0)
    _save(embedding, folder / "embedding")
    (folder / "plda").mkdir(parents=True, exist_ok=True)
    dim, lda = 512, 128
    np.savez(folder / "plda" / "xvec_transform.npz", mean1=np.zeros(dim), mean2=np.zeros(lda), lda=np.eye(dim)[:, :lda])
    np.savez(folder / "plda" / "plda.npz", mu=np.zeros(lda), tr=np.eye(lda), psi=np.ones(lda))
    config = {
        "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization",
                     "params": {"segmentation": "$model/segmentation", "embedding": "$model/embedding", "plda": "$model/plda",
                                "clustering": "AgglomerativeClustering", "embedding_exclude_overlap": False}},
        "params": {"segmentation": {"min_duration_off": 0.0},
                   "clustering": {"method": "centroid", "min_cluster_size": 1, "threshold": 0.7}},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder
