"""Read what a file holds without decoding it, and hash its bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from nkl.errors import AudioError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class AudioInfo:
    """Header facts and content hash of one audio file."""

    duration: float
    sample_rate: int
    channels: int
    frames: int
    bytes: int
    audio_hash: str


def hash_file(path: Path) -> str:
    """BLAKE2b of the file's bytes: the content address of the audio."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_key(audio_hash: str, start: float | None = None, end: float | None = None) -> str:
    """Key of a feature row: the audio hash, plus the segment bounds when it is a segment."""
    if start is None and end is None:
        return audio_hash
    return f"{audio_hash}@{start or 0.0:.4f}-{'' if end is None else f'{end:.4f}'}"


def probe(path: Path, min_bytes: int = 1) -> AudioInfo:
    """Header facts of an audio file; raise AudioError with the reason when it is unusable."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioError("file not found") from None
    except OSError as exc:
        raise AudioError(f"cannot read file: {exc.strerror}") from None
    if size == 0:
        raise AudioError("empty file (0 bytes)")
    if size < min_bytes:
        raise AudioError(f"file smaller than check_size ({size} < {min_bytes} bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"not a readable audio file ({str(exc).splitlines()[0][:120]})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError("audio file holds no samples")
    return AudioInfo(
        duration=info.frames / info.samplerate,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        bytes=size,
        audio_hash=hash_file(path),
    )
