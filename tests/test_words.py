"""explorer.words: counts read "1 image" / "2 images"; equal scores share a rank, the next rank skips."""

from __future__ import annotations

import pytest

from explorer.words import plural, tie_ranks


def test_plural_says_one_thing_in_the_singular_and_everything_else_in_the_plural():
    assert plural(1, "image") == "1 image"
    assert plural(0, "image") == "0 images"
    assert plural(2448, "tag") == "2,448 tags"
    assert plural(3, "batch") == "3 batches"  # irregular plurals come from one table
    assert plural(2, "NaN/inf vector") == "2 NaN/inf vectors"  # only the last word changes
    assert plural(2, "independent direction") == "2 independent directions"
    assert plural(5, "person", "folk") == "5 folk"


def test_equal_scores_share_a_rank_and_the_next_rank_skips_them():
    assert tie_ranks([0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4]) == ["1", "2", "3", "4", "5=", "5=", "7"]
    assert tie_ranks([0.3, 0.3, 0.3]) == ["1=", "1=", "1="]
    assert tie_ranks([0.9, 0.5]) == ["1", "2"]


def test_ties_are_judged_on_the_scores_as_shown():
    # 0.5004, 0.5001 and 0.4996 all read 0.500: one rank. The old tolerance chain split them by 0.0005 steps.
    assert tie_ranks([0.5004, 0.5001, 0.4996, 0.4990]) == ["1=", "1=", "1=", "4"]
    # 0.4994 reads 0.499, 0.4996 reads 0.500: shown differently, so ranked differently
    assert tie_ranks([0.4996, 0.4994]) == ["1", "2"]
    assert tie_ranks([0.51, 0.5], decimals=1) == ["1=", "1="]
    with pytest.raises(ValueError, match="best first"):
        tie_ranks([0.1, 0.2])
