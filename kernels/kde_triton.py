"""Fused exact KDE log-sum in Triton: distance, kernel and online log-sum-exp in one pass.

Flash-attention style: a program owns a tile of ``BLOCK_M`` queries and one slice of the points,
walks that slice in tiles of ``BLOCK_N`` points, forms the squared distances in registers, applies the
kernel's log-profile and keeps a running maximum and sum per query (base 2, ``exp2``), so the n x m
matrix never reaches memory. Slices of the points are spread over a second grid axis so that a few
thousand queries still fill the GPU; the per-slice ``(max, sum)`` pairs are merged in torch.

Two ways to form distances (``method``):

* ``"diff"``: ``sum_k (q_k - x_k)^2`` from transposed ``(d, m)``/``(d, n)`` copies, one coordinate per
  step. No cancellation, works in float32 and float64 on any GPU.
* ``"dot"``: ``|q|^2 + |x|^2 - 2 q.x`` with ``tl.dot``: 3xTF32 on tensor cores for float32 (about
  float32 accuracy), IEEE float64 otherwise.

float64 sums use libdevice's exact ``exp2``; ``fast_exp64=True`` swaps in :func:`_exp2_f64` (float32
``exp2`` of the fractional part times an exact power of two, relative error ~2e-7), which measured no
faster on an H100 (bench/kde.py --sweep, docs/benchmarks.md).

Reference: :func:`sigkit.kde.engine.log_kernel_sum` with ``backend="torch"`` computes the same sums.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

__all__ = ["kde_logsumexp", "choose_config"]

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _profile_log2(sq, kparam, beta_log2e, beta, KERNEL: tl.constexpr):
    """beta * log_profile(sq) in base 2 (see sigkit.kde.kernels)."""
    if KERNEL == 0:
        t = sq * (-0.5 * beta_log2e)
    elif KERNEL == 1:
        u = sq / kparam
        t = tl.where(u < 1.0, tl.log2(tl.maximum(1.0 - u, 1e-30)) * beta, float("-inf"))
    else:
        t = tl.sqrt(sq) * (-kparam * beta_log2e)
    return t


@triton.jit
def _exp2_f64(a):
    """2^a for float64 a <= 0 at float32 cost: exact 2^floor(a) (exponent bits) times a float32 2^frac.

    Relative error about 2e-7 (the float32 ``ex2`` on [0, 1)), independent of |a|. Terms below 2^-1022
    are returned as 0. Measured on an H100: no faster than libdevice's exp2 in this kernel, so off by default.
    """
    a_c = tl.maximum(a, -1022.0)
    k = tl.floor(a_c)
    p = tl.exp2((a_c - k).to(tl.float32)).to(tl.float64)
    scale = ((k.to(tl.int64) + 1023) << 52).to(tl.float64, bitcast=True)
    return tl.where(a > -1022.0, p * scale, 0.0)


@triton.jit
def _kde_lse_kernel(
    QT,
    XT,
    Q,
    X,
    LW2,
    PARAMS,
    OUT_M,
    OUT_S,
    m,
    n,
    d,
    splits,
    KERNEL: tl.constexpr,
    USE_DOT: tl.constexpr,
    FAST_EXP64: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    # scalars come in a tensor of the data's dtype: a Python float argument would be specialised as
    # float32, which costs float64 sums their last 8 digits
    kparam = tl.load(PARAMS)
    beta_log2e = tl.load(PARAMS + 1)
    beta = tl.load(PARAMS + 2)
    per = tl.cdiv(tl.cdiv(n, splits), BLOCK_N) * BLOCK_N
    start = pid_s * per
    stop = tl.minimum(start + per, n)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_m = offs_m < m
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32).to(LW2.dtype.element_ty)
    s_i = tl.zeros([BLOCK_M], dtype=LW2.dtype.element_ty)
    if USE_DOT:
        offs_d = tl.arange(0, BLOCK_D)
        q = tl.load(
            Q + offs_m[:, None] * d + offs_d[None, :], mask=mask_m[:, None] & (offs_d[None, :] < d), other=0.0
        )
        qsq = tl.sum(q * q, 1)
    for j in range(start, stop, BLOCK_N):
        offs_n = j + tl.arange(0, BLOCK_N)
        mask_n = offs_n < stop
        if USE_DOT:
            x = tl.load(
                X + offs_n[:, None] * d + offs_d[None, :],
                mask=mask_n[:, None] & (offs_d[None, :] < d),
                other=0.0,
            )
            xsq = tl.sum(x * x, 1)
            if q.dtype == tl.float32:
                qx = tl.dot(q, tl.trans(x), input_precision="tf32x3")
            else:
                qx = tl.dot(q, tl.trans(x), input_precision="ieee")
            sq = tl.maximum(qsq[:, None] + xsq[None, :] - 2.0 * qx, 0.0)
        else:
            sq = tl.zeros([BLOCK_M, BLOCK_N], dtype=LW2.dtype.element_ty)
            for k in range(0, d):
                qk = tl.load(QT + k * m + offs_m, mask=mask_m, other=0.0)
                xk = tl.load(XT + k * n + offs_n, mask=mask_n, other=0.0)
                diff = qk[:, None] - xk[None, :]
                sq += diff * diff
        lw = tl.load(LW2 + offs_n, mask=mask_n, other=float("-inf"))
        t = _profile_log2(sq, kparam, beta_log2e, beta, KERNEL) + lw[None, :]
        t = tl.where(mask_n[None, :], t, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(t, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        if FAST_EXP64:
            p = _exp2_f64(t - m_safe[:, None])
        else:
            p = tl.exp2(t - m_safe[:, None])
        s_i = s_i * tl.exp2(m_i - m_safe) + tl.sum(p, 1)
        m_i = m_new
    tl.store(OUT_M + pid_s * m + offs_m, m_i, mask=mask_m)
    tl.store(OUT_S + pid_s * m + offs_m, s_i, mask=mask_m)


def _num_sms(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4


def choose_config(d: int, dtype: torch.dtype, method: str | None = None) -> dict:
    """Launch defaults, from the H100 sweep recorded in docs/benchmarks.md (KDE section).

    float64: ``tl.dot`` at every ``d`` (faster than the per-coordinate loop: 7.4 vs 9.0 ms at d=2,
    4.6 vs 13 ms at d=16, 22 vs 72 ms at d=128). float32: the per-coordinate loop below ``d = 8`` (the
    3xTF32 dot form loses digits to cancellation there: 1e-4 vs 2e-6), 3xTF32 ``tl.dot`` from ``d = 8``.

    >>> choose_config(16, torch.float32)["method"], choose_config(2, torch.float32)["method"]
    ('dot', 'diff')
    """
    if method is None:
        method = "diff" if (dtype == torch.float32 and d < 8) else "dot"
    if method == "dot":
        wide = dtype == torch.float32 and d <= 64
        return {"method": "dot", "block_m": 64, "block_n": 128 if wide else 64, "num_stages": 2}
    return {
        "method": "diff",
        "block_m": 64,
        "block_n": 64 if dtype == torch.float64 else 128,
        "num_stages": None,
    }


def kde_logsumexp(
    queries: torch.Tensor,
    points: torch.Tensor,
    log_weights: torch.Tensor,
    kernel_code: int,
    kparam: float,
    beta: float = 1.0,
    *,
    method: str = "auto",
    block_m: int | None = None,
    block_n: int | None = None,
    num_warps: int = 4,
    num_stages: int | None = None,
    fast_exp64: bool = False,
) -> torch.Tensor:
    """``log sum_i exp(log_weights[i] + beta * log_profile(|q_j - x_i|^2))`` for each query ``j``.

    Args:
        queries: ``(m, d)`` whitened queries (float32 or float64, CUDA; CPU under TRITON_INTERPRET=1).
        points: ``(n, d)`` whitened points, same dtype/device.
        log_weights: ``(n,)`` finite natural-log weights.
        kernel_code: 0 gaussian, 1 epanechnikov, 2 laplace (:class:`sigkit.kde.kernels.Kernel` ``code``).
        kparam: the kernel's shape constant (``Kernel.param(d)``).
        beta: multiplies the log-profile.
        method: ``"diff"``, ``"dot"`` or ``"auto"`` (see :func:`choose_config`).
        block_m, block_n, num_warps, num_stages: launch configuration (defaults: :func:`choose_config`).
        fast_exp64: float64 only: :func:`_exp2_f64` instead of libdevice's exact exp2 (off by default: it
            measured no faster on an H100, the float64 kernel being bound elsewhere).

    Returns:
        ``(m,)`` natural-log sums in the dtype of ``queries``.
    """
    m, d = queries.shape
    n = points.shape[0]
    dt = queries.dtype
    cfg = choose_config(d, dt)
    if method == "auto":
        method = cfg["method"]
    else:
        cfg = choose_config(d, dt, method)
    use_dot = method == "dot"
    bm = block_m or cfg["block_m"]
    bn = block_n or cfg["block_n"]
    launch = {} if _INTERPRET else {"num_warps": num_warps}
    num_stages = (
        num_stages if num_stages is not None else (cfg["num_stages"] if method == cfg["method"] else None)
    )
    if num_stages is not None and not _INTERPRET:
        launch["num_stages"] = num_stages
    block_d = max(16, triton.next_power_of_2(d))
    q = queries.contiguous()
    x = points.contiguous()
    qt = q if use_dot else q.T.contiguous()
    xt = x if use_dot else x.T.contiguous()
    lw2 = (log_weights.to(dt) * LOG2E).contiguous()
    tiles = triton.cdiv(m, bm)
    splits = max(1, min(triton.cdiv(4 * _num_sms(q.device), tiles), triton.cdiv(n, 8 * bn)))
    out_m = torch.empty(splits, m, dtype=dt, device=q.device)
    out_s = torch.empty(splits, m, dtype=dt, device=q.device)
    params = torch.tensor([float(kparam), float(beta) * LOG2E, float(beta)], dtype=dt, device=q.device)
    _kde_lse_kernel[(tiles, splits)](
        qt,
        xt,
        q,
        x,
        lw2,
        params,
        out_m,
        out_s,
        m,
        n,
        d,
        splits,
        KERNEL=kernel_code,
        USE_DOT=use_dot,
        FAST_EXP64=bool(fast_exp64 and dt == torch.float64),
        BLOCK_M=bm,
        BLOCK_N=bn,
        BLOCK_D=block_d,
        **launch,
    )
    top = out_m.amax(0)
    top_safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    total = (out_s * torch.exp2(out_m - top_safe)).sum(0)
    return (top_safe + torch.log2(total)) * LN2
