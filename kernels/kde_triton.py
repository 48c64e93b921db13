"""Fused exact KDE log-sum in Triton: distance, kernel and log-sum-exp in one pass.

A program owns a tile of ``BLOCK_M`` queries and one slice of the points, walks that slice in tiles
of ``BLOCK_N`` points and forms the squared distances in registers, so the n x m matrix never reaches
memory. Slices of the points are spread over a second grid axis so that a few thousand queries still
fill the GPU (flash-decoding); the per-slice ``(reference, sum)`` pairs are merged in torch.

Three ways to run a slice (``method``):

* ``"fixed"`` (float32; the Gaussian kernel at any ``d``, Laplace below ``d = 8``; the default there):
  the first tile of the slice gives each query a reference ``c = max(t) + 64`` (base-2 log units);
  every later term is ``exp2(t - c)`` added into a ``BLOCK_M x BLOCK_N`` register accumulator, reduced
  once at the end. No running maximum, no rescaling, no per-tile reduction, no masks (padded points
  contribute exactly 0) and ``ex2.approx.ftz`` as the exponential. Below ``d = 8`` the distances are
  formed coordinate by coordinate (``D`` a compile-time constant, no cancellation); from ``d = 8`` the
  term is ``(-a|q|^2 - c) + (-a|x|^2 + log2 w) + 2a q.x`` with a 3xTF32 ``tl.dot``. A term can exceed its
  reference by up to ``2^127`` before it overflows and the largest term of the first tile is ``2^-64``
  of it, so terms flushed to zero are below ``2^-62`` of the slice's largest one. A query whose slice
  sum overflows (a point much nearer than any in the first tile: far tail queries, tiny bandwidths) is
  recomputed with the online kernel, so no term is dropped beyond float32 rounding either way.
* ``"diff"``: online log-sum-exp (running maximum, rescale) over ``sum_k (q_k - x_k)^2`` formed from
  transposed ``(d, m)``/``(d, n)`` copies, one coordinate per step. No cancellation; float32 and float64.
* ``"dot"``: online log-sum-exp over ``|q|^2 + |x|^2 - 2 q.x`` with ``tl.dot``: 3xTF32 on tensor cores
  for float32 (about float32 accuracy), IEEE float64 otherwise.

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

REF_MARGIN = 64.0  # "fixed": reference = first tile's row maximum + this (base 2)
PAD_COORD = 1.0e18  # "fixed": padded points sit here; their terms are exactly 0

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
        q = tl.load(Q + offs_m[:, None] * d + offs_d[None, :], mask=mask_m[:, None] & (offs_d[None, :] < d), other=0.0)
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


@triton.jit
def _ex2(a, ASM_EX2: tl.constexpr):
    """2^a in float32: one ``ex2.approx.ftz.f32`` (a single MUFU op; results below 2^-126 are 0)."""
    if ASM_EX2:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=f,f", [a], dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp2(a)


@triton.jit
def _coord_sq(sq, q, XT, offs_n, n_pad, K: tl.constexpr, D: tl.constexpr):
    """``sq + (q - x_K)^2`` for coordinate ``K`` (unchanged when ``K >= D``)."""
    if K < D:
        xk = tl.load(XT + K * n_pad + offs_n)
        diff = q[:, None] - xk[None, :]
        sq += diff * diff
    return sq


@triton.jit
def _load_q(QT, offs_m, m_pad, K: tl.constexpr, D: tl.constexpr):
    if K < D:
        return tl.load(QT + K * m_pad + offs_m)
    else:
        return tl.zeros([offs_m.shape[0]], dtype=tl.float32)


@triton.jit
def _fixed_terms(
    q0, q1, q2, q3, q4, q5, q6, XT, LW2, offs_n, n_pad, neg_a, D: tl.constexpr, KERNEL: tl.constexpr, HAS_W: tl.constexpr
):
    """Base-2 log-terms ``t`` of a ``(BLOCK_M, BLOCK_N)`` tile (Gaussian: ``-a |q-x|^2``; Laplace:
    ``-a |q-x|``; plus ``log2 w`` when ``HAS_W``)."""
    sq = _coord_sq(tl.zeros([q0.shape[0], offs_n.shape[0]], dtype=tl.float32), q0, XT, offs_n, n_pad, 0, D)
    sq = _coord_sq(sq, q1, XT, offs_n, n_pad, 1, D)
    sq = _coord_sq(sq, q2, XT, offs_n, n_pad, 2, D)
    sq = _coord_sq(sq, q3, XT, offs_n, n_pad, 3, D)
    sq = _coord_sq(sq, q4, XT, offs_n, n_pad, 4, D)
    sq = _coord_sq(sq, q5, XT, offs_n, n_pad, 5, D)
    sq = _coord_sq(sq, q6, XT, offs_n, n_pad, 6, D)
    if KERNEL == 0:
        t = sq * neg_a
    else:
        t = tl.sqrt(sq) * neg_a
    if HAS_W:
        t += tl.load(LW2 + offs_n)[None, :]
    return t


@triton.jit
def _kde_fixed_kernel(
    QT,
    XT,
    LW2,
    OUT_C,
    OUT_S,
    neg_a,
    m_pad,
    n_pad,
    per,
    D: tl.constexpr,
    KERNEL: tl.constexpr,
    HAS_W: tl.constexpr,
    ASM_EX2: tl.constexpr,
    MARGIN: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """float32, d < 8, Gaussian (KERNEL 0) or Laplace (2): one reference per query from the slice's
    first tile, then plain ``exp2`` accumulation (module docstring, ``"fixed"``). Queries ``QT`` are
    ``(D, m_pad)``, points ``XT`` ``(D, n_pad)`` padded with :data:`PAD_COORD`; ``per`` points a slice."""
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    q0 = _load_q(QT, offs_m, m_pad, 0, D)
    q1 = _load_q(QT, offs_m, m_pad, 1, D)
    q2 = _load_q(QT, offs_m, m_pad, 2, D)
    q3 = _load_q(QT, offs_m, m_pad, 3, D)
    q4 = _load_q(QT, offs_m, m_pad, 4, D)
    q5 = _load_q(QT, offs_m, m_pad, 5, D)
    q6 = _load_q(QT, offs_m, m_pad, 6, D)
    start = pid_s * per
    offs_n = start + tl.arange(0, BLOCK_N)
    t = _fixed_terms(q0, q1, q2, q3, q4, q5, q6, XT, LW2, offs_n, n_pad, neg_a, D, KERNEL, HAS_W)
    # the first tile always holds a real point, so its row maximum is finite
    c = tl.max(t, 1) + MARGIN
    acc = _ex2(t - c[:, None], ASM_EX2)
    for j in range(start + BLOCK_N, start + per, BLOCK_N):
        offs_n = j + tl.arange(0, BLOCK_N)
        t = _fixed_terms(q0, q1, q2, q3, q4, q5, q6, XT, LW2, offs_n, n_pad, neg_a, D, KERNEL, HAS_W)
        acc += _ex2(t - c[:, None], ASM_EX2)
    tl.store(OUT_C + pid_s * m_pad + offs_m, c)
    tl.store(OUT_S + pid_s * m_pad + offs_m, tl.sum(acc, 1))


@triton.jit
def _dot_args(q, rowterm, X, COL, offs_n, two_a, BLOCK_D: tl.constexpr):
    """``rowterm[j] + COL[i] + 2a q_j.x_i`` for a tile: the Gaussian base-2 log-term (minus the reference
    when ``rowterm`` holds it), 3xTF32 ``tl.dot``; ``COL[i] = -a |x_i|^2 + log2 w_i`` (``-inf`` for padding)."""
    offs_d = tl.arange(0, BLOCK_D)
    x = tl.load(X + offs_n[:, None] * BLOCK_D + offs_d[None, :])
    col = tl.load(COL + offs_n)
    qx = tl.dot(q, tl.trans(x), input_precision="tf32x3")
    return (rowterm[:, None] + col[None, :]) + two_a * qx


@triton.jit
def _kde_fixed_dot_kernel(
    Q,
    X,
    COL,
    OUT_C,
    OUT_S,
    neg_a,
    per,
    m_pad,
    ASM_EX2: tl.constexpr,
    MARGIN: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """float32 Gaussian, ``d >= 8``: ``"fixed"`` with distances from ``|q|^2 + |x|^2 - 2 q.x`` (3xTF32).
    ``Q`` is ``(m_pad, BLOCK_D)`` and ``X`` ``(n_pad, BLOCK_D)``, zero-padded; ``COL`` see :func:`_dot_args`."""
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    q = tl.load(Q + offs_m[:, None] * BLOCK_D + offs_d[None, :])
    qterm = tl.sum(q * q, 1) * neg_a
    two_a = -2.0 * neg_a
    start = pid_s * per
    t = _dot_args(q, qterm, X, COL, start + tl.arange(0, BLOCK_N), two_a, BLOCK_D)
    c = tl.max(t, 1) + MARGIN  # the first tile always holds a real point
    acc = _ex2(t - c[:, None], ASM_EX2)
    rowterm = qterm - c
    for j in range(start + BLOCK_N, start + per, BLOCK_N):
        acc += _ex2(_dot_args(q, rowterm, X, COL, j + tl.arange(0, BLOCK_N), two_a, BLOCK_D), ASM_EX2)
    tl.store(OUT_C + pid_s * m_pad + offs_m, c)
    tl.store(OUT_S + pid_s * m_pad + offs_m, tl.sum(acc, 1))


def _num_sms(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4


def choose_config(d: int, dtype: torch.dtype, method: str | None = None, kernel_code: int = 0) -> dict:
    """Launch defaults (docs/benchmarks.md, KDE section, has the sweeps behind them).

    float32: ``"fixed"`` for the Gaussian kernel at every ``d`` and for Laplace below ``d = 8``; else the
    online kernels, ``"diff"`` below ``d = 8`` (the dot form cancels there: 1e-4 vs 2e-6) and 3xTF32
    ``"dot"`` from ``d = 8``. float64: IEEE ``tl.dot`` at every ``d`` (faster than the per-coordinate loop
    on an H100: 7.4 vs 9.0 ms at d=2, 4.6 vs 13 ms at d=16, 22 vs 72 ms at d=128).

    >>> choose_config(16, torch.float32)["method"], choose_config(16, torch.float32, kernel_code=2)["method"]
    ('fixed', 'dot')
    >>> choose_config(2, torch.float32, kernel_code=1)["method"], choose_config(2, torch.float64)["method"]
    ('diff', 'dot')
    """
    fixed_ok = dtype == torch.float32 and (kernel_code == 0 or (kernel_code == 2 and d < 8))
    if method is None:
        if fixed_ok:
            method = "fixed"
        else:
            method = "diff" if (dtype == torch.float32 and d < 8) else "dot"
    if method == "fixed":
        if not fixed_ok:
            raise ValueError("method='fixed' is for float32 with the Gaussian kernel, or Laplace below d = 8")
        if d < 8:
            return {"method": "fixed", "block_m": 16, "block_n": 512, "num_warps": 4, "num_stages": None, "waves": 16}
        # H200 sweep (docs/benchmarks.md): d = 16: 64x128 with 4 warps 1.10 ms (8 warps 2.22, 128x128/8 1.21);
        # d = 128: 128x64 with 8 warps 3.47 ms (64x64/4 3.85, 64x64/8 6.23; the online "dot" 6.97)
        if d <= 64:
            return {"method": "fixed", "block_m": 64, "block_n": 128, "num_warps": 4, "num_stages": 2, "waves": 16}
        return {"method": "fixed", "block_m": 128, "block_n": 64, "num_warps": 8, "num_stages": 2, "waves": 16}
    if method == "dot":
        wide = dtype == torch.float32 and d <= 64
        return {"method": "dot", "block_m": 64, "block_n": 128 if wide else 64, "num_warps": 4, "num_stages": 2}
    return {
        "method": "diff",
        "block_m": 64,
        "block_n": 64 if dtype == torch.float64 else 128,
        "num_warps": 4,
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
    uniform: bool = False,
    method: str = "auto",
    block_m: int | None = None,
    block_n: int | None = None,
    num_warps: int | None = None,
    num_stages: int | None = None,
    fast_exp64: bool = False,
    asm_ex2: bool = True,
    waves: int | None = None,
) -> torch.Tensor:
    """``log sum_i exp(log_weights[i] + beta * log_profile(|q_j - x_i|^2))`` for each query ``j``.

    Args:
        queries: ``(m, d)`` whitened queries (float32 or float64, CUDA; CPU under TRITON_INTERPRET=1).
        points: ``(n, d)`` whitened points, same dtype/device.
        log_weights: ``(n,)`` finite natural-log weights.
        kernel_code: 0 gaussian, 1 epanechnikov, 2 laplace (:class:`sigkit.kde.kernels.Kernel` ``code``).
        kparam: the kernel's shape constant (``Kernel.param(d)``).
        beta: multiplies the log-profile.
        uniform: all ``log_weights`` are equal (``"fixed"`` then adds ``log_weights[0]`` once at the end
            instead of one weight per term).
        method: ``"fixed"``, ``"diff"``, ``"dot"`` or ``"auto"`` (see :func:`choose_config`).
        block_m, block_n, num_warps, num_stages: launch configuration (defaults: :func:`choose_config`).
        fast_exp64: float64 only: :func:`_exp2_f64` instead of libdevice's exact exp2 (off by default: it
            measured no faster on an H100, the float64 kernel being bound elsewhere).
        asm_ex2: ``"fixed"`` only: ``ex2.approx.ftz.f32`` by inline PTX (else ``tl.exp2``; always
            ``tl.exp2`` under the interpreter).
        waves: ``"fixed"`` only: the points are cut into slices so that there are about ``waves``
            programs per multiprocessor (more: shorter programs, less imbalance at the end).

    Returns:
        ``(m,)`` natural-log sums in the dtype of ``queries``.
    """
    m, d = queries.shape
    cfg = choose_config(d, queries.dtype, None if method == "auto" else method, kernel_code)
    launch = {
        "block_m": block_m or cfg["block_m"],
        "block_n": block_n or cfg["block_n"],
        "num_warps": num_warps or cfg["num_warps"],
        "num_stages": num_stages if num_stages is not None else cfg["num_stages"],
    }
    q = queries.contiguous()
    x = points.contiguous()
    if cfg["method"] == "fixed":
        return _fixed(q, x, log_weights, kernel_code, kparam, beta, uniform, asm_ex2, waves or cfg["waves"], **launch)
    return _online(q, x, log_weights, kernel_code, kparam, beta, cfg["method"] == "dot", fast_exp64, **launch)


def _launch_opts(num_warps: int, num_stages: int | None) -> dict:
    if _INTERPRET:
        return {}
    opts = {"num_warps": num_warps}
    if num_stages is not None:
        opts["num_stages"] = num_stages
    return opts


def _fixed(q, x, log_weights, kernel_code, kparam, beta, uniform, asm_ex2, waves, *, block_m, block_n, num_warps, num_stages):
    """``"fixed"`` launch: pad, run, merge the slices; overflowed queries go to :func:`_online`."""
    m, d = q.shape
    n = x.shape[0]
    dev, dt = q.device, q.dtype
    m_tiles = triton.cdiv(m, block_m)
    n_tiles = triton.cdiv(n, block_n)
    # about `waves` programs per SM; every slice starts with a real point (its first tile sets the reference)
    splits = max(1, min(triton.cdiv(waves * _num_sms(dev), m_tiles), n_tiles))
    per_tiles = triton.cdiv(n_tiles, splits)
    splits = triton.cdiv(n_tiles, per_tiles)
    m_pad, n_pad = m_tiles * block_m, splits * per_tiles * block_n
    # Gaussian log2-term -a sq with a = beta log2(e) / 2; Laplace -a |q - x| with a = beta log2(e) kparam
    neg_a = -float(beta) * LOG2E * (0.5 if kernel_code == 0 else float(kparam))
    out_c = torch.empty(splits, m_pad, dtype=dt, device=dev)
    out_s = torch.empty(splits, m_pad, dtype=dt, device=dev)
    common = dict(ASM_EX2=bool(asm_ex2 and not _INTERPRET), MARGIN=REF_MARGIN, BLOCK_M=block_m, BLOCK_N=block_n)
    if d < 8:
        qt = torch.zeros(d, m_pad, dtype=dt, device=dev)
        qt[:, :m] = q.T
        xt = torch.full((d, n_pad), PAD_COORD, dtype=dt, device=dev)
        xt[:, :n] = x.T
        lw2 = xt  # unused when uniform
        if not uniform:
            lw2 = torch.zeros(n_pad, dtype=dt, device=dev)
            lw2[:n] = log_weights.to(dt) * LOG2E
        _kde_fixed_kernel[(m_tiles, splits)](
            qt,
            xt,
            lw2,
            out_c,
            out_s,
            neg_a,
            m_pad,
            n_pad,
            per_tiles * block_n,
            D=d,
            KERNEL=kernel_code,
            HAS_W=not uniform,
            **common,
            **_launch_opts(num_warps, num_stages),
        )
    else:
        bd = max(16, triton.next_power_of_2(d))
        qp, xp = _zero_padded(q, m_pad, bd), _zero_padded(x, n_pad, bd)
        col = torch.full((n_pad,), float("-inf"), dtype=dt, device=dev)
        col[:n] = (x * x).sum(1) * neg_a
        if not uniform:
            col[:n] += log_weights.to(dt) * LOG2E
        _kde_fixed_dot_kernel[(m_tiles, splits)](
            qp,
            xp,
            col,
            out_c,
            out_s,
            neg_a,
            per_tiles * block_n,
            m_pad,
            BLOCK_D=bd,
            **common,
            **_launch_opts(num_warps, num_stages),
        )
    c, s = out_c[:, :m], out_s[:, :m]
    out = torch.logsumexp((c + torch.log2(s)) * LN2, 0)
    if uniform:
        out += log_weights[0].to(dt)
    bad = ~torch.isfinite(s).all(0)
    if bool(bad.any()):  # a term overflowed its reference: redo those queries with the online kernel
        idx = torch.nonzero(bad).flatten()
        cfg = choose_config(d, dt, "diff" if d < 8 else "dot")
        out[idx] = _online(
            q[idx],
            x,
            log_weights,
            kernel_code,
            kparam,
            beta,
            d >= 8,
            False,
            block_m=cfg["block_m"],
            block_n=cfg["block_n"],
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
        )
    return out


def _zero_padded(a: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``a`` in the top-left corner of a ``(rows, cols)`` zero matrix (only the padding is zero-filled)."""
    out = torch.empty(rows, cols, dtype=a.dtype, device=a.device)
    r, c = a.shape
    out[:r, :c] = a
    out[r:] = 0
    if c < cols:
        out[:r, c:] = 0
    return out


