"""limit_lengths and silences on hand-made segment lists."""

from __future__ import annotations

from itertools import pairwise

import pytest

from nkl.errors import ConfigError, DataError
from nkl.segment import limit_lengths, silences


def flat(segments: list[tuple[float, float]]) -> list[float]:
    """Starts and ends in one list, for pytest.approx."""
    return [value for segment in segments for value in segment]


# ---- limit_lengths ---------------------------------------------------------------------------------------------


def test_empty_list_stays_empty():
    assert limit_lengths([], min_length=2.0, max_length=10.0) == []
    assert limit_lengths([], min_length=2.0, max_length=None) == []


def test_without_max_length_only_short_segments_are_dropped():
    segments = [(0.0, 1.0), (2.0, 4.0), (5.0, 30.0), (31.0, 32.5)]
    assert limit_lengths(segments, min_length=2.0, max_length=None) == [(2.0, 4.0), (5.0, 30.0)]
    assert limit_lengths(segments, min_length=0.0, max_length=None) == segments


def test_segment_of_exactly_min_length_is_kept():
    assert limit_lengths([(1.0, 3.0)], min_length=2.0, max_length=None) == [(1.0, 3.0)]
    assert limit_lengths([(1.0, 3.0)], min_length=2.0, max_length=10.0) == [(1.0, 3.0)]


def test_segments_up_to_max_length_are_kept_whole():
    segments = [(0.0, 10.0), (12.0, 15.0)]
    assert limit_lengths(segments, min_length=2.0, max_length=10.0) == segments


def test_exact_multiples_of_max_length_give_equal_pieces():
    assert limit_lengths([(5.0, 35.0)], min_length=2.0, max_length=10.0) == [(5.0, 15.0), (15.0, 25.0), (25.0, 35.0)]
    # 0.9 - 0.6 is 0.30000000000000004 in floating point: still three pieces, not a fourth sliver
    pieces = limit_lengths([(0.0, 0.9)], min_length=0.0, max_length=0.3)
    assert len(pieces) == 3
    assert flat(pieces) == pytest.approx(flat([(0.0, 0.3), (0.3, 0.6), (0.6, 0.9)]), abs=1e-9)
    assert pieces[-1][1] == 0.9


def test_leftover_shorter_than_min_length_is_merged_into_previous_piece():
    assert limit_lengths([(0.0, 21.5)], min_length=2.0, max_length=10.0) == [(0.0, 10.0), (10.0, 21.5)]
    # a segment just over max_length stays whole: its leftover merges into its only piece
    assert limit_lengths([(3.0, 14.0)], min_length=2.0, max_length=10.0) == [(3.0, 14.0)]


def test_leftover_of_min_length_or_more_is_its_own_piece():
    # nkululeko drops this leftover (20-25 s); nkl keeps it
    assert limit_lengths([(0.0, 25.0)], min_length=2.0, max_length=10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert limit_lengths([(0.0, 22.0)], min_length=2.0, max_length=10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 22.0)]


def test_pieces_never_exceed_max_plus_min_length_and_cover_the_segment():
    segments = [(0.0, 7.3), (8.0, 31.9), (40.0, 40.5), (41.0, 62.0)]
    pieces = limit_lengths(segments, min_length=2.0, max_length=5.0)
    assert all(2.0 - 1e-9 <= end - start <= 7.0 + 1e-9 for start, end in pieces)
    kept = [segment for segment in segments if segment[1] - segment[0] >= 2.0]
    assert sum(end - start for start, end in pieces) == pytest.approx(sum(end - start for start, end in kept))


def test_input_order_is_kept():
    segments = [(10.0, 13.0), (0.0, 4.0)]
    assert limit_lengths(segments, min_length=2.0, max_length=None) == segments


@pytest.mark.parametrize(
    ("min_length", "max_length", "message"),
    [
        (-1.0, None, "min_length must be 0 or more"),
        (0.0, 0.0, "max_length must be a positive"),
        (3.0, 2.0, "must not exceed max_length"),
    ],
)
def test_bad_lengths_name_the_key(min_length, max_length, message):
    with pytest.raises(ConfigError, match=message):
        limit_lengths([(0.0, 1.0)], min_length=min_length, max_length=max_length)


def test_reversed_segment_is_a_data_error():
    with pytest.raises(DataError, match=r"\(2.0, 1.0\) does not end after it starts"):
        limit_lengths([(2.0, 1.0)], min_length=0.0, max_length=None)


# ---- silences --------------------------------------------------------------------------------------------------


def test_no_segments_means_no_gaps_unless_borders_count():
    assert silences([], 5.0) == []
    assert silences([], 5.0, include_borders=True) == [(0.0, 5.0)]
    assert silences([], 0.0, include_borders=True) == []


def test_gaps_between_segments():
    segments = [(0.5, 1.0), (2.0, 3.0), (3.5, 4.0)]
    assert silences(segments, 5.0) == [(1.0, 2.0), (3.0, 3.5)]


def test_include_borders_adds_leading_and_trailing_silence():
    segments = [(0.5, 1.0), (2.0, 3.0)]
    assert silences(segments, 5.0, include_borders=True) == [(0.0, 0.5), (1.0, 2.0), (3.0, 5.0)]


def test_segments_touching_the_borders_leave_no_border_silence():
    assert silences([(0.0, 1.0), (2.0, 5.0)], 5.0, include_borders=True) == [(1.0, 2.0)]
    assert silences([(0.0, 5.0)], 5.0, include_borders=True) == []


def test_unsorted_overlapping_and_adjacent_segments():
    segments = [(3.0, 4.0), (0.5, 2.0), (1.0, 1.5), (2.0, 2.5)]
    assert silences(segments, 5.0) == [(2.5, 3.0)]
    assert silences(segments, 5.0, include_borders=True) == [(0.0, 0.5), (2.5, 3.0), (4.0, 5.0)]


def test_gaps_are_clipped_to_the_recording():
    # a segment padded past the end of the file leaves no trailing silence
    assert silences([(1.0, 2.0), (4.0, 5.03)], 5.0, include_borders=True) == [(0.0, 1.0), (2.0, 4.0)]


def test_silences_and_segments_tile_the_recording():
    segments = [(0.25, 1.0), (1.5, 2.75), (4.0, 4.5)]
    gaps = silences(segments, 6.0, include_borders=True)
    tiles = sorted(segments + gaps)
    assert tiles[0][0] == 0.0 and tiles[-1][1] == 6.0
    assert all(previous[1] == following[0] for previous, following in pairwise(tiles))


def test_negative_duration_is_a_data_error():
    with pytest.raises(DataError, match="duration"):
        silences([(0.0, 1.0)], -1.0)
