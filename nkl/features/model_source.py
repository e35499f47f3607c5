"""Where a pretrained model comes from (a local folder or a hub id in the local cache) and what identifies it."""

from __future__ import annotations

import os
from pathlib import Path

from nkl.errors import ModelError
from nkl.hashing import local_model_hash


def offline() -> bool:
    """HF_HUB_OFFLINE is set: hub ids are read from the local cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def local_folder(model: str, key: str) -> Path | None:
    """The model's folder when ``model`` names one; None for a hub id; ModelError for a path that does not exist."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    if model.startswith(("/", "./", "../", "~", ".\\")) or "\\" in model or model.count("/") > 1:
        raise ModelError(f"The model folder '{model}' ({key}) does not exist; set {key} to the model's folder or to a Hugging Face "
                         f"hub id")
    return None


def cached_snapshot(model: str, filename: str = "config.json") -> Path | None:
    """The locally cached hub snapshot folder holding ``filename`` of the model (None when there is none)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, filename)
    except (ImportError, ValueError, OSError):  # no huggingface_hub, or an id the hub would reject
        return None
    return Path(cached).parent if isinstance(cached, str) else None  # .../models--org--name/snapshots/<commit>/<file>


def model_identity(model: str, key: str, filename: str = "config.json") -> dict[str, str]:
    """What outputs depend on in the model: a local folder and the hash of its config and weights, or a hub id and the
    cached snapshot's commit ("unresolved" without one); so replacing the weights changes every cache key built from it."""
    folder = local_folder(model, key)
    if folder is not None:
        return {"model": str(folder), "model_hash": local_model_hash(folder)}
    snapshot = cached_snapshot(model, filename)
    return {"model": model, "revision": snapshot.name if snapshot is not None else "unresolved"}


def hub_load_error(model: str, key: str) -> ModelError:
    """One line saying why a hub model could not be loaded here and how to give a local copy."""
    where = "no copy in the local Hugging Face cache and HF_HUB_OFFLINE is set" if offline() else \
        "not downloadable and not in the local Hugging Face cache"
    return ModelError(f"Cannot load the model '{model}' ({where}); set {key} = /local/folder after downloading "
                      f"https://huggingface.co/{model} on a machine with internet (e.g. `hf download {model} --local-dir FOLDER`)")
