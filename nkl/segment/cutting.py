"""Length limits and gaps for lists of ``(start, end)`` segments in seconds (pure Python, no torch).

``limit_lengths`` implements ``[SEGMENT] min_length`` / ``max_length``; ``silences`` turns speech
segments into the silence table (nkululeko's ``<result>_silence.csv``).
"""

from __future__ import annotations

from collections.abc import Iterable

from nkl.errors import ConfigError, DataError

# Seconds of floating-point slack in every length comparison, so that 0.9 s cut at 0.3 s gives three
# pieces (0.9 - 0.6 is 0.30000000000000004 in floating point, not "longer than 0.3").
TOLERANCE = 1e-9

Segment = tuple[float, float]


def limit_lengths(segments: Iterable[Segment], *, min_length: float, max_length: float | None) -> list[Segment]:
    """Drop segments shorter than ``min_length``; cut those longer than ``max_length`` into pieces.

    Exactly what happens to each segment, in input order:

    - shorter than ``min_length`` (strictly): dropped. nkululeko filters only when ``max_length`` is
      set; nkl always does, so pass ``min_length=0`` to keep every segment.
    - no ``max_length``, or not longer than it: kept whole.
    - longer than ``max_length``: cut from its start into pieces of exactly ``max_length``. The
      leftover at the end becomes a piece of its own when it is at least ``min_length`` long;
      a shorter leftover is merged into the piece before it, which then runs up to
      ``max_length + min_length`` (as in nkululeko). A segment of exactly n × ``max_length`` gives n
      pieces. nkululeko drops leftovers of ``min_length`` or more; nkl keeps them.

    Raises ConfigError for a negative ``min_length``, a ``max_length`` that is not positive, or a
    ``min_length`` above ``max_length``; DataError for a segment that does not end after it starts.

    >>> limit_lengths([(0.0, 25.0), (30.0, 31.0)], min_length=2.0, max_length=10.0)
    [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    >>> limit_lengths([(0.0, 21.0)], min_length=2.0, max_length=10.0)
    [(0.0, 10.0), (10.0, 21.0)]
    """
    if min_length < 0:
        raise ConfigError(f"[SEGMENT] min_length must be 0 or more seconds, got {min_length}")
    if max_length is not None:
        if max_length <= 0:
            raise ConfigError(f"[SEGMENT] max_length must be a positive number of seconds, got {max_length}")
        if min_length > max_length:
            raise ConfigError(f"[SEGMENT] min_length ({min_length} s) must not exceed max_length ({max_length} s)")
    limited: list[Segment] = []
    for start, end in _checked(segments):
        if end - start < min_length - TOLERANCE:
            continue
        if max_length is None or end - start <= max_length + TOLERANCE:
            limited.append((start, end))
            continue
        pieces = 0
        # Each cut is start + k * max_length, not a running sum, so rounding errors do not accumulate.
        while end - (start + pieces * max_length) > max_length + TOLERANCE:
            limited.append((start + pieces * max_length, start + (pieces + 1) * max_length))
            pieces += 1
        cut = start + pieces * max_length
        if end - cut < min_length - TOLERANCE:
            limited[-1] = (limited[-1][0], end)
        else:
            limited.append((cut, end))
    return limited


def silences(segments: Iterable[Segment], duration: float, *, include_borders: bool = False) -> list[Segment]:
    """The gaps between speech ``segments`` of a recording ``duration`` seconds long, in time order.

    Segments may come in any order and may overlap; a gap is time covered by none of them. Without
    ``include_borders`` only gaps between two segments count (nkululeko's default), so a recording
    without speech has no silences; with it, the stretch before the first segment and after the last
    one (up to ``duration``) count too, and a recording without speech is one silence. Gaps are
    clipped to ``[0, duration]``.

    >>> silences([(1.0, 2.0), (3.0, 4.0)], 5.0)
    [(2.0, 3.0)]
    >>> silences([(1.0, 2.0), (3.0, 4.0)], 5.0, include_borders=True)
    [(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)]
    """
    if duration < 0:
        raise DataError(f"recording duration must be 0 or more seconds, got {duration}")
    ordered = sorted(_checked(segments))
    if not ordered:
        return [(0.0, float(duration))] if include_borders and duration > 0 else []
    gaps: list[Segment] = []

    def add_gap(start: float, end: float) -> None:
        start, end = max(start, 0.0), min(end, float(duration))
        if end - start > TOLERANCE:
            gaps.append((start, end))

    if include_borders:
        add_gap(0.0, ordered[0][0])
    covered_until = ordered[0][1]
    for start, end in ordered[1:]:
        add_gap(covered_until, start)
        covered_until = max(covered_until, end)
    if include_borders:
        add_gap(covered_until, float(duration))
    return gaps


def _checked(segments: Iterable[Segment]) -> list[Segment]:
    """Segments as float pairs; DataError for one that does not end after it starts."""
    checked = []
    for start, end in segments:
        if not end > start:
            raise DataError(f"segment ({start}, {end}) does not end after it starts")
        checked.append((float(start), float(end)))
    return checked
