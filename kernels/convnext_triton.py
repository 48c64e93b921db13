"""Fused ConvNeXt prelude for AP-BWE's two streams: residual additions, exchange, depthwise conv, LayerNorm.

What :func:`sigkit.audio.apbwe.fast.layer` does before its matrix products, for both streams at once, in
one launch over time-major streams ``(B, N, C)``:

1. the previous layer's residual additions ``a_mag = x_mag + g_mag * y_mag``, ``a_pha = x_pha + g_pha * y_pha``
   (``x`` fp32, ``y`` the previous branch outputs in bf16 or fp32, ``g`` the layer scales ``(C,)``);
2. the streams' exchange ``mag = a_mag + a_pha``, ``pha = a_pha + mag`` (written out, fp32: the next layer's
   residual streams);
3. per stream the depthwise convolution (kernel ``k`` odd, 7 in AP-BWE; zero padding at the clip's ends,
   bias) and the LayerNorm over the ``C`` channels (affine, ``eps``), written in ``out_dtype`` (bf16: the
   first pointwise product's input).

Every program owns consecutive frames of one item and all ``C`` channels (the LayerNorm needs whole rows);
the convolution's ``k - 1`` halo rows are not staged through memory but re-read and their residual additions
and exchange recomputed (cheap). Two forms of the kernel:

- ``"tile"`` (any odd ``k``): a ``(BLOCK_T, C)`` tile of frames; for each tap the program reloads the
  shifted rows (the re-reads hit L1/L2: ``k`` loads of every input element through the caches);
- ``"rows"`` (``k = 7``): a window sliding over ``BLOCK_T`` frames, one row per step; the last 6 exchanged
  rows of each stream stay in registers, so every input row is loaded once (plus a 6-row halo per program),
  with the next row's loads issued before the current row is computed.

Device memory traffic is the minimum either way: per channel and frame, 4 + 4 + 2 + 2 bytes read (bf16
``y``) and 4 + 4 + 2 + 2 bytes written, against the Inductor path's separate residual/exchange pass,
depthwise-conv/LayerNorm reduction and normalise-and-cast pass.

Inference only: no autograd (inputs that require grad are refused). The Triton kernel runs on CUDA, and on
the CPU under ``TRITON_INTERPRET=1`` (tests); elsewhere use the pure-torch path
(:func:`sigkit.audio.apbwe.fast.prelude`), which computes the same function.

The launch shape (form, frames per program, warps) is timed once per (channels, kernel size, dtypes, size
class, device) on the first call outside a CUDA-graph capture, among the :data:`CONFIGS` of the forms in
:data:`AUTO_FORMS` (:data:`TUNING` keeps the times).

Measured (H200, 2026-11-27, ``bench/apbwe.py --prelude-check``; docs/benchmarks.md): at AP-BWE's 48 kHz
batch 16 x 10 s, ``(16, 6001, 512)`` bf16, the tile form takes 0.68 ms per layer (8 frames, 4 warps) against
0.73 ms for the compiled torch prelude; its outputs matched the torch path on the GPU test shapes. The rows
form's first GPU build took 0.34 ms (3.5 TB/s of the minimum bytes) but did not carry its history through
the loop (wrong outputs, fixed since). The fixed build passed the kernel tests natively on an H200 and took
0.47 ms per layer (64 frames, 4 warps; 2.5 TB/s of the minimum bytes) against 0.73 ms for the compiled
torch prelude, with outputs equal to the torch path's (fp32 streams bit for bit, bf16 rows within one
rounding); both forms are in :data:`AUTO_FORMS`.

Usage (CUDA tensors; ``w`` = depthwise weight ``(C, 7)``, its bias, LayerNorm weight and bias per stream)::

    x_mag, x_pha, h_mag, h_pha = convnext_prelude(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, *w_mag, *w_pha)
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["convnext_prelude", "CONFIGS", "TUNING"]

# (form, frames per program, warps) timed on the first CUDA call per shape class, for the forms in AUTO_FORMS.
# "tile": 16 or 32 fp32 elements of each (BLOCK_T, C) tile per thread at C = 512 (H200, 16 x 6001 x 512, bf16:
# 4/4 0.99 ms, 8/8 1.02, 8/4 0.68; 16/8 spilled, 10.9 ms, dropped); "rows": 4 or 2 fp32 per thread and row
# (ptxas for sm_90, Triton 3.8: 202 registers with 4 warps, 108 with 8, no spills; 2 warps spill)
CONFIGS: tuple[tuple[str, int, int], ...] = (
    ("tile", 4, 4), ("tile", 8, 8), ("tile", 8, 4),
    ("rows", 16, 4), ("rows", 32, 4), ("rows", 64, 4), ("rows", 32, 8), ("rows", 64, 8),
)
FORMS = ("tile", "rows")
# Forms the automatic choice may pick: those whose compiled kernels were checked on a GPU (both, H200 2026-11-27:
# the rows form's fixed build passed tests/kernels/test_convnext_triton.py --device cuda; its first build had not
# carried its history rows through the loop, which a compile-only test now guards).
AUTO_FORMS: tuple[str, ...] = ("tile", "rows")
DEFAULT_CONFIG = ("tile", 8, 4)
# (C, k, y dtype, out dtype, size class, device) -> {"config": (form, block_t, warps), "ms": {config: median ms}};
# "errors" -> {config: message} for configurations that failed to compile or launch
TUNING: dict[tuple, dict] = {}


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _exchanged(XM, XP, YM, YP, gm, gp, offs, mask):
    """Residual additions and exchange of one ``(BLOCK_T, BLOCK_C)`` tile (zeros where masked)."""
    am = tl.load(XM + offs, mask=mask, other=0.0) + gm * tl.load(YM + offs, mask=mask, other=0.0).to(tl.float32)
    ap = tl.load(XP + offs, mask=mask, other=0.0) + gp * tl.load(YP + offs, mask=mask, other=0.0).to(tl.float32)
    m = am + ap
    return m, ap + m


@triton.jit
def _layer_norm(z, cmask, lw, lb, C, eps):
    """LayerNorm of each row of ``z`` over its first ``C`` columns (two passes, in registers); ``cmask``
    ``(1, BLOCK_C)``: the real columns."""
    mean = tl.sum(z, axis=1) / C
    d = tl.where(cmask, z - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(d * d, axis=1) / C + eps)
    return d * rstd[:, None] * lw + lb


@triton.jit
def _to_out(z, OUT, RTNE_BY_HAND: tl.constexpr):
    """``z`` (fp32) in ``OUT``'s element type, rounded to nearest even. The GPU's conversion does that; Triton's
    interpreter truncates fp32 -> bf16, so there the rounding is done on the bits first (then exact)."""
    if RTNE_BY_HAND and OUT.dtype.element_ty == tl.bfloat16:
        bits = z.to(tl.int32, bitcast=True)
        bits = (bits + (0x7FFF + ((bits >> 16) & 1))) & -65536
        z = bits.to(tl.float32, bitcast=True)
    return z.to(OUT.dtype.element_ty)


@triton.jit
def _prelude_kernel(
    XM, XP, YM, YP, GM, GP,  # streams (B, N, C) fp32, branch outputs (B, N, C), layer scales (C,)
    WM, BM, LWM, LBM,  # magnitude stream: depthwise weight (C, K), bias (C,), LayerNorm weight, bias (C,)
    WP, BP, LWP, LBP,  # phase stream: the same
    OXM, OXP, HM, HP,  # outputs: new streams (B, N, C) fp32, normalised (B, N, C) out dtype
    N, C, eps,
    K: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, RTNE_BY_HAND: tl.constexpr,
):
    pid_t = tl.program_id(0)
    pid_b = tl.program_id(1)
    t = pid_t * BLOCK_T + tl.arange(0, BLOCK_T)
    c = tl.arange(0, BLOCK_C)
    cmask = c < C
    base = pid_b.to(tl.int64) * N * C
    gm = tl.load(GM + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    gp = tl.load(GP + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    zm = tl.zeros((BLOCK_T, BLOCK_C), tl.float32) + tl.load(BM + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    zp = tl.zeros((BLOCK_T, BLOCK_C), tl.float32) + tl.load(BP + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    for j in tl.static_range(K):
        s = t + (j - K // 2)  # source frame of tap j
        mask = ((s >= 0) & (s < N))[:, None] & cmask[None, :]
        offs = base + s.to(tl.int64)[:, None] * C + c[None, :]
        m, p = _exchanged(XM, XP, YM, YP, gm, gp, offs, mask)
        zm += m * tl.load(WM + c * K + j, mask=cmask, other=0.0).to(tl.float32)[None, :]
        zp += p * tl.load(WP + c * K + j, mask=cmask, other=0.0).to(tl.float32)[None, :]
        if j == K // 2:  # the program's own frames: the new residual streams
            tl.store(OXM + offs, m, mask=mask)
            tl.store(OXP + offs, p, mask=mask)
    out_mask = (t < N)[:, None] & cmask[None, :]
    out_offs = base + t.to(tl.int64)[:, None] * C + c[None, :]
    lwm = tl.load(LWM + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    lbm = tl.load(LBM + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    hm = _layer_norm(zm, cmask[None, :], lwm, lbm, C, eps)
    tl.store(HM + out_offs, _to_out(hm, HM, RTNE_BY_HAND), mask=out_mask)
    lwp = tl.load(LWP + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    lbp = tl.load(LBP + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    hp = _layer_norm(zp, cmask[None, :], lwp, lbp, C, eps)
    tl.store(HP + out_offs, _to_out(hp, HP, RTNE_BY_HAND), mask=out_mask)


@triton.jit
def _prelude_rows_kernel(
    XM, XP, YM, YP, GM, GP, WM, BM, LWM, LBM, WP, BP, LWP, LBP, OXM, OXP, HM, HP, N, C, eps,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, RTNE_BY_HAND: tl.constexpr,
):
    """``k = 7``: frames ``[t0, t0 + BLOCK_T)`` of item ``pid_b``, one row per step; step ``i`` loads frame
    ``s = t0 - 3 + i`` and finishes frame ``s - 3`` (rows ``s - 6 .. s`` in ``m0 .. m6`` / ``p0 .. p6``)."""
    t0 = tl.program_id(0) * BLOCK_T
    base = tl.program_id(1).to(tl.int64) * N * C
    c = tl.arange(0, BLOCK_C)[None, :]
    cmask = c < C
    gm = tl.load(GM + c, mask=cmask, other=0.0).to(tl.float32)
    gp = tl.load(GP + c, mask=cmask, other=0.0).to(tl.float32)
    wm0, wm1, wm2, wm3, wm4, wm5, wm6 = _taps7(WM, c, cmask)
    wp0, wp1, wp2, wp3, wp4, wp5, wp6 = _taps7(WP, c, cmask)
    bm = tl.load(BM + c, mask=cmask, other=0.0).to(tl.float32)
    bp = tl.load(BP + c, mask=cmask, other=0.0).to(tl.float32)
    lwm = tl.load(LWM + c, mask=cmask, other=0.0).to(tl.float32)
    lbm = tl.load(LBM + c, mask=cmask, other=0.0).to(tl.float32)
    lwp = tl.load(LWP + c, mask=cmask, other=0.0).to(tl.float32)
    lbp = tl.load(LBP + c, mask=cmask, other=0.0).to(tl.float32)
    # one tl.zeros per row: Triton finds a loop's carried variables by comparing each name's value before and
    # after a dry run of the body, so rows that all started as one tensor would not be carried after the shift
    m0, m1, m2 = tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32)
    m3, m4, m5 = tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32)
    p0, p1, p2 = tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32)
    p3, p4, p5 = tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32), tl.zeros((1, BLOCK_C), tl.float32)
    s = t0 - 3
    mask = cmask & (s >= 0) & (s < N)
    offs = base + s.to(tl.int64) * C + c
    xm = tl.load(XM + offs, mask=mask, other=0.0)
    xp = tl.load(XP + offs, mask=mask, other=0.0)
    ym = tl.load(YM + offs, mask=mask, other=0.0)
    yp = tl.load(YP + offs, mask=mask, other=0.0)
    for i in range(BLOCK_T + 6):
        s = t0 - 3 + i
        nmask = cmask & (s + 1 >= 0) & (s + 1 < N)  # the next frame's loads go out before this one is used
        noffs = base + (s + 1).to(tl.int64) * C + c
        nxm = tl.load(XM + noffs, mask=nmask, other=0.0)
        nxp = tl.load(XP + noffs, mask=nmask, other=0.0)
        nym = tl.load(YM + noffs, mask=nmask, other=0.0)
        nyp = tl.load(YP + noffs, mask=nmask, other=0.0)
        ap = xp + gp * yp.to(tl.float32)
        m6 = (xm + gm * ym.to(tl.float32)) + ap
        p6 = ap + m6
        zm = bm + m0 * wm0
        zm = zm + m1 * wm1
        zm = zm + m2 * wm2
        zm = zm + m3 * wm3
        zm = zm + m4 * wm4
        zm = zm + m5 * wm5
        zm = zm + m6 * wm6
        zp = bp + p0 * wp0
        zp = zp + p1 * wp1
        zp = zp + p2 * wp2
        zp = zp + p3 * wp3
        zp = zp + p4 * wp4
        zp = zp + p5 * wp5
        zp = zp + p6 * wp6
        t = s - 3
        omask = cmask & (t >= t0) & (t < N)
        ooffs = base + t.to(tl.int64) * C + c
        tl.store(OXM + ooffs, m3, mask=omask)
        tl.store(OXP + ooffs, p3, mask=omask)
        tl.store(HM + ooffs, _to_out(_layer_norm(zm, cmask, lwm, lbm, C, eps), HM, RTNE_BY_HAND), mask=omask)
        tl.store(HP + ooffs, _to_out(_layer_norm(zp, cmask, lwp, lbp, C, eps), HP, RTNE_BY_HAND), mask=omask)
        m0, m1, m2, m3, m4, m5 = m1, m2, m3, m4, m5, m6
        p0, p1, p2, p3, p4, p5 = p1, p2, p3, p4, p5, p6
        xm, xp, ym, yp = nxm, nxp, nym, nyp


@triton.jit
def _taps7(W, c, cmask):
    """The 7 taps of a ``(C, 7)`` depthwise weight as ``(1, BLOCK_C)`` rows."""
    w = W + c * 7
    return (tl.load(w, mask=cmask, other=0.0).to(tl.float32), tl.load(w + 1, mask=cmask, other=0.0).to(tl.float32),
            tl.load(w + 2, mask=cmask, other=0.0).to(tl.float32), tl.load(w + 3, mask=cmask, other=0.0).to(tl.float32),
            tl.load(w + 4, mask=cmask, other=0.0).to(tl.float32), tl.load(w + 5, mask=cmask, other=0.0).to(tl.float32),
            tl.load(w + 6, mask=cmask, other=0.0).to(tl.float32))


def _launch(args: list[Tensor], outs: list[Tensor], eps: float, config: tuple[str, int, int]) -> None:
    b, n, c = args[0].shape
    k = args[6].shape[1]
    form, block_t, warps = config
    if form not in FORMS:
        raise ValueError(f"convnext_prelude: form must be one of {FORMS}, got {form!r}")
    opts = {} if _interpret() else {"num_warps": warps}
    common = dict(BLOCK_T=block_t, BLOCK_C=triton.next_power_of_2(c), RTNE_BY_HAND=_interpret(), **opts)
    grid = (triton.cdiv(n, block_t), b)
    if form == "rows" and k == 7:
        _prelude_rows_kernel[grid](*args, *outs, n, c, eps, **common)
    else:
        _prelude_kernel[grid](*args, *outs, n, c, eps, K=k, **common)


def _tune(key: tuple, args: list[Tensor], outs: list[Tensor], eps: float) -> tuple[str, int, int]:
    """Median time of every :data:`CONFIGS` entry on this call's tensors; the fastest is kept for ``key``."""
    times = {}
    k, bc = args[6].shape[1], triton.next_power_of_2(args[0].shape[2])
    for cfg in CONFIGS:
        form, block_t, warps = cfg
        if form not in AUTO_FORMS or (form == "rows" and k != 7) or (form == "tile" and block_t * bc > 64 * 32 * warps):
            continue
        try:
            _launch(args, outs, eps, cfg)  # compile + warm
        except Exception as err:  # noqa: BLE001 - a shape this GPU cannot run (resources) is left out
            TUNING.setdefault("errors", {})[cfg] = f"{type(err).__name__}: {str(err)[:200]}"
            continue
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(10)]
        for e0, e1 in events:
            e0.record()
            _launch(args, outs, eps, cfg)
            e1.record()
        torch.cuda.synchronize()
        ms = sorted(e0.elapsed_time(e1) for e0, e1 in events)
        times[cfg] = ms[len(ms) // 2]
    if not times:
        raise RuntimeError(f"convnext_prelude: no launch configuration ran: {TUNING.get('errors')}")
    best = min(times, key=times.get)
    TUNING[key] = {"config": best, "ms": times}
    return best


def _config(args: list[Tensor], outs: list[Tensor], eps: float) -> tuple[str, int, int]:
    x, y, h = args[0], args[2], outs[2]
    if not x.is_cuda:
        return DEFAULT_CONFIG
    b, n, c = x.shape
    key = (c, args[6].shape[1], y.dtype, h.dtype, (b * n).bit_length(), x.device.index)
    if key in TUNING:
        return TUNING[key]["config"]
    if torch.cuda.is_current_stream_capturing():  # no timing inside a capture: untuned default
        return DEFAULT_CONFIG
    return _tune(key, args, outs, eps)


def _check(x_mag: Tensor, x_pha: Tensor, y_mag: Tensor, y_pha: Tensor, vecs: list[Tensor], dw: list[Tensor]) -> None:
    if x_mag.dim() != 3 or x_mag.shape[2] > 1024:
        raise ValueError(f"convnext_prelude: streams must be (B, N, C) with C <= 1024, got {tuple(x_mag.shape)}")
    for name, t in (("x_pha", x_pha), ("y_mag", y_mag), ("y_pha", y_pha)):
        if t.shape != x_mag.shape:
            raise ValueError(f"convnext_prelude: {name} is {tuple(t.shape)}, x_mag is {tuple(x_mag.shape)}")
    if x_mag.dtype != torch.float32 or x_pha.dtype != torch.float32:
        raise ValueError(f"convnext_prelude: the streams must be float32, got {x_mag.dtype} and {x_pha.dtype}")
    c = x_mag.shape[2]
    if any(v.shape != (c,) for v in vecs) or any(w.dim() != 2 or w.shape[0] != c or w.shape[1] % 2 == 0 for w in dw):
        raise ValueError(f"convnext_prelude: per-channel vectors must be ({c},) and depthwise weights ({c}, k), k odd")
    if dw[0].shape != dw[1].shape:
        raise ValueError("convnext_prelude: both streams' depthwise kernels must have the same size")


@torch.library.custom_op("sigkit::convnext_prelude", mutates_args=())
def _prelude_op(
    x_mag: Tensor, x_pha: Tensor, y_mag: Tensor, y_pha: Tensor, g_mag: Tensor, g_pha: Tensor,
    dw_w_mag: Tensor, dw_b_mag: Tensor, ln_w_mag: Tensor, ln_b_mag: Tensor,
    dw_w_pha: Tensor, dw_b_pha: Tensor, ln_w_pha: Tensor, ln_b_pha: Tensor,
    eps: float, out_dtype: torch.dtype, form: str, block_t: int, num_warps: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if not (x_mag.is_cuda or _interpret()):
        raise RuntimeError("sigkit::convnext_prelude runs on CUDA tensors (or on the CPU under TRITON_INTERPRET=1)")
    args = [t.contiguous() for t in (x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, dw_w_mag, dw_b_mag, ln_w_mag,
                                     ln_b_mag, dw_w_pha, dw_b_pha, ln_w_pha, ln_b_pha)]
    outs = [torch.empty_like(args[0]), torch.empty_like(args[0]),
            torch.empty(args[0].shape, dtype=out_dtype, device=args[0].device),
            torch.empty(args[0].shape, dtype=out_dtype, device=args[0].device)]
    if x_mag.numel():
        config = (form, block_t, num_warps) if form else _config(args, outs, eps)
        _launch(args, outs, eps, config)
    return outs[0], outs[1], outs[2], outs[3]


@_prelude_op.register_fake
def _(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, dw_w_mag, dw_b_mag, ln_w_mag, ln_b_mag,
      dw_w_pha, dw_b_pha, ln_w_pha, ln_b_pha, eps, out_dtype, form, block_t, num_warps):
    shape = x_mag.shape
    return (x_mag.new_empty(shape), x_mag.new_empty(shape),
            x_mag.new_empty(shape, dtype=out_dtype), x_mag.new_empty(shape, dtype=out_dtype))


def convnext_prelude(
    x_mag: Tensor,
    x_pha: Tensor,
    y_mag: Tensor,
    y_pha: Tensor,
    g_mag: Tensor,
    g_pha: Tensor,
    dw_w_mag: Tensor,
    dw_b_mag: Tensor,
    ln_w_mag: Tensor,
    ln_b_mag: Tensor,
    dw_w_pha: Tensor,
    dw_b_pha: Tensor,
    ln_w_pha: Tensor,
    ln_b_pha: Tensor,
    *,
    eps: float = 1e-6,
    out_dtype: torch.dtype = torch.bfloat16,
    config: tuple[str, int, int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Residual additions, exchange, depthwise conv and LayerNorm of both streams in one kernel.

    Args:
        x_mag, x_pha: residual streams ``(B, N, C)`` float32, time-major, ``C <= 1024``.
        y_mag, y_pha: the previous layer's branch outputs ``(B, N, C)`` (bf16 or float32).
        g_mag, g_pha: that layer's scales ``(C,)`` (zeros before the first layer).
        dw_w_*, dw_b_*: depthwise convolution weight ``(C, k)`` (``k`` odd, 'same' zero padding) and bias ``(C,)``.
        ln_w_*, ln_b_*: LayerNorm weight and bias ``(C,)``.
        eps: LayerNorm epsilon (AP-BWE: 1e-6).
        out_dtype: dtype of the normalised outputs (the first pointwise product's weight dtype).
        config: ``(form, frames per program, warps)``, form ``"tile"`` or ``"rows"`` (``k = 7`` only; else the
            tile form runs); default: the fastest of :data:`CONFIGS`, timed on the first CUDA call per shape
            class (:data:`DEFAULT_CONFIG` inside a CUDA-graph capture or the interpreter).

    Returns:
        ``(x_mag, x_pha, h_mag, h_pha)``: the new streams ``x_mag = (x_mag + g_mag y_mag) + (x_pha + g_pha
        y_pha)``, ``x_pha = (x_pha + g_pha y_pha) + x_mag`` (float32, ``(B, N, C)``) and
        ``h_* = LayerNorm(dwconv(x_*))`` in ``out_dtype``. New tensors; the inputs are not modified.

    >>> C = 8
    >>> x = torch.zeros(1, 4, C, requires_grad=True)
    >>> w = [torch.zeros(C, 7), torch.zeros(C), torch.ones(C), torch.zeros(C)]
    >>> convnext_prelude(x, x, x, x, torch.ones(C), torch.ones(C), *w, *w)
    Traceback (most recent call last):
    ...
    RuntimeError: convnext_prelude is inference only (no backward): call it under torch.no_grad() ...

    Raises:
        RuntimeError: if autograd is on and an input requires grad (inference only), or if the tensors are
            not on CUDA (outside ``TRITON_INTERPRET=1``).
        ValueError: on inconsistent shapes or non-float32 streams.
    """
    tensors = (x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, dw_w_mag, dw_b_mag, ln_w_mag, ln_b_mag,
               dw_w_pha, dw_b_pha, ln_w_pha, ln_b_pha)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise RuntimeError("convnext_prelude is inference only (no backward): call it under torch.no_grad() "
                           "or torch.inference_mode(), or with tensors that do not require grad")
    _check(x_mag, x_pha, y_mag, y_pha, [g_mag, g_pha, dw_b_mag, ln_w_mag, ln_b_mag, dw_b_pha, ln_w_pha, ln_b_pha],
           [dw_w_mag, dw_w_pha])
    form, block_t, warps = config or ("", 0, 0)
    if config is not None and (form not in FORMS or block_t < 1 or warps < 1):
        raise ValueError(f"convnext_prelude: config must be (form in {FORMS}, frames >= 1, warps >= 1), got {config}")
    return torch.ops.sigkit.convnext_prelude(*tensors, float(eps), out_dtype, form, block_t, warps)
