"""Loading pyannote.audio pipelines and models (local folder or hub id), shared by ``nkl predict`` (speaker) and
``nkl segment`` (pyannote VAD / diarization): one-line errors naming the key, telemetry off, nothing written."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nkl.errors import MissingExtraError, ModelError
from nkl.hashing import stable_hash


def hf_token(options: Mapping[str, Any]) -> str | None:
    """The Hugging Face token: ``options["hf_token"]`` ([PREDICT] speaker.hf_token or [MODEL] hf_token), else $HF_TOKEN.

    ``***`` (how nkl writes a secret into the copies it keeps, e.g. experiments/<name>/config.ini) counts as unset.
    """
    written = str(options.get("hf_token") or "")
    return (written if written and written != "***" else os.environ.get("HF_TOKEN") or "") or None


def import_pyannote() -> tuple[Any, Any]:
    """``(torch, pyannote.audio)``, with pyannote's telemetry off (it would try to send usage data)."""
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    try:
        import pyannote.audio
        import torch
    except ImportError as exc:
        raise MissingExtraError("pyannote", "pyannote.audio") from exc
    return torch, pyannote.audio


def load_pyannote(source: str, *, kind: str, key: str, default: str, token: str | None) -> Any:
    """A pyannote pipeline (``kind = "pipeline"``) or model (``"model"``) from a local path or a hub id, read only.

    Raises ModelError in one line naming ``key`` when it cannot be loaded (offline, gated, missing files).
    """
    _, pyannote_audio = import_pyannote()
    loader = pyannote_audio.Pipeline if kind == "pipeline" else pyannote_audio.Model
    path = Path(source).expanduser()
    local = path.exists()
    if not local and (source.startswith((".", "/", "~")) or source.endswith((".yaml", ".yml", ".bin", ".ckpt")) or source.count("/") > 1):
        raise ModelError(f"The pyannote {kind} {path} does not exist; set {key} to a local folder or a hub id such as {default}")
    where = f"local {kind} {path}" if local else f"hub id '{source}'"
    try:
        # pyannote prints a paragraph to stdout when a download fails; the error below says it in one line
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = loader.from_pretrained(str(path) if local else source, token=token)
    except Exception as exc:  # noqa: BLE001 - hub, file and checkpoint errors all mean "cannot load"
        loaded, failure = None, _load_failure(exc)
    else:
        failure = "not found"
    if loaded is None:
        hint = (f"point {key} at a local folder (config.yaml{' and its model folders' if kind == 'pipeline' else ' / pytorch_model.bin'}) "
                f"downloaded on a machine with internet (accept the conditions of https://hf.co/{default}, "
                "then set [MODEL] hf_token or $HF_TOKEN)")
        raise ModelError(f"Cannot load the pyannote {kind} from {where} ({failure}); {hint}")
    return loaded


def _load_failure(exc: BaseException) -> str:
    """Why a pyannote load failed, in a few words."""
    name = type(exc).__name__
    if "Gated" in name or "RepositoryNotFound" in name or " 401" in str(exc):
        return "gated or private on the hub: needs accepted conditions and a token"
    if "LocalEntryNotFound" in name or "Offline" in name or "Connection" in name:
        return "no network and no copy in the Hugging Face cache"
    first = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{name}: {first}" if first else name


def source_hash(source: str) -> str | None:
    """Hash of a local pipeline/model's files (names, sizes, mtimes): the cache changes when the local copy does."""
    path = Path(source).expanduser()
    if not path.exists():
        return None
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return stable_hash([[str(p.relative_to(path.parent)), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
