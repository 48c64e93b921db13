"""Exact kernel density estimation in any dimension: :class:`KDE`.

``KDE(data, bandwidth, covariance, kernel, weights)`` places a kernel with covariance ``H`` (the
*bandwidth matrix*) on every data point: ``p(x) = sum_i w_i N_H(x - y_i)`` (for the Gaussian kernel).

How ``H`` is built:

===============  =========================================  ==========================================
covariance        float bandwidth ``h``                       selector (``"scott"``, ``"silverman"``, ...)
===============  =========================================  ==========================================
``"isotropic"``   ``H = h^2 I``: ``h`` is the kernel's std     ``H = f^2 s^2 I``, ``s^2`` = mean variance
                  in data units (scikit-learn's meaning)
``"diagonal"``    ``H = h^2 diag(var_j)``                      ``H = f^2 diag(var_j)``
``"full"``        ``H = h^2 Cov`` (scipy's scalar bw_method)   ``H = f^2 Cov`` (``"scott"`` = scipy)
===============  =========================================  ==========================================

An array bandwidth of shape ``(d,)`` gives per-dimension standard deviations (``H = diag(b^2)``), one of
shape ``(d, d)`` gives ``H`` itself. ``Cov`` is the weighted, unbiased data covariance, as in
``scipy.stats.gaussian_kde``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from sigkit.errors import ConfigError, InputError

from . import bandwidth as bw
from .engine import log_kernel_sum
from .kernels import Kernel, get_kernel

__all__ = ["KDE", "as_points"]

COVARIANCES = ("isotropic", "diagonal", "full")


def as_points(
    x,
    *,
    name: str = "data",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    d: int | None = None,
) -> Tensor:
    """``x`` (array-like or tensor) as a ``(n, d)`` tensor; 1-D input is ``(n, 1)``; rejects NaN/Inf rows.

    >>> as_points([1.0, 2.0]).shape
    torch.Size([2, 1])
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if not (
        t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
    ):
        raise InputError(f"{name}: expected real numbers, got dtype {t.dtype}")
    t = t.to(dtype=dtype, device=device if device is not None else t.device)
    if t.ndim == 1:
        t = t[:, None] if d in (None, 1) else t[None, :]
    if t.ndim != 2:
        raise InputError(f"{name}: expected an array of shape (n_points, n_dims), got shape {tuple(t.shape)}")
    if d is not None and t.shape[1] != d:
        raise InputError(
            f"{name}: has {t.shape[1]} columns but the KDE was fitted on {d}-dimensional data; "
            f"pass an array of shape (n, {d})"
        )
    bad = ~torch.isfinite(t).all(1)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten()[:5].tolist()
        raise InputError(
            f"{name}: {int(bad.sum())} row(s) contain NaN or Inf (first rows: {rows}); "
            f"drop or impute them first, e.g. x[np.isfinite(x).all(1)]"
        )
    return t


def _weighted_cov(y: Tensor, w: Tensor) -> Tensor:
    """Unbiased weighted covariance (``np.cov(y.T, aweights=w)``); ``w`` sums to 1."""
    mu = w @ y
    yc = y - mu
    return (yc * w[:, None]).T @ yc / (1.0 - (w * w).sum())


