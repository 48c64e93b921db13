"""Data-driven regime diagnostics for any data set and bandwidth.

For a query ``x`` the estimate is a sum of terms ``t_i = w_i K_H(x - y_i)``. Two numbers say how many
of them matter:

* :func:`participation_ratio` ``PR(x) = (sum_i t_i)^2 / sum_i t_i^2``: the effective number of points in
  the estimate (``n_eff`` when all terms are equal, 1 when one point makes it). Computed exactly with
  two log-sum-exp passes (terms and squared terms), never forming the terms.
* :func:`tail_index`: the Hill estimate ``mu = k / sum_{j<=k} ln(t_(j) / t_(k+1))`` of the power-law index
  of the terms' upper tail, from the ``k + 1`` largest terms. By the generalised CLT the estimate is
  Gaussian for ``mu > 2``, alpha-stable with index ``mu`` for ``1 < mu < 2`` and dominated by its largest
  terms for ``mu < 1``: Biroli & Mezard's three regimes (:mod:`sigkit.kde.regimes`). For the Gaussian
  kernel ``mu`` grows exactly as ``h^2`` (the order statistics do not depend on ``h``), so one
  bandwidth's ``mu`` gives data-driven thresholds ``h_CLT ~ h sqrt(2/mu)`` and ``h_G ~ h sqrt(1/mu)``.

Queries should be points *not* in the data (held out): at a data point its own term dominates.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .engine import log_kernel_sum, top_log_terms
from .regimes import classify

__all__ = ["participation_ratio", "tail_index", "regime_diagnostics"]


def participation_ratio(kde, x) -> Tensor:
    """Effective number of points in the estimate at each query: ``(m,)`` values in ``[1, n_eff]``.

    >>> import numpy as np
    >>> from sigkit.kde import KDE
    >>> y = np.random.default_rng(0).normal(size=(1000, 2))
    >>> pr = participation_ratio(KDE(y, bandwidth=100.0), np.zeros((1, 2)))
    >>> bool(990 < pr[0] <= 1000)
    True
    """
    q = kde.queries(x)
    u = kde._uniform
    one = log_kernel_sum(q, kde._z, kde._logw, kde.kernel, backend=kde.backend, d=kde.d, uniform=u)
    two = log_kernel_sum(q, kde._z, 2.0 * kde._logw, kde.kernel, beta=2.0, backend=kde.backend, d=kde.d, uniform=u)
    return torch.exp(2.0 * one - two)


def tail_index(kde, x, k: int = 8) -> Tensor:
    """Hill estimate of the kernel terms' tail index at each query, from the ``k + 1`` largest: ``(m,)``.

    >>> import numpy as np
    >>> from sigkit.kde import KDE
    >>> y = np.random.default_rng(0).normal(size=(2000, 8))
    >>> kde = KDE(y, bandwidth=0.5)
    >>> mu1 = tail_index(kde, y[:5] + 0.1).median()
    >>> mu2 = tail_index(KDE(y, bandwidth=1.0), y[:5] + 0.1).median()
    >>> round(float(mu2 / mu1), 6)  # mu scales as h^2 for the Gaussian kernel
    4.0
    """
    if k < 1:
        raise ValueError(f"tail_index: k={k} must be >= 1")
    q = kde.queries(x)
    top = top_log_terms(q, kde._z, kde._logw, kde.kernel, k + 1, d=kde.d)
    gaps = top[:, :-1] - top[:, -1:]
    return gaps.shape[1] / gaps.sum(1)


def regime_diagnostics(kde, x, k: int = 8) -> dict:
    """Which regime the KDE's bandwidth is in at queries ``x`` (held-out points): a summary dict.

    Keys: ``pr_median`` (median participation ratio), ``pr_fraction`` (``pr_median / n_eff``),
    ``mu`` (pooled Hill tail index ``1 / mean_x(1/mu_x)``, the Hill estimate with all queries' gaps
    pooled), ``mu_median``, ``regime`` (``"CLT"``, ``"stable"``, ``"extreme"``, from ``mu``) and, for the
    Gaussian kernel, ``factor_CLT``/``factor_G``: the bandwidth factors at which ``mu`` would be 2 and 1
    (same units as ``kde.factor``).

    >>> import numpy as np
    >>> from sigkit.kde import KDE
    >>> y = np.random.default_rng(0).normal(size=(3000, 10))
    >>> regime_diagnostics(KDE(y, bandwidth=0.2), y[:20] + 0.5)["regime"]
    'extreme'
    """
    pr = participation_ratio(kde, x)
    mu = tail_index(kde, x, k)
    pooled = float(1.0 / (1.0 / mu).mean())
    out = {
        "pr_median": float(pr.median()),
        "pr_fraction": float(pr.median()) / kde.n_eff,
        "mu": pooled,
        "mu_median": float(mu.median()),
        "regime": classify(pooled),
    }
    if kde.kernel.code == 0 and math.isfinite(pooled) and pooled > 0:
        out["factor_CLT"] = kde.factor * math.sqrt(2.0 / pooled)
        out["factor_G"] = kde.factor * math.sqrt(1.0 / pooled)
    return out
