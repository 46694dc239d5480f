"""Argument checks shared by cnnlib: clear messages instead of deep numpy/torch traces."""

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


def check_ndim(name: str, arr: Any, ndims: int | tuple[int, ...], layout: str = "") -> np.ndarray:
    """``arr`` as an ndarray with one of the allowed numbers of dimensions."""
    a = np.asarray(arr)
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if a.ndim not in allowed:
        want = " or ".join(str(d) for d in allowed)
        extra = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {want} dimensions{extra}, got shape {a.shape}")
    return a