class KDE:
    """Exact kernel density estimate with a chosen bandwidth rule, covariance shape and kernel.

    Args:
        data: ``(n, d)`` points (``(n,)`` for 1-D data); numpy array, list or tensor.
        bandwidth: ``"scott"``, ``"silverman"``, ``"lcv"`` (leave-one-out likelihood CV), ``"lscv"``
            (least-squares CV, Gaussian kernel), ``"isj"`` (improved Sheather-Jones, 1-D), a positive
            float (see the module table), or an array of shape ``(d,)`` or ``(d, d)``.
        covariance: ``"isotropic"``, ``"diagonal"`` or ``"full"``: the shape of ``H``.
        kernel: ``"gaussian"``, ``"epanechnikov"`` or ``"laplace"`` (alias ``"exponential"``); kernels
            are standardised so that ``H`` is always the kernel's covariance.
        weights: optional ``(n,)`` non-negative point weights (normalised to sum 1).
        dtype: computation dtype (float64 by default, for parity with scipy/scikit-learn).
        device: where the points live (``"cuda"`` uses the fused Triton kernel).
        backend: ``"auto"``, ``"torch"`` or ``"triton"``.

    Attributes:
        bandwidth_matrix: ``(d, d)`` tensor ``H``. factor: the scalar ``f`` or ``h`` multiplying the shape.
        n_eff: effective number of points ``(sum w)^2 / sum w^2``.

    >>> import numpy as np
    >>> kde = KDE(np.random.default_rng(0).normal(size=(500, 2)), bandwidth="scott", covariance="full")
    >>> kde.log_density(np.zeros((1, 2))).shape
    torch.Size([1])
    >>> kde.sample(3).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        data,
        bandwidth: str | float | Sequence | np.ndarray | Tensor = "scott",
        covariance: str = "isotropic",
        kernel: str | Kernel = "gaussian",
        weights=None,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        backend: str = "auto",
    ):
        self.kernel = get_kernel(kernel)
        if covariance not in COVARIANCES:
            raise ConfigError(f"covariance={covariance!r}: use one of {COVARIANCES}")
        self.covariance = covariance
        self.backend = backend
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype={dtype}: use torch.float32 or torch.float64")
        self.dtype = dtype
        # set-up (covariance, selectors, Cholesky, whitening) runs in float64; sums run in `dtype`
        y = as_points(data, name="data", dtype=torch.float64, device=device)
        n, d = y.shape
        if n < 2 or n < d:
            raise InputError(
                f"data: {n} points in {d} dimensions (shape {tuple(y.shape)}): fewer points than dimensions. "
                f"sigkit expects (n_points, n_dims); if your array is (n_dims, n_points) as scipy's "
                f"gaussian_kde takes it, pass data.T"
            )
        w = self._weights(weights, n, y)
        keep = w > 0
        self.n_eff = float(w.sum() ** 2 / (w * w).sum())
        self.n, self.d = n, d
        self._data, self._w = y, w
        self.factor, self.bandwidth_matrix = self._bandwidth(bandwidth, y, w)
        try:
            self._chol = torch.linalg.cholesky(self.bandwidth_matrix)
        except RuntimeError:
            raise InputError(
                "bandwidth matrix is not positive definite; pass a symmetric positive-definite "
                "(d, d) array or a positive float"
            ) from None
        self._log_det = float(torch.log(torch.diagonal(self._chol)).sum())
        self.points = y[keep]
        self.weights = w[keep]
        self._center = w @ y  # whitened coordinates are centred: smaller |x|^2 in the |q|^2+|x|^2-2q.x form
        self._z = self._whiten(self.points).to(dtype)
        self._logw = torch.log(self.weights).to(dtype)
        self._uniform = bool((self._logw == self._logw[0]).all())  # lets the CUDA kernel skip per-point weights

    # ----------------------------------------------------------------------------------------- set-up
    @staticmethod
    def _weights(weights, n: int, y: Tensor) -> Tensor:
        if weights is None:
            return torch.full((n,), 1.0 / n, dtype=y.dtype, device=y.device)
        w = torch.as_tensor(np.asarray(weights) if not isinstance(weights, Tensor) else weights)
        w = w.to(dtype=y.dtype, device=y.device).flatten()
        if w.numel() != n:
            raise InputError(f"weights: {w.numel()} values for {n} points; pass one weight per point")
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise InputError("weights: must be finite, non-negative and not all zero")
        return w / w.sum()

    def _shape_matrix(self, y: Tensor, w: Tensor) -> Tensor:
        """The data-scale matrix the scalar bandwidth multiplies: Cov, diag(var) or mean-var * I."""
        cov = _weighted_cov(y, w)
        var = torch.diagonal(cov)
        hint = (
            "drop constant or linearly dependent columns, or use covariance='isotropic' with a "
            "float bandwidth"
        )
        if self.covariance == "full":
            evals = torch.linalg.eigvalsh(cov)
            if float(evals.min()) <= 1e-12 * max(float(evals.max()), 1e-300):
                rank = int((evals > 1e-12 * float(evals.max())).sum())
                raise InputError(
                    f"data: covariance is singular (rank {rank} < {self.d} dimensions), so "
                    f"covariance='full' has no bandwidth matrix; {hint}"
                )
            return cov
        if self.covariance == "diagonal":
            zero = (
                torch.nonzero(var <= 1e-12 * var.max().clamp_min(torch.finfo(var.dtype).tiny))
                .flatten()
                .tolist()
            )
            if zero:
                raise InputError(
                    f"data: column(s) {zero[:5]} have zero variance, so covariance='diagonal' "
                    f"is singular; {hint}"
                )
            return torch.diag(var)
        mean_var = var.mean()
        if float(mean_var) <= 1e-24 * max(float((y * y).mean()), torch.finfo(y.dtype).tiny):
            raise InputError(
                "data: all points are identical (zero variance); a data-scaled bandwidth is "
                "undefined; pass a float bandwidth"
            )
        return mean_var * torch.eye(self.d, dtype=y.dtype, device=y.device)

    def _bandwidth(self, bandwidth, y: Tensor, w: Tensor) -> tuple[float, Tensor]:
        d = self.d
        eye = torch.eye(d, dtype=y.dtype, device=y.device)
        if isinstance(bandwidth, str):
            name = bandwidth.lower()
            shape = self._shape_matrix(y, w)
            if name == "scott":
                return bw.scott_factor(self.n_eff, d), shape * bw.scott_factor(self.n_eff, d) ** 2
            if name == "silverman":
                f = bw.silverman_factor(self.n_eff, d)
                return f, shape * f**2
            z = torch.linalg.solve_triangular(torch.linalg.cholesky(shape), (y - w @ y).T, upper=False).T
            if name == "lcv":
                f = bw.lcv_factor(z, w, kernel=self.kernel, backend=self.backend)
            elif name == "lscv":
                f = bw.lscv_factor(z, w, kernel=self.kernel, backend=self.backend)
            elif name == "isj":
                if d != 1:
                    raise ConfigError(f"bandwidth='isj' is for 1-D data; data has {d} dimensions")
                f = bw.isj_bandwidth(z[:, 0], weights=w)
            else:
                raise ConfigError(
                    f"bandwidth={bandwidth!r}: use 'scott', 'silverman', 'lcv', 'lscv', 'isj', "
                    f"a positive float or an array"
                )
            return f, shape * f**2
        if isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
            h = float(bandwidth)
            _check_positive(h)
            shape = eye if self.covariance == "isotropic" else self._shape_matrix(y, w)
            return h, shape * h**2
        b = torch.as_tensor(np.asarray(bandwidth) if not isinstance(bandwidth, Tensor) else bandwidth)
        b = b.to(dtype=y.dtype, device=y.device)
        if b.ndim == 0:
            return self._bandwidth(float(b), y, w)
        if not bool(torch.isfinite(b).all()):
            raise InputError("bandwidth: contains NaN or Inf; pass finite positive values")
        if b.shape == (d,):
            if bool((b <= 0).any()):
                raise InputError(f"bandwidth: per-dimension values must be > 0, got min {float(b.min()):g}")
            return 1.0, torch.diag(b * b)
        if b.shape == (d, d):
            if not torch.allclose(b, b.T):
                raise InputError("bandwidth: a (d, d) bandwidth matrix must be symmetric")
            if float(torch.linalg.eigvalsh(b).min()) <= 0:
                raise InputError(
                    "bandwidth: the (d, d) bandwidth matrix must be positive definite (all eigenvalues > 0)"
                )
            return 1.0, b.clone()
        raise InputError(
            f"bandwidth: array of shape {tuple(b.shape)} does not fit {d}-D data; "
            f"pass a float, shape ({d},) or shape ({d}, {d})"
        )

    def _whiten(self, x: Tensor) -> Tensor:
        return torch.linalg.solve_triangular(self._chol, (x - self._center).T, upper=False).T

    # ------------------------------------------------------------------------------------ public API
    @property
    def bandwidth(self) -> float | Tensor:
        """Isotropic ``H = h^2 I``: ``h`` (a float, data units); else the ``(d,)`` kernel std per axis."""
        H = self.bandwidth_matrix
        if bool(torch.equal(H, torch.diag(torch.diagonal(H)))) and bool(
            torch.allclose(torch.diagonal(H), H[0, 0].expand(self.d))
        ):
            return math.sqrt(float(H[0, 0]))
        return torch.diagonal(H).sqrt()

    def queries(self, x) -> Tensor:
        """``x`` as whitened ``(m, d)`` queries on this KDE's device and dtype."""
        q = as_points(x, name="queries", dtype=torch.float64, device=self._z.device, d=self.d)
        return self._whiten(q).to(self.dtype)

    def log_density(self, x) -> Tensor:
        """Log-density at ``x`` (``(m, d)`` or ``(m,)`` for 1-D data); returns ``(m,)``, natural log.

        >>> import numpy as np
        >>> kde = KDE(np.array([[0.0], [0.0]]), bandwidth=1.0)
        >>> round(float(kde.log_density([[0.0]])[0]), 6)  # log N(0; 0, 1)
        -0.918939
        """
        q = self.queries(x)
        s = log_kernel_sum(q, self._z, self._logw, self.kernel, backend=self.backend, d=self.d, uniform=self._uniform)
        return s + (self.kernel.log_norm(self.d) - self._log_det)

    def density(self, x) -> Tensor:
        """Density at ``x``: ``exp(log_density(x))``, shape ``(m,)`` (underflows in high dimension)."""
        return self.log_density(x).exp()

    def score(self, x) -> float:
        """Mean log-density (held-out log-likelihood per point) of ``x``."""
        return float(self.log_density(x).mean())

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``(n, d)`` draws from the estimate: a point chosen by weight plus a kernel draw ``L u``.

        >>> import numpy as np
        >>> KDE(np.ones((4, 2)) * np.arange(4)[:, None], bandwidth=0.1).sample(5).shape
        torch.Size([5, 2])
        """
        if n < 0:
            raise InputError(f"sample: n={n} must be >= 0")
        dev = self.points.device
        idx = (
            torch.multinomial(self.weights, n, replacement=True, generator=generator)
            if n
            else torch.zeros(0, dtype=torch.long, device=dev)
        )
        u = self.kernel.sample(n, self.d, generator=generator, dtype=self.points.dtype, device=dev)
        return (self.points[idx] + u @ self._chol.T).to(self.dtype)

    def __repr__(self) -> str:
        return (
            f"KDE(n={self.n}, d={self.d}, kernel={self.kernel.name!r}, covariance={self.covariance!r}, "
            f"factor={self.factor:.4g})"
        )


def _check_positive(h: float) -> None:
    if not math.isfinite(h) or h <= 0:
        raise InputError(
            f"bandwidth={h!r}: must be a finite number > 0 (it is the kernel's standard "
            f"deviation); try bandwidth='scott'"
        )
