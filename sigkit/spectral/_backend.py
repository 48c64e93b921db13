"""Choice between the pure-torch reference and the fused Triton kernels of :mod:`sigkit.kernels`.

``backend="auto"`` resolves to :data:`AUTO_BACKEND_ON_CUDA` on CUDA tensors and to the reference
elsewhere; the environment variable ``SIGKIT_SPECTRAL_BACKEND`` (``reference`` or ``triton``)
overrides ``auto``, for debugging and benchmarks. ``"triton"`` on a CPU tensor runs only under
``TRITON_INTERPRET=1``.
"""
from __future__ import annotations

import functools
import importlib
import os

import torch

from sigkit.errors import InputError

BACKENDS = ("auto", "reference", "triton")

# What ``auto`` picks on CUDA. The fused kernels are correct (tests/kernels) but, measured on an H100
# and an H200 on 2026-11-27 (docs/benchmarks.md, "Spectral kernels"), slower than the eager torch
# chain at batch 32 (0.5-0.9x forward, 0.1-0.4x inverse/backward). Until they win, ``auto`` keeps
# users on the faster reference; ``backend="triton"`` or SIGKIT_SPECTRAL_BACKEND=triton selects them.
AUTO_BACKEND_ON_CUDA = "reference"


@functools.lru_cache(maxsize=1)
def _kernels():
    """The kernel module, or None when Triton or the kernels are not importable."""
    try:
        return importlib.import_module("sigkit.kernels.spectral")
    except ImportError:
        return None


def kernels_available() -> bool:
    """True when :mod:`sigkit.kernels.spectral` imports (Triton installed)."""
    return _kernels() is not None


def use_triton(backend: str, x: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether an op called with ``backend`` on ``x`` (and ``others``) should run the fused kernel.

    The kernels compute in float32, so float64 inputs always take the reference, whatever ``backend``.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = os.environ.get("SIGKIT_SPECTRAL_BACKEND", "auto").strip().lower() or "auto"
        if backend not in BACKENDS:
            raise InputError(
                f"SIGKIT_SPECTRAL_BACKEND={backend!r} is not one of {BACKENDS}; unset it or pick one"
            )
    if backend == "reference" or any(t.dtype == torch.float64 for t in (x, *others)):
        return False
    if backend == "auto":
        return x.is_cuda and AUTO_BACKEND_ON_CUDA == "triton" and kernels_available()
    if not kernels_available():
        raise InputError("backend='triton' needs Triton and sigkit.kernels.spectral; install triton or use 'reference'")
    if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise InputError("backend='triton' needs a CUDA tensor (or TRITON_INTERPRET=1 on CPU)")
    return True


def kernels():
    """The kernel module (call only after :func:`use_triton` returned True)."""
    return _kernels()
