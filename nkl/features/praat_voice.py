"""Praat voice features of one signal (pure functions over parselmouth).

The same families as nkululeko's ``praat`` extractor, each computed from one file only:

* ``pitch``: F0 statistics over the voiced frames of a cross-correlation pitch track (Hz);
* ``voice_quality``: mean HNR (cross-correlation harmonicity, dB), five jitter and six shimmer measures on the
  glottal pulses of that pitch track (Praat's standard arguments: periods 0.1–20 ms, max period factor 1.3,
  max amplitude factor 1.6);
* ``formants``: mean and median of F1–F4 (Burg) over the voiced frames;
* ``speech_rate``: syllable nuclei after de Jong & Wempe (2009): intensity peaks above the silence threshold
  (99th percentile intensity − 25 dB), at least 2 dB above the dip before the next peak (or before the end,
  for the last peak), inside a sounding stretch and voiced; pauses are the silent stretches of at least 0.3 s
  between two sounding ones (sounding stretches shorter than 0.1 s count as silence);
* ``pauses``: mean, standard deviation (population), coefficient of variation and proportion of pause time;
* ``vocal_tract``: derived from the four formant medians of the same file: their mean, the formant dispersion
  (F4 − F1) / 3, their geometric mean, Fitch's vocal-tract length c / (2 · dispersion), the least-squares
  spacing ΔF of a uniform tube (Fi ≈ (2i − 1) / 2 · ΔF) and its vocal-tract length c / (2 · ΔF), c = 35000 cm/s.

Deliberately left out, because nkululeko fits them over the whole database (train and test together):
the JitterPCA / ShimmerPCA components, the z-scored formant position pF (here ``avg_formant_hz``, the plain mean
of the four medians, stands in for it), and the log-normal fit / KS p-value of the pause durations.
Nothing here depends on any other file, so a vector never changes when the database does.

A feature that cannot be computed for a file is NaN (e.g. jitter with too few pulses, F4 at 8 kHz, pause
statistics without pauses); ``ValueError`` is raised only when nothing can be computed at all: an empty, too
short, non-finite or multi-channel signal, bad arguments, or no voiced frame (silence, noise).

parselmouth (``praat-parselmouth``) is imported on first use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nkl.errors import MissingExtraError

GROUPS: dict[str, tuple[str, ...]] = {
    "pitch": ("f0_mean_hz", "f0_std_hz", "f0_median_hz", "f0_min_hz", "f0_max_hz"),
    "voice_quality": (
        "hnr_mean_db",
        "jitter_local", "jitter_local_abs_s", "jitter_rap", "jitter_ppq5", "jitter_ddp",
        "shimmer_local", "shimmer_local_db", "shimmer_apq3", "shimmer_apq5", "shimmer_apq11", "shimmer_dda",
    ),
    "formants": (
        "f1_mean_hz", "f2_mean_hz", "f3_mean_hz", "f4_mean_hz",
        "f1_median_hz", "f2_median_hz", "f3_median_hz", "f4_median_hz",
    ),
    "speech_rate": (
        "n_syllables", "n_pauses", "duration_s", "phonation_time_s", "speech_rate_syl_s", "articulation_rate_syl_s", "asd_s",
    ),
    "pauses": ("pause_mean_s", "pause_std_s", "proportion_pause", "pause_cv"),
    "vocal_tract": ("avg_formant_hz", "formant_dispersion_hz", "mff_hz", "fitch_vtl_cm", "delta_f_hz", "vtl_delta_f_cm"),
}
PRAAT_FEATURES: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)

SPEED_OF_SOUND_CM_S = 35000.0
MAX_FORMANT_HZ = 5500.0        # Praat's default Burg ceiling (5 formants below it); lowered with the Nyquist frequency
PITCH_TIME_STEP_S = 0.01
SILENCE_DB = -25.0             # silence threshold relative to the 99th percentile intensity
MIN_DIP_DB = 2.0               # a syllable peak rises at least this far above the following dip
MIN_PAUSE_S = 0.3
MIN_SOUNDING_S = 0.1
INTENSITY_MIN_PITCH_HZ = 50.0  # de Jong & Wempe's intensity analysis (64 ms window, 16 ms step)

_JITTER = ("local", "local, absolute", "rap", "ppq5", "ddp")
_SHIMMER = ("local", "local_dB", "apq3", "apq5", "apq11", "dda")
_INDEX = {name: i for i, name in enumerate(PRAAT_FEATURES)}


def _parselmouth() -> Any:
    try:
        import parselmouth
    except ImportError as exc:
        raise MissingExtraError("praat", "praat-parselmouth") from exc
    return parselmouth


def praat_features(signal: np.ndarray, sample_rate: int, *, f0_min: float = 75.0, f0_max: float = 600.0) -> np.ndarray:
    """Praat voice features of one mono signal, a float64 vector aligned with ``PRAAT_FEATURES``.

    ``signal`` is mono audio in [-1, 1] at any ``sample_rate``; ``f0_min``/``f0_max`` bound the pitch search (Hz).
    Features that cannot be computed are NaN; ``ValueError`` when none can (see the module docstring).
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"praat_features needs a mono (1-D) signal, got shape {x.shape}")
    if not sample_rate or sample_rate <= 0:
        raise ValueError(f"bad sample rate {sample_rate!r}")
    if not 0 < f0_min < f0_max:
        raise ValueError(f"need 0 < f0_min < f0_max, got {f0_min}, {f0_max}")
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("empty or non-finite signal")
    duration = x.size / sample_rate
    if duration < 3.0 / f0_min:  # Praat needs a few periods of the lowest pitch in a window
        raise ValueError(f"signal of {duration * 1000:.0f} ms is too short for a pitch floor of {f0_min:g} Hz")

    pm = _parselmouth()
    call = pm.praat.call
    out = np.full(len(PRAAT_FEATURES), np.nan)

    def put(names: tuple[str, ...] | list[str], values: Any) -> None:
        for name, value in zip(names, values, strict=True):
            out[_INDEX[name]] = float(value)

    sound = pm.Sound(x, sampling_frequency=float(sample_rate))
    try:
        pitch = sound.to_pitch_cc(time_step=PITCH_TIME_STEP_S, pitch_floor=f0_min, pitch_ceiling=f0_max)
    except pm.PraatError as exc:
        raise ValueError(f"no pitch analysis possible: {exc}") from exc
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    if not voiced.any():
        raise ValueError("no voiced frame: nothing to measure")
    pitch_t1, pitch_dt = pitch.xs()[0], pitch.time_step
    values = f0[voiced]
    put(GROUPS["pitch"], (values.mean(), values.std(ddof=1) if values.size > 1 else np.nan, np.median(values), values.min(), values.max()))

    def is_voiced(times: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint((times - pitch_t1) / pitch_dt).astype(np.int64), 0, f0.size - 1)
        return voiced[index]

    # voice quality
    try:
        harmonicity = sound.to_harmonicity_cc(time_step=0.01, minimum_pitch=f0_min, silence_threshold=0.1, periods_per_window=1.0)
        hnr = harmonicity.values.ravel()
        hnr = hnr[hnr > -200]  # Praat's marker of silent frames
        if hnr.size:
            out[_INDEX["hnr_mean_db"]] = hnr.mean()
    except pm.PraatError:
        pass
    try:
        pulses = call([sound, pitch], "To PointProcess (cc)")
        put(GROUPS["voice_quality"][1:6], [call(pulses, f"Get jitter ({kind})", 0, 0, 0.0001, 0.02, 1.3) for kind in _JITTER])
        put(GROUPS["voice_quality"][6:], [call([sound, pulses], f"Get shimmer ({kind})", 0, 0, 0.0001, 0.02, 1.3, 1.6) for kind in _SHIMMER])
    except pm.PraatError:
        pass

    # formants (voiced frames only) and the vocal tract derived from their medians
    medians = np.full(4, np.nan)
    try:
        ceiling = min(MAX_FORMANT_HZ, sample_rate / 2.0)
        n_formants = max(1.0, math.floor(2 * 5.0 * ceiling / MAX_FORMANT_HZ) / 2)  # Praat takes half formants
        formant = sound.to_formant_burg(time_step=0.01, max_number_of_formants=n_formants, maximum_formant=ceiling,
                                        window_length=0.025, pre_emphasis_from=50.0)
        frames = is_voiced(np.asarray(formant.xs()))
        means = np.full(4, np.nan)
        for i in range(4):
            track = np.asarray(call(formant, "To Matrix", i + 1).values).ravel()[frames]
            track = track[np.isfinite(track) & (track > 0)]
            if track.size:
                means[i], medians[i] = track.mean(), np.median(track)
        put(GROUPS["formants"], np.concatenate([means, medians]))
    except pm.PraatError:
        pass
    put(GROUPS["vocal_tract"], _vocal_tract(medians))

    # syllable nuclei, phonation time and pauses
    try:
        intensity = sound.to_intensity(minimum_pitch=INTENSITY_MIN_PITCH_HZ, subtract_mean=True)
        rate = _speech_rate(np.asarray(intensity.values).ravel(), np.asarray(intensity.xs()), intensity.time_step, duration, is_voiced)
        put(rate.keys(), rate.values())
    except pm.PraatError:
        pass
    return out


