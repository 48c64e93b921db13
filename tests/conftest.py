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


@pytest.fixture
def device(request) -> torch.device:
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return dev


def tolerance(dtype: torch.dtype) -> dict:
    """Per-dtype tolerances for ``torch.testing.assert_close`` (one place, as kornia does)."""
    return {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}[dtype]
