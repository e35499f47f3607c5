"""Audio: probing, content hashing, decoding to mono at a target rate."""

from nkl.audio.decode import load_audio
from nkl.audio.probe import AudioInfo, content_key, probe

__all__ = ["AudioInfo", "content_key", "load_audio", "probe"]
