"""Argument checks shared by cnnlib: clear messages instead of deep numpy/torch traces.

:func:`check_int` is the one integer validator of the library (the others build on it).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an int; TypeError for non-integers, ValueError below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_pair(name: str, value: Any, minimum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints (height, width), returned as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return (
            check_int(f"{name}[0]", value[0], minimum),
            check_int(f"{name}[1]", value[1], minimum),
        )
    v = check_int(name, value, minimum)
    return v, v


def check_positive_ints(**values: Any) -> None:
    """:func:`check_int` with minimum 1 for each keyword: ``check_positive_ints(width=w, ...)``."""
    for name, value in values.items():
        check_int(name, value, 1)
