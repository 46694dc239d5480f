from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

# Two cores shared by xdist workers and notebook kernels: one BLAS thread each avoids
# oversubscription that would make the suite slower, not faster.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from xdist_groups import xdist_group_of  # noqa: E402 - needs the sys.path entry above


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow_modules = {i.path for i in items if "slow" in i.keywords or "browser" in i.keywords}
    for item in items:
        group = xdist_group_of(item, slow_modules)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device on this machine (run `pytest -m gpu` on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def root() -> Path:
    return ROOT
