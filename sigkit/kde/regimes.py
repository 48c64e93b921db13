"""Statistical regimes of the Gaussian KDE in high dimension (Biroli & Mezard, arXiv 2408.05807).

With ``n = exp(alpha d)`` points drawn from ``N(0, sigma^2 I_d)`` and a Gaussian kernel of std ``h``,
the estimate at a typical point ``x`` is a sum of ``n`` terms ``exp(-d r_i / (2 h^2))``,
``r_i = |x - y_i|^2/d``:
a random-energy-model partition function. Its terms have a power-law upper tail with index
``mu(h) = 2 h^2 |I'(r_min)|``, where ``I`` is the large-deviation rate of ``r`` and ``r_min`` the typical
nearest-neighbour value (``I(r_min) = alpha``). The sum obeys

* the CLT for ``mu > 2``  (``h > h_CLT``),
* an alpha-stable (Levy) law of index ``mu`` for ``1 < mu < 2``  (``h_G < h < h_CLT``),
* extreme-value (condensed) statistics for ``mu < 1`` (``h < h_G``): a few points make the estimate.

For Gaussian data (``sigma = 1``) with ``s`` in (0, 1) the root of ``s^2 - s - ln s = 2 alpha``:

* ``r_min = s (1 + s)``,  ``mu(h) = h^2 (1/s - 1)``,
* ``h_CLT^2 = 2 s / (1 - s)``,  ``h_G^2 = s / (1 - s)``  (so ``h_G = h_CLT / sqrt 2``),
* leading-order KL per dimension: ``(1/2) ln(1+h^2) + 1/(2(1+h^2)) - 1/2`` for ``h > h_G`` and
  ``r_min/(2 h^2) + ln h + alpha - 1/2`` for ``h < h_G``; minimised at ``h_KL^2 = r_min < h_G^2``.

These closed forms are the project's re-derivation (shared/research/dps_kde.md, part B) and are the ones
implemented; the paper's body could not be retrieved to compare them symbol by symbol (see README).
All bandwidths scale with ``sigma``.
"""

from __future__ import annotations

import math

__all__ = ["regimes", "solve_s", "levy_index", "kl_per_dim", "classify"]


def solve_s(alpha: float) -> float:
    """The root ``s`` in (0, 1) of ``s^2 - s - ln s = 2 alpha`` (``alpha > 0``).

    >>> round(solve_s(0.5), 4)
    0.2984
    """
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r} must be > 0 (alpha = ln(n)/d with n >= 2)")
    f = lambda s: s * s - s - math.log(s) - 2.0 * alpha  # decreasing on (0, 1), f(1) = -2 alpha
    lo, hi = math.exp(-2.0 * alpha - 1.0), 1.0  # f(lo) > 0: -ln(lo) = 2 alpha + 1 > 2 alpha + lo - lo^2
    for _ in range(200):  # bisection in log-space, to full double precision
        mid = math.sqrt(lo * hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-16 * hi:
            break
    return 0.5 * (lo + hi)


def levy_index(h: float, alpha: float, sigma: float = 1.0) -> float:
    """Tail index ``mu(h) = (h/sigma)^2 (1/s - 1)`` of the kernel terms: > 2 CLT, 1..2 stable, < 1 extreme.

    >>> round(levy_index(regimes(10**6, 20)["h_CLT"], math.log(10**6) / 20), 6)
    2.0
    """
    s = solve_s(alpha)
    return (h / sigma) ** 2 * (1.0 / s - 1.0)


def kl_per_dim(h: float, alpha: float, sigma: float = 1.0) -> float:
    """Leading-order ``KL(rho || rho_hat_h) / d`` for Gaussian data (both branches, continuous at ``h_G``).

    >>> a = 0.5; hg = regimes(math.exp(a * 40), 40)["h_G"]
    >>> abs(kl_per_dim(hg * (1 - 1e-9), a) - kl_per_dim(hg * (1 + 1e-9), a)) < 1e-6
    True
    """
    s = solve_s(alpha)
    x = h / sigma
    if x * x >= s / (1.0 - s):
        return 0.5 * math.log1p(x * x) + 0.5 / (1.0 + x * x) - 0.5
    return s * (1.0 + s) / (2.0 * x * x) + math.log(x) + alpha - 0.5


def regimes(n: int, d: int, sigma: float = 1.0) -> dict:
    """Regime thresholds for ``n`` points of ``N(0, sigma^2 I_d)`` data.

    Returns:
        dict with ``alpha`` (= ln n / d), ``s``, ``r_min`` (typical min_i |x - y_i|^2 / (d sigma^2)),
        ``h_CLT``, ``h_G``, ``h_KL`` (bandwidths in data units) and ``kl_per_dim`` at ``h_KL``.

    >>> r = regimes(n=int(round(math.exp(10))), d=20)
    >>> round(r["alpha"], 3), round(r["h_G"], 3), round(r["h_CLT"], 3), round(r["h_KL"], 3)
    (0.5, 0.652, 0.922, 0.622)
    """
    if n < 2 or d < 1:
        raise ValueError(f"regimes: need n >= 2 points and d >= 1 dimensions, got n={n}, d={d}")
    if not sigma > 0:
        raise ValueError(f"regimes: sigma={sigma!r} must be > 0")
    alpha = math.log(n) / d
    s = solve_s(alpha)
    r_min = s * (1.0 + s)
    out = {
        "alpha": alpha,
        "s": s,
        "r_min": r_min,
        "h_CLT": sigma * math.sqrt(2.0 * s / (1.0 - s)),
        "h_G": sigma * math.sqrt(s / (1.0 - s)),
        "h_KL": sigma * math.sqrt(r_min),
    }
    out["kl_per_dim"] = kl_per_dim(out["h_KL"], alpha, sigma)
    return out


def classify(mu: float) -> str:
    """Regime name for a tail index ``mu``: ``"CLT"`` (> 2), ``"stable"`` (1..2) or ``"extreme"`` (< 1).

    >>> classify(2.5), classify(1.5), classify(0.5)
    ('CLT', 'stable', 'extreme')
    """
    if mu > 2.0:
        return "CLT"
    return "stable" if mu > 1.0 else "extreme"
