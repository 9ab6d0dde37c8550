"""Ages, sizes and counts: what users write, in ASCII digits only."""

from __future__ import annotations

import pytest

from workspace_tasks.errors import UsageError
from workspace_tasks.units import parse_age, parse_count, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1.5h", 5400), ("2d", 172800), ("1w", 604800)],
)
def test_ages_read_in_their_units(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "30x", "-1d", "d", "١d", "３0d", "1.٥h"],
    ids=["empty", "unit", "negative", "no-number", "arabic-indic", "fullwidth", "mix"],
)
def test_what_is_not_an_age_names_the_flag(text):
    with pytest.raises(UsageError, match=r"^--older-than: .* is not an age"):
        parse_age(text, "--older-than")


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("10MB", 10 * 1024**2), ("1.5 GB", 1536 * 1024**2)],
)
def test_sizes_read_in_their_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1XB", "١MB", "-5MB"])
def test_what_is_not_a_size_names_the_flag(text):
    with pytest.raises(UsageError, match=r"^\[logging\] max_size: .* is not a size"):
        parse_size(text, "[logging] max_size")


def test_counts_are_whole_numbers_in_ascii_digits():
    assert parse_count("50", "--lines") == 50
    assert parse_count(0, "--lines") == 0
    for text in ("", "-1", "5x", "١", "2.5", "٣٠"):
        with pytest.raises(UsageError, match=r"^--lines: .* is not a count"):
            parse_count(text, "--lines")
