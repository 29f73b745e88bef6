"""Sizes of memory given by users: a number of bytes, or text such as ``"300MB"``."""

from __future__ import annotations

import re
from typing import Union

__all__ = ["parse_size"]

Size = Union[int, str]

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(I)?)?B?\s*", re.IGNORECASE)


def parse_size(value: object, what: str = "memory_limit") -> int:
    """``value`` in bytes: a positive int, or text such as ``"2GB"`` (10**9 bytes per GB)
    or ``"512MiB"`` (2**20 bytes per MiB). Raises ``ValueError`` naming ``what``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0:
            return value
    elif isinstance(value, str):
        match = _TEXT.fullmatch(value)
        if match is not None:
            number, unit, binary = match.groups()
            unit = (unit or "").upper()
            size = int(float(number) * (_BINARY[unit] if binary else _UNITS[unit]))
            if size > 0:
                return size
    raise ValueError(
        f"{what} must be a positive number of bytes or a size such as '2GB' or '512MiB', "
        f"not {value!r}"
    )
