"""Kernel density estimation that knows which statistical regime it is in.

* :class:`KDE` — exact, chunked log-sum-exp KDE (Gaussian, Epanechnikov, Laplace kernels; isotropic,
  diagonal or full bandwidth; weighted points; sampling; CPU and CUDA/Triton).
* :mod:`~sigkit.kde.bandwidth` — Scott, Silverman, LOO likelihood CV, least-squares CV, ISJ (1-D),
  KL-optimal bandwidth for a known density.
* :func:`regimes` — ``alpha = ln(n)/d``, ``h_CLT``, ``h_G``, ``h_KL`` for Gaussian data (Biroli & Mezard).
* :mod:`~sigkit.kde.diagnostics` — participation ratio and tail index: which regime a bandwidth is in.
* ``sigkit kde analyze data.npy`` — report + PNG (:mod:`sigkit.kde.cli`).
"""

from .bandwidth import (
    heldout_curve,
    isj_bandwidth,
    kl_optimal_bandwidth,
    lcv_factor,
    lscv_factor,
    scott_factor,
    silverman_factor,
)
from .diagnostics import participation_ratio, regime_diagnostics, tail_index
from .kde import KDE
from .kernels import get_kernel
from .regimes import classify, kl_per_dim, levy_index, regimes

__all__ = [
    "KDE",
    "regimes",
    "levy_index",
    "kl_per_dim",
    "classify",
    "participation_ratio",
    "tail_index",
    "regime_diagnostics",
    "scott_factor",
    "silverman_factor",
    "lcv_factor",
    "lscv_factor",
    "isj_bandwidth",
    "kl_optimal_bandwidth",
    "heldout_curve",
    "get_kernel",
]
