"""Sizes given as bytes or text ("300MB", "2GiB")."""

from __future__ import annotations

import pytest

from dagron._sizes import parse_size


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1000, 1000),
        ("1000", 1000),
        ("300MB", 300 * 10**6),
        ("300mb", 300 * 10**6),
        ("2GB", 2 * 10**9),
        ("1.5G", 1_500_000_000),
        ("512MiB", 512 * 2**20),
        ("2 GiB", 2 * 2**30),
        ("64KiB", 64 * 2**10),
    ],
)
def test_parse_size_reads_bytes_and_units(given: object, expected: int) -> None:
    assert parse_size(given) == expected


@pytest.mark.parametrize("given", ["lots", "", "-1GB", "1TBB", 0, -5, True, 1.5, None])
def test_parse_size_rejects_what_is_not_a_positive_size(given: object) -> None:
    with pytest.raises(ValueError, match="memory_limit must be"):
        parse_size(given)
