"""Shared fixtures. ``--device cuda --dtype float64`` run the same suite on the GPU machine (kornia's habit)."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="device for the op tests: cpu or cuda")
    parser.addoption("--dtype", default="float32,float64", help="comma-separated dtypes for the op tests")


def pytest_generate_tests(metafunc):
    if "dtype" in metafunc.fixturenames:
        names = metafunc.config.getoption("--dtype").split(",")
        metafunc.parametrize("dtype", [getattr(torch, n) for n in names], ids=names)


@pytest.fixture(autouse=True)
def _seeded_global_rngs():
    """Every test starts from the same global RNG state (torch, NumPy, random), whatever ran before it on
    its xdist worker: a test that draws unseeded noise gets the same noise in every run and order."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def device(request) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return dev


def tolerance(dtype: torch.dtype) -> dict:
    """Per-dtype tolerances for ``torch.testing.assert_close`` (one place, as kornia does)."""
    return {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}[dtype]