def _online(q, x, log_weights, kernel_code, kparam, beta, use_dot, fast_exp64, *, block_m, block_n, num_warps, num_stages):
    """``"diff"``/``"dot"`` launch (online log-sum-exp) and the merge of the slices."""
    m, d = q.shape
    n = x.shape[0]
    dt = q.dtype
    block_d = max(16, triton.next_power_of_2(d))
    qt = q if use_dot else q.T.contiguous()
    xt = x if use_dot else x.T.contiguous()
    lw2 = (log_weights.to(dt) * LOG2E).contiguous()
    tiles = triton.cdiv(m, block_m)
    splits = max(1, min(triton.cdiv(4 * _num_sms(q.device), tiles), triton.cdiv(n, 8 * block_n)))
    out_m = torch.empty(splits, m, dtype=dt, device=q.device)
    out_s = torch.empty(splits, m, dtype=dt, device=q.device)
    params = _params(float(kparam), float(beta), dt, q.device)
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
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_D=block_d,
        **_launch_opts(num_warps, num_stages),
    )
    # a slice with no support has (m, s) = (-inf, 0): its log2-sum is -inf and drops out
    return torch.logsumexp((out_m + torch.log2(out_s)) * LN2, 0)


_PARAMS: dict = {}


def _params(kparam: float, beta: float, dt: torch.dtype, device: torch.device) -> torch.Tensor:
    """The online kernel's scalars as a device tensor of the data's dtype (a Python float argument would
    be specialised as float32, which costs float64 sums their last 8 digits); cached, so that a call
    makes no host-to-device copy."""
    key = (kparam, beta, dt, device)
    if key not in _PARAMS:
        if len(_PARAMS) > 64:
            _PARAMS.clear()
        _PARAMS[key] = torch.tensor([kparam, beta * LOG2E, beta], dtype=dt, device=device)
    return _PARAMS[key]
