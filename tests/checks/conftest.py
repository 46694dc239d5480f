"""Fixtures of the hidden-check tests; the helpers themselves are in _common.py."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> str:
    """The reference solution of the assignment ``A`` of the requesting test module."""
    return request.module.A.reference