def _vocal_tract(medians: np.ndarray) -> list[float]:
    """avg_formant, dispersion, geometric mean, Fitch VTL, ΔF and its VTL from F1–F4 medians (NaN where undefined)."""
    f1, _, _, f4 = medians
    with np.errstate(invalid="ignore", divide="ignore"):
        dispersion = (f4 - f1) / 3.0
        odd = (2.0 * np.arange(1, 5) - 1.0) / 2.0
        delta_f = float(np.sum(medians * odd) / np.sum(odd**2))
        mff = float(np.exp(np.mean(np.log(medians))))
    fitch = SPEED_OF_SOUND_CM_S / (2.0 * dispersion) if dispersion > 0 else np.nan
    vtl = SPEED_OF_SOUND_CM_S / (2.0 * delta_f) if delta_f > 0 else np.nan
    return [float(np.mean(medians)), dispersion, mff, fitch, delta_f, vtl]


def _runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    """Runs of equal values in a boolean array as (value, first index, end index)."""
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [mask.size]])
    return [(bool(mask[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _speech_rate(db: np.ndarray, times: np.ndarray, dt: float, duration: float, is_voiced: Any) -> dict[str, float]:
    """de Jong & Wempe (2009) on an intensity contour (dB per frame at ``times``): the speech_rate and pauses groups."""
    finite = np.isfinite(db)
    if not finite.any():
        return {}
    db = np.where(finite, db, np.nanmin(db[finite]))
    q99 = float(np.quantile(db, 0.99))
    threshold = max(q99 + SILENCE_DB, float(db.min()))

    # frame boundaries in seconds: halfway between frame centres, the first and last stretched to the signal's ends
    bounds = np.concatenate([[0.0], (times[:-1] + times[1:]) / 2.0, [duration]])
    sounding = db >= q99 + SILENCE_DB
    for flip_value, min_length in ((False, MIN_PAUSE_S), (True, MIN_SOUNDING_S)):  # short silences first, as Praat does
        for value, start, end in _runs(sounding):
            if value == flip_value and bounds[end] - bounds[start] < min_length:
                sounding[start:end] = not flip_value
    runs = _runs(sounding)
    phonation = sum(bounds[e] - bounds[s] for v, s, e in runs if v)
    pauses = np.array([bounds[e] - bounds[s] for k, (v, s, e) in enumerate(runs) if not v and 0 < k < len(runs) - 1])

    # syllable nuclei: local maxima above the threshold, 2 dB above the following dip, sounding and voiced
    inner = np.flatnonzero((db[1:-1] > db[:-2]) & (db[1:-1] >= db[2:])) + 1
    peaks = inner[db[inner] > threshold]
    nuclei = 0
    if peaks.size:
        following = np.append(peaks[1:], db.size)
        dips = np.array([db[p:q].min() for p, q in zip(peaks, following, strict=True)])
        valid = peaks[(db[peaks] - dips >= MIN_DIP_DB) & sounding[peaks]]
        nuclei = int(np.count_nonzero(is_voiced(times[valid]))) if valid.size else 0

    pause_mean = float(pauses.mean()) if pauses.size else np.nan
    pause_std = float(pauses.std()) if pauses.size else np.nan
    return {
        "n_syllables": nuclei,
        "n_pauses": pauses.size,
        "duration_s": duration,
        "phonation_time_s": phonation,
        "speech_rate_syl_s": nuclei / duration,
        "articulation_rate_syl_s": nuclei / phonation if phonation > 0 else np.nan,
        "asd_s": phonation / nuclei if nuclei else np.nan,
        "pause_mean_s": pause_mean,
        "pause_std_s": pause_std,
        "proportion_pause": float(pauses.sum()) / duration,
        "pause_cv": pause_std / pause_mean if pauses.size else np.nan,
    }
