"""Save and load any registered estimator; ``model.json`` names the family that reads it back."""

from __future__ import annotations

from pathlib import Path

from nkl.errors import ModelError
from nkl.models._files import read_json, write_json
from nkl.models.base import Estimator
from nkl.models.registry import FAMILY_LOADERS

MODEL_FILE = "model.json"
FORMAT_VERSION = 1


def save_estimator(estimator: Estimator, folder: Path) -> None:
    """Write a fitted estimator into ``folder``; ``model.json`` is written last.

    A folder with ``model.json`` therefore always holds a complete model.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    estimator.save(folder)
    write_json(
        folder / MODEL_FILE,
        {
            "format_version": FORMAT_VERSION,
            "family": estimator.family,
            "model": estimator.name,
            "task": estimator.task,
        },
    )


def load_estimator(folder: Path) -> Estimator:
    """Read an estimator that ``save_estimator`` wrote, dispatching on its family.

    Raises:
        ModelError: ``folder`` holds no ``model.json``, or it names an unknown family or format.
    """
    folder = Path(folder)
    manifest_path = folder / MODEL_FILE
    if not manifest_path.is_file():
        raise ModelError(f"No saved model in {folder}: {MODEL_FILE} is missing")
    manifest = read_json(manifest_path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{manifest_path} has format_version {manifest.get('format_version')!r}; this nkl reads {FORMAT_VERSION}")
    family = manifest.get("family")
    if family not in FAMILY_LOADERS:
        raise ModelError(f"{manifest_path} names unknown model family {family!r}; known: {', '.join(FAMILY_LOADERS)}")
    return FAMILY_LOADERS[family](folder)
