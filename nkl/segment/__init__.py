"""Segment: cut recordings into speech segments with silero VAD, then limit their lengths.

``speech_segments`` finds speech in one signal; ``limit_lengths`` applies ``[SEGMENT] min_length`` and
``max_length``; ``silences`` gives the gaps. Names load on first use, and none of them imports torch
until a model is loaded, so importing this package stays cheap.
"""

from nkl.lazy import lazy_getattr

_LAZY = {
    "load_vad_model": "nkl.segment.vad",
    "speech_segments": "nkl.segment.vad",
    "limit_lengths": "nkl.segment.cutting",
    "silences": "nkl.segment.cutting",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = sorted(_LAZY)
