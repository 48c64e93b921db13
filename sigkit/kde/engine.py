"""Exact kernel sums in log space: ``log sum_i exp(log w_i + beta * log_profile(|q - x_i|^2))``.

Inputs are *whitened*: the bandwidth matrix has been factored out, so the kernel has identity
covariance. The n x m matrix of terms is never held whole: queries and points are taken in blocks.

CPU / generic torch path. For the Gaussian kernel each block of terms is one matrix product of
augmented rows, ``[q, 1, c_q] . [x, -|x|^2/2 + log w, 1]``, followed by ``exp_`` and a row sum; the
shift ``c_q`` is the running log-sum of the rows so far (the first block uses its exact row maximum),
so no separate max pass is needed. Rows of a block whose terms overflow that shift (a much nearer
point than any before) are recomputed for that block with an exact ``logsumexp``. Block sizes: see
:func:`_blocks`. On 2 CPU cores this measured 2.3-5.9x faster than the "obvious" ``q @ X.T`` +
``torch.logsumexp`` per query chunk in float64 (bench/kde.py, docs/benchmarks.md).

CUDA path: the fused Triton kernel :mod:`sigkit.kernels.kde_triton` when Triton is importable.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernels import Kernel

__all__ = ["log_kernel_sum", "top_log_terms", "default_backend"]


def default_backend(device: torch.device) -> str:
    """``"triton"`` on CUDA when Triton imports, else ``"torch"``."""
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the install
            return "torch"
        return "triton"
    return "torch"


def log_kernel_sum(
    queries: Tensor,
    points: Tensor,
    log_weights: Tensor,
    kernel: Kernel,
    *,
    beta: float = 1.0,
    backend: str = "auto",
    d: int | None = None,
    uniform: bool = False,
) -> Tensor:
    """``out[j] = log sum_i exp(log_weights[i] + beta * kernel.log_profile(|queries[j] - points[i]|^2))``.

    Args:
        queries: ``(m, d)`` whitened query points.
        points: ``(n, d)`` whitened data points.
        log_weights: ``(n,)`` finite log-weights (zero-weight points must be dropped beforehand).
        kernel: the kernel (:mod:`sigkit.kde.kernels`).
        beta: multiplies the log-profile (``beta=2`` gives the sums of squared terms).
        backend: ``"auto"``, ``"torch"`` or ``"triton"`` (CUDA only).
        d: dimension used for the kernel's shape constant (defaults to ``points.shape[1]``).
        uniform: every ``log_weights[i]`` is the same (the CUDA kernel then adds it once per query).

    Returns:
        ``(m,)`` tensor of log-sums, dtype and device of ``queries``.

    >>> from sigkit.kde.kernels import GAUSSIAN
    >>> x = torch.zeros(3, 2, dtype=torch.float64)
    >>> q, lw = torch.zeros(1, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    >>> log_kernel_sum(q, x, lw, GAUSSIAN)
    tensor([1.0986], dtype=torch.float64)
    """
    d = points.shape[1] if d is None else d
    if backend == "auto":
        backend = default_backend(queries.device)
    if queries.shape[0] == 0:
        return queries.new_empty(0)
    if backend == "triton":
        from sigkit.kernels.kde_triton import kde_logsumexp

        return kde_logsumexp(queries, points, log_weights, kernel.code, kernel.param(d), beta, uniform=uniform)
    if kernel.code == 0:
        return _gaussian_lse(queries, points, log_weights, beta)
    return _generic_lse(queries, points, log_weights, kernel, beta, d)


def _blocks(device: torch.device) -> tuple[int, int]:
    """(queries, points) per block. One CPU thread: 256 x 4096 stays in cache. Several threads: every op
    is a parallel region whose threads must all be scheduled, so on a shared machine (2 cores, load 12)
    256 x 4096 ran 4x slower than 512 x 16384 (13 s vs 3.9 s for 10^8 terms, d = 16); 512 x 16384 was
    4-6x faster than the obvious torch code there, and 256 x 4096 single-threaded 7x."""
    if device.type != "cpu":
        return (1024, 32768)
    return (256, 4096) if torch.get_num_threads() == 1 else (512, 16384)


def _gaussian_lse(queries: Tensor, points: Tensor, log_weights: Tensor, beta: float) -> Tensor:
    qc, nc = _blocks(queries.device)
    n, m = points.shape[0], queries.shape[0]
    dt, dev = queries.dtype, queries.device
    pts = torch.cat(
        [
            points * beta,
            (points * points).sum(1, keepdim=True) * (-0.5 * beta) + log_weights[:, None],
            torch.ones(n, 1, dtype=dt, device=dev),
        ],
        1,
    )
    pts_t = pts.T.contiguous()
    qsq = (queries * queries).sum(1) * (-0.5 * beta)
    out = torch.empty(m, dtype=dt, device=dev)
    buf = torch.empty(min(qc, m), min(nc, n), dtype=dt, device=dev)
    for i in range(0, m, qc):
        q = queries[i : i + qc]
        b = q.shape[0]
        qa = torch.cat([q, torch.ones(b, 1, dtype=dt, device=dev), qsq[i : i + b, None]], 1)
        first = torch.mm(qa, pts_t[:, :nc])
        shift = first.amax(1)
        first -= shift[:, None]
        total = shift + first.exp_().sum(1).log_()  # running log-sum of the row
        for j in range(nc, n, nc):
            qa[:, -1] = qsq[i : i + b] - total
            blk = buf[:b, : min(nc, n - j)]
            torch.mm(qa, pts_t[:, j : j + nc], out=blk)
            s = blk.exp_().sum(1)
            bad = ~torch.isfinite(s)
            if bool(bad.any()):  # terms beyond the running total overflowed: redo those rows exactly
                qb = qa[bad].clone()
                qb[:, -1] = qsq[i : i + b][bad]
                redo = torch.logsumexp(torch.mm(qb, pts_t[:, j : j + nc]), 1)
                s[bad] = 0.0
                total = total + torch.log1p(s)
                total[bad] = torch.logaddexp(total[bad], redo)
            else:
                total = total + torch.log1p(s)
        out[i : i + b] = total
    return out


def _sq_dist(q: Tensor, x: Tensor, xsq: Tensor) -> Tensor:
    """``(b, c)`` squared distances by ``|q|^2 + |x|^2 - 2 q.x``, clamped at 0."""
    sq = torch.addmm(xsq[None, :], q, x.T, beta=1.0, alpha=-2.0)
    sq += (q * q).sum(1, keepdim=True)
    return sq.clamp_min_(0)


def _generic_lse(
    queries: Tensor, points: Tensor, log_weights: Tensor, kernel: Kernel, beta: float, d: int
) -> Tensor:
    qc, nc = _blocks(queries.device)
    n, m = points.shape[0], queries.shape[0]
    xsq = (points * points).sum(1)
    out = torch.empty(m, dtype=queries.dtype, device=queries.device)
    for i in range(0, m, qc):
        q = queries[i : i + qc]
        parts = []
        for j in range(0, n, nc):
            t = kernel.log_profile(_sq_dist(q, points[j : j + nc], xsq[j : j + nc]), d) * beta
            t += log_weights[None, j : j + nc]
            parts.append(torch.logsumexp(t, 1))
        out[i : i + q.shape[0]] = parts[0] if len(parts) == 1 else torch.logsumexp(torch.stack(parts), 0)
    return out


def top_log_terms(
    queries: Tensor, points: Tensor, log_weights: Tensor, kernel: Kernel, k: int, *, d: int | None = None
) -> Tensor:
    """The ``k`` largest log-terms ``log w_i + log_profile(|q - x_i|^2)`` of each query, descending.

    Args:
        queries: ``(m, d)`` whitened queries; points: ``(n, d)`` whitened points; log_weights: ``(n,)``.
        k: how many terms per query (``k <= n``).

    Returns:
        ``(m, k)`` tensor, each row sorted in decreasing order.

    >>> from sigkit.kde.kernels import GAUSSIAN
    >>> x = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    >>> q, lw = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    >>> top_log_terms(q, x, lw, GAUSSIAN, 2)
    tensor([[ 0.0000, -0.5000]], dtype=torch.float64)
    """
    d = points.shape[1] if d is None else d
    qc, nc = _blocks(queries.device)
    n, m = points.shape[0], queries.shape[0]
    k = min(k, n)
    xsq = (points * points).sum(1)
    out = torch.empty(m, k, dtype=queries.dtype, device=queries.device)
    for i in range(0, m, qc):
        q = queries[i : i + qc]
        cands = []
        for j in range(0, n, nc):
            t = kernel.log_profile(_sq_dist(q, points[j : j + nc], xsq[j : j + nc]), d)
            t += log_weights[None, j : j + nc]
            cands.append(torch.topk(t, min(k, t.shape[1]), dim=1).values)
        best = torch.topk(torch.cat(cands, 1), k, dim=1).values
        out[i : i + q.shape[0]] = best
    return out
