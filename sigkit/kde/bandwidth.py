"""Bandwidth selectors.

Rules of thumb return a *factor* ``f`` that multiplies the data's scale (``H = f^2 Cov`` for
``covariance="full"``, see :mod:`sigkit.kde.kde`):

* Scott: ``f = n_eff^(-1/(d+4))``; Silverman: ``f = (n_eff (d+2)/4)^(-1/(d+4))`` (scipy's definitions).

Data-driven selectors work on points already whitened by the data's scale and return ``f`` too:

* :func:`lcv_factor`: leave-one-out likelihood cross-validation (maximises ``sum_i w_i log p_{-i}(y_i)``).
* :func:`lscv_factor`: least-squares (unbiased) cross-validation, Gaussian kernel (closed-form ``int p^2``).
* :func:`isj_bandwidth`: improved Sheather-Jones plug-in for 1-D data (Botev, Grotowski & Kroese 2010,
  "Kernel density estimation via diffusion", Ann. Stat. 38(5)); written from the paper's equations.
* :func:`kl_optimal_bandwidth`: the bandwidth minimising the KL divergence from a known density (synthetic
  studies), estimated on draws from it; without the true log-density it maximises held-out likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from sigkit.errors import ConfigError, InputError

from .engine import log_kernel_sum
from .kernels import GAUSSIAN, Kernel, get_kernel

__all__ = [
    "scott_factor",
    "silverman_factor",
    "lcv_factor",
    "lscv_factor",
    "isj_bandwidth",
    "loo_log_likelihood",
    "kl_optimal_bandwidth",
    "heldout_curve",
]


def scott_factor(n_eff: float, d: int) -> float:
    """Scott's rule ``n^(-1/(d+4))`` (multiplies the data's standard deviation).

    >>> round(scott_factor(10_000, 1), 6)
    0.158489
    """
    return float(n_eff) ** (-1.0 / (d + 4))


def silverman_factor(n_eff: float, d: int) -> float:
    """Silverman's rule ``(n (d+2)/4)^(-1/(d+4))``.

    >>> round(silverman_factor(10_000, 1), 6)
    0.167876
    """
    return (float(n_eff) * (d + 2) / 4.0) ** (-1.0 / (d + 4))


def _eval_subset(z: Tensor, w: Tensor, max_eval: int | None, seed: int = 0) -> Tensor:
    n = z.shape[0]
    if max_eval is None or n <= max_eval:
        return torch.arange(n, device=z.device)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:max_eval].to(z.device)


def _loo_terms(z: Tensor, w: Tensor, idx: Tensor, kernel: Kernel, f: float, backend: str) -> Tensor:
    """``log sum_{j != i} w_j K_f(z_i - z_j) / (1 - w_i)`` for ``i`` in ``idx`` (normalised density)."""
    d = z.shape[1]
    logw = torch.log(w)
    zf = z / f
    full = log_kernel_sum(zf[idx], zf, logw, kernel, backend=backend, d=d)
    self_term = logw[idx] + kernel.log_profile(torch.zeros_like(full), d)
    # log(exp(full) - exp(self)) = full + log(-expm1(self - full)); -inf when no other point contributes
    diff = (self_term - full).clamp(max=0.0)
    loo = full + torch.log(-torch.expm1(diff))
    return loo - torch.log1p(-w[idx]) + kernel.log_norm(d) - d * math.log(f)


def loo_log_likelihood(
    z: Tensor,
    w: Tensor,
    f: float,
    *,
    kernel: str | Kernel = "gaussian",
    max_eval: int | None = 2000,
    backend: str = "auto",
) -> float:
    """Leave-one-out mean log-likelihood of whitened points ``z`` ``(n, d)`` at factor ``f``.

    The leave-one-out sum is the full sum minus the point's own term, done in log space; when a
    point's own term is all there is (tiny ``f``) the result is ``-inf``. At most ``max_eval``
    points (a fixed random subset) are scored; every point contributes to the sums.
    """
    kernel = get_kernel(kernel)
    idx = _eval_subset(z, w, max_eval)
    loo = _loo_terms(z, w, idx, kernel, f, backend)
    wi = w[idx] / w[idx].sum()
    if bool(torch.isneginf(loo).any()):
        return -math.inf
    return float((wi * loo).sum())


def _optimise(objective: Callable[[float], float], grid: np.ndarray, *, maximise: bool) -> float:
    """Best grid point of ``objective(f)``, refined by bounded Brent search on ``log f`` around it."""
    from scipy.optimize import minimize_scalar

    sign = -1.0 if maximise else 1.0
    vals = np.array([sign * objective(float(f)) for f in grid])
    vals = np.where(np.isfinite(vals), vals, np.inf)
    if not np.isfinite(vals).any():
        raise InputError(
            "bandwidth selection failed: the criterion is not finite for any bandwidth tried; "
            "check the data for duplicate points or use a rule of thumb ('scott')"
        )
    i = int(np.argmin(vals))
    lo, hi = math.log(grid[max(i - 1, 0)]), math.log(grid[min(i + 1, len(grid) - 1)])
    if hi - lo <= 0:
        return float(grid[i])
    res = minimize_scalar(
        lambda lf: sign * objective(math.exp(lf)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-3}
    )
    best = math.exp(res.x) if np.isfinite(res.fun) and res.fun <= vals[i] else float(grid[i])
    return float(best)


def _default_grid(n_eff: float, d: int, num: int = 17) -> np.ndarray:
    return scott_factor(n_eff, d) * np.geomspace(1 / 16, 8.0, num)


def lcv_factor(
    z: Tensor,
    w: Tensor | None = None,
    *,
    kernel: str | Kernel = "gaussian",
    grid: np.ndarray | None = None,
    max_eval: int | None = 2000,
    backend: str = "auto",
) -> float:
    """Leave-one-out likelihood CV factor for whitened points ``z`` ``(n, d)``.

    Maximises :func:`loo_log_likelihood` over ``grid`` (default: Scott's factor times 1/16..8, log-spaced),
    then refines between the best point's neighbours.

    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(400, 1, generator=g, dtype=torch.float64)
    >>> 0.1 < lcv_factor(z) < 0.8
    True
    """
    n, d = z.shape
    w = torch.full((n,), 1.0 / n, dtype=z.dtype, device=z.device) if w is None else w
    n_eff = float(w.sum() ** 2 / (w * w).sum())
    grid = _default_grid(n_eff, d) if grid is None else np.asarray(grid, dtype=float)
    kernel = get_kernel(kernel)
    return _optimise(
        lambda f: loo_log_likelihood(z, w, f, kernel=kernel, max_eval=max_eval, backend=backend),
        grid,
        maximise=True,
    )


def lscv_score(z: Tensor, w: Tensor, f: float, *, backend: str = "auto") -> float:
    """Least-squares CV criterion ``int p_f^2 - 2 sum_i w_i p_{f,-i}(z_i)`` (Gaussian kernel, whitened z)."""
    n, d = z.shape
    logw = torch.log(w)
    zs = z / (math.sqrt(2.0) * f)  # p_f * p_f has covariance 2 f^2 I
    inner = log_kernel_sum(zs, zs, logw, GAUSSIAN, backend=backend, d=d)
    log_a = float(torch.logsumexp(logw + inner, 0)) + GAUSSIAN.log_norm(d) - d * math.log(math.sqrt(2.0) * f)
    loo = _loo_terms(z, w, torch.arange(n, device=z.device), GAUSSIAN, f, backend)
    log_b = float(torch.logsumexp(logw + loo, 0))
    return math.exp(log_a) - 2.0 * math.exp(log_b)


def lscv_factor(
    z: Tensor,
    w: Tensor | None = None,
    *,
    kernel: str | Kernel = "gaussian",
    grid: np.ndarray | None = None,
    max_points: int = 3000,
    backend: str = "auto",
) -> float:
    """Least-squares CV factor (Gaussian kernel) for whitened points ``z`` ``(n, d)``.

    Uses all pairs, so data beyond ``max_points`` are subsampled (a fixed random subset) first.

    >>> g = torch.Generator().manual_seed(0)
    >>> z = torch.randn(400, 1, generator=g, dtype=torch.float64)
    >>> 0.1 < lscv_factor(z) < 0.8
    True
    """
    if get_kernel(kernel) is not GAUSSIAN:
        raise ConfigError("bandwidth='lscv' is implemented for the Gaussian kernel only; use 'lcv'")
    n, d = z.shape
    w = torch.full((n,), 1.0 / n, dtype=z.dtype, device=z.device) if w is None else w
    if n > max_points:
        idx = _eval_subset(z, w, max_points)
        z, w = z[idx], w[idx] / w[idx].sum()
    n_eff = float(w.sum() ** 2 / (w * w).sum())
    grid = _default_grid(n_eff, d) if grid is None else np.asarray(grid, dtype=float)
    return _optimise(lambda f: lscv_score(z, w, f, backend=backend), grid, maximise=False)


def _double_factorial_odd(s: int) -> float:
    return float(np.prod(np.arange(1, 2 * s, 2, dtype=float)))


def isj_bandwidth(x, weights=None, *, grid_size: int = 2**14) -> float:
    """Improved Sheather-Jones bandwidth (Gaussian kernel std, data units) of 1-D data ``x`` ``(n,)``.

    Bins the data on ``grid_size`` points over the range padded by 10% each side, takes the DCT of the
    histogram (heat-equation solution on the interval) and solves Botev et al.'s fixed point
    ``t = xi * gamma^[7](t)`` for the squared bandwidth ``t``.

    >>> rng = np.random.default_rng(0)
    >>> h = isj_bandwidth(rng.normal(size=10_000))
    >>> bool(abs(h - (4 / (3 * 10_000)) ** 0.2) < 0.03)  # near the normal-reference optimum
    True
    """
    from scipy.fft import dct
    from scipy.optimize import brentq

    xs = np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=float).ravel()
    w = (
        None
        if weights is None
        else np.asarray(
            weights.detach().cpu() if isinstance(weights, Tensor) else weights, dtype=float
        ).ravel()
    )
    if not np.isfinite(xs).all():
        raise InputError("isj: data contain NaN or Inf; drop them first")
    lo, hi = xs.min(), xs.max()
    if hi <= lo:
        raise InputError("isj: all points are equal; the bandwidth is undefined")
    span = hi - lo
    lo, hi = lo - span / 10, hi + span / 10
    scale = hi - lo
    hist, _ = np.histogram(xs, bins=grid_size, range=(lo, hi), weights=w)
    hist = hist / hist.sum()
    n_eff = len(xs) if w is None else w.sum() ** 2 / (w * w).sum()
    c = dct(hist, type=2)[1:] / 2.0  # c_k = sum_i w_i cos(k pi x_i), k >= 1, x in [0, 1]
    k2 = np.arange(1, grid_size, dtype=float) ** 2
    c2 = c * c

    def norm_deriv(s: int, t: float) -> float:
        """||f^(s)||^2 of the data smoothed with a Gaussian of variance t (unit interval)."""
        return 2.0 * math.pi ** (2 * s) * float(np.sum(k2**s * c2 * np.exp(-k2 * math.pi**2 * t)))

    def fixed_point(t: float) -> float:
        ell = 7
        f = norm_deriv(ell, t)
        for s in range(ell - 1, 1, -1):
            k0 = _double_factorial_odd(s) / math.sqrt(2 * math.pi)
            const = (1 + 0.5 ** (s + 0.5)) / 3.0
            time = (2 * const * k0 / (n_eff * f)) ** (2.0 / (3 + 2 * s))
            f = norm_deriv(s, time)
        return t - (2 * n_eff * math.sqrt(math.pi) * f) ** (-0.4)

    ts = np.geomspace(1e-12, 0.1, 80)
    vals = np.array([fixed_point(t) for t in ts])
    sign = np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]
    if len(sign) == 0:
        raise InputError("isj: no fixed point found (too few distinct points?); use bandwidth='scott'")
    i = int(sign[0])
    t_star = brentq(fixed_point, ts[i], ts[i + 1], xtol=1e-14, rtol=1e-12)
    return math.sqrt(t_star) * scale


def heldout_curve(
    data,
    test,
    bandwidths,
    *,
    covariance: str = "isotropic",
    kernel: str = "gaussian",
    weights=None,
    backend: str = "auto",
) -> np.ndarray:
    """Mean held-out log-density of ``test`` under ``KDE(data, bandwidth=b)`` per ``b``: ``(len(b),)``."""
    from .kde import KDE

    out = []
    for b in bandwidths:
        kde = KDE(
            data, bandwidth=float(b), covariance=covariance, kernel=kernel, weights=weights, backend=backend
        )
        out.append(kde.score(test))
    return np.asarray(out)


def kl_optimal_bandwidth(
    data,
    test,
    true_log_density: Callable | None = None,
    *,
    covariance: str = "isotropic",
    kernel: str = "gaussian",
    grid: np.ndarray | None = None,
    backend: str = "auto",
) -> dict:
    """Bandwidth minimising ``KL(rho || p_h)`` estimated on draws ``test`` ``(m, d)`` from the true ``rho``.

    ``KL(h) = mean_x [log rho(x) - log p_h(x)]`` when ``true_log_density`` (a function of an ``(m, d)``
    array returning ``(m,)`` log-densities) is given; otherwise only ``-mean_x log p_h(x)`` (same argmin).

    Returns:
        dict with ``h`` (bandwidth, in the meaning of a float bandwidth for ``covariance``), ``kl`` at ``h``,
        and the curve ``grid``/``curve`` that was searched.

    >>> rng = np.random.default_rng(0)
    >>> out = kl_optimal_bandwidth(rng.normal(size=(300, 1)), rng.normal(size=(2000, 1)))
    >>> 0.1 < out["h"] < 1.0
    True
    """
    from .kde import as_points

    y = as_points(data, name="data")
    t = as_points(test, name="test", d=y.shape[1])
    n, d = y.shape
    ref = 0.0
    if true_log_density is not None:
        ref = float(np.mean(np.asarray(true_log_density(t.cpu().numpy()), dtype=float)))
    if grid is None:
        scale = float(y.var(0).mean().sqrt()) if covariance == "isotropic" else 1.0
        grid = _default_grid(n, d, 25) * scale
    grid = np.asarray(grid, dtype=float)
    curve = ref - heldout_curve(y, t, grid, covariance=covariance, kernel=kernel, backend=backend)

    def kl(h: float) -> float:
        return ref - float(heldout_curve(y, t, [h], covariance=covariance, kernel=kernel, backend=backend)[0])

    h = _optimise(kl, grid, maximise=False)
    return {"h": h, "kl": kl(h), "grid": grid, "curve": curve}
