"""Triton kernels behind :mod:`sigkit.kernels.spectral` (launch helpers live there).

Every transform here is a windowed DFT written as a matrix product on the tensor cores, in
3xTF32 (``tl.dot(..., input_precision="tf32x3")``: each fp32 operand split into a TF32 head and
tail, three products), which keeps float32 accuracy; a plain TF32/BF16 DFT would put 0.6-6 dB
errors into the quiet bins (see ``shared/research/stft.md`` section 3.4).

Layout conventions (all float32 in the kernels, inputs of any float dtype are cast on load):

* waveform ``x``: ``(B, L)`` contiguous; frame ``t`` sample ``n`` (``0 <= n < WIN``, the non-zero
  support of the centred window) reads padded position ``p = t * hop + left + n``, i.e. signal
  index ``i = p - pad = t * hop + n + off`` with ``off = left - pad``; reflect or constant padding is
  done in that index arithmetic, never materialised.
* bases ``cwt, swt``: ``(FP, WP)`` row-major, ``cwt[k, n] = w[n] cos(2 pi k (left + n) / n_fft)``,
  ``swt[k, n] = -w[n] sin(...)`` (zero-padded to ``FP x WP``), so ``Re = cwt @ frames`` and
  ``Im = swt @ frames`` with frames ``(WIN, BT)``; the synthesis kernels read the same tables.
* spectra: ``(B, F, T)`` contiguous (frames contiguous), as ``torch.stft`` returns them.
"""
from __future__ import annotations

import triton
import triton.language as tl

# pad modes (constexpr)
PAD_REFLECT = 0
PAD_CONSTANT = 1
# analysis epilogues
EPI_COMPLEX = 0
EPI_AMP_PHASE = 1
EPI_POWER = 2
EPI_MAG = 3
EPI_INV_BWD = 4
# log modes of the mel kernel
LOG_NONE = 0
LOG_NATURAL = 1
LOG_DB = 2
LOG_WHISPER = 3
# synthesis prologues
PRO_AP_BWD = 0
PRO_INV = 1
PRO_SPEC_BWD = 2
PRO_MEL_BWD = 3

_PI = 3.141592653589793
_HALF_PI = 1.5707963267948966
_QUARTER_PI = 0.7853981633974483


@triton.jit
def _atan2(y, x):
    """float32 ``atan2(y, x)`` (max error ~1e-7 rad); 0 at the origin like ``torch.angle``."""
    ax = tl.abs(x)
    ay = tl.abs(y)
    hi = tl.maximum(ax, ay)
    lo = tl.minimum(ax, ay)
    a = tl.where(hi > 0.0, lo / tl.where(hi > 0.0, hi, 1.0), 0.0)  # in [0, 1]
    # reduce [tan(pi/8), 1] to [-tan(pi/8), tan(pi/8)] around pi/4 (Cephes atanf)
    big = a > 0.41421356237309503
    u = tl.where(big, (a - 1.0) / (a + 1.0), a)
    z = u * u
    poly = ((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1
    poly = poly * z * u + u
    r = tl.where(big, poly + 0.7853981633974483, poly)
    r = tl.where(ay > ax, 1.5707963267948966 - r, r)
    r = tl.where(x < 0.0, 3.141592653589793 - r, r)
    return tl.where(y < 0.0, -r, r)


@triton.jit
def _signal_index(t, n, L, hop, off, PAD: tl.constexpr):
    """Signal index and validity of frame ``t`` sample ``n`` (reflect/constant padding in index math)."""
    i = t * hop + n + off
    if PAD == 0:
        i = tl.where(i < 0, -i, i)
        i = tl.where(i >= L, 2 * (L - 1) - i, i)
        ok = (i >= 0) & (i < L)
    else:
        ok = (i >= 0) & (i < L)
    return i, ok


@triton.jit
def _epilogue(re, im, ooff, omask, bins, out1, out2, aux1, aux2, ck, eps, EPI: tl.constexpr):
    """Store the analysis result for spectral coefficients ``(re, im)`` at offsets ``ooff``."""
    if EPI == 0:
        tl.store(out1 + ooff, re, mask=omask)
        tl.store(out2 + ooff, im, mask=omask)
    elif EPI == 1:
        mag = tl.sqrt(re * re + im * im)
        tl.store(out1 + ooff, tl.log(mag + eps), mask=omask)
        tl.store(out2 + ooff, _atan2(im, re), mask=omask)
    elif EPI == 2:
        tl.store(out1 + ooff, re * re + im * im, mask=omask)
    elif EPI == 3:
        tl.store(out1 + ooff, tl.sqrt(re * re + im * im), mask=omask)
    else:
        la = tl.load(aux1 + ooff, mask=omask, other=0.0).to(tl.float32)
        ph = tl.load(aux2 + ooff, mask=omask, other=0.0).to(tl.float32)
        c = tl.load(ck + bins, mask=omask, other=0.0)
        m = tl.exp(la)
        xr = m * tl.cos(ph)
        xi = m * tl.sin(ph)
        gr = re * c
        gi = im * c
        tl.store(out1 + ooff, gr * xr + gi * xi, mask=omask)
        tl.store(out2 + ooff, gi * xr - gr * xi, mask=omask)


@triton.jit
def _tf32_split(v):
    """``(hi, lo)`` with ``hi`` = ``v`` rounded to TF32 (10-bit mantissa) and ``lo = v - hi`` (exact)."""
    bits = v.to(tl.int32, bitcast=True)
    hi = ((bits + 0x1000) & -8192).to(tl.float32, bitcast=True)
    return hi, v - hi


@triton.jit
def pad_split_kernel(x, xh, xl, L, LP, pad, PAD: tl.constexpr, BLOCK: tl.constexpr):
    """Padded signal ``(B, LP)`` (reflect/constant, ``pad`` samples left) as TF32 head + tail arrays.

    The split makes the DFT of :func:`dft_split_kernel` three plain TF32 tensor-core GEMMs whose
    operands stream from memory (``hi*hi + hi*lo + lo*hi``, float32 accuracy), instead of
    ``tl.dot(..., "tf32x3")`` splitting register operands tile by tile.
    """
    b = tl.program_id(1).to(tl.int64)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    i, ok = _signal_index(p, 0, L, 1, -pad, PAD)
    v = tl.load(x + b * L + i, mask=ok & (p < LP), other=0.0).to(tl.float32)
    hi, lo = _tf32_split(v)
    tl.store(xh + b * LP + p, hi, mask=p < LP)
    tl.store(xl + b * LP + p, lo, mask=p < LP)


@triton.jit
def _dft_split_tile(xh_row, xl_row, kf, t, LP, T, hop, left, ch, cl, sh, sl, WP, WIN,
                    BF: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr):
    """``(Re, Im)`` ``(BF, BT)`` of frames ``t`` at bins ``kf`` from the split signal and split bases:
    ``Re = ch @ xh + ch @ xl + cl @ xh`` (the ``lo * lo`` term, 2^-22 relative, is dropped)."""
    re = tl.zeros((BF, BT), dtype=tl.float32)
    im = tl.zeros((BF, BT), dtype=tl.float32)
    tmask = t < T
    for n0 in range(0, WIN, BK):
        n = n0 + tl.arange(0, BK)
        pos = t[None, :] * hop + left + n[:, None]
        ok = tmask[None, :] & (pos < LP)
        fh = tl.load(xh_row + pos, mask=ok, other=0.0)
        fl = tl.load(xl_row + pos, mask=ok, other=0.0)
        boff = kf[:, None] * WP + n[None, :]
        c_h = tl.load(ch + boff)
        s_h = tl.load(sh + boff)
        re = tl.dot(c_h, fh, re, input_precision="tf32")
        re = tl.dot(c_h, fl, re, input_precision="tf32")
        re = tl.dot(tl.load(cl + boff), fh, re, input_precision="tf32")
        im = tl.dot(s_h, fh, im, input_precision="tf32")
        im = tl.dot(s_h, fl, im, input_precision="tf32")
        im = tl.dot(tl.load(sl + boff), fh, im, input_precision="tf32")
    return re, im


@triton.jit
def dft_split_kernel(
    xh, xl, LP, T, hop, left, ch, cl, sh, sl, WP, WIN, F,
    out1, out2, aux1, aux2, ck, eps,
    EPI: tl.constexpr, BF: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr,
):
    """One ``(BF bins, BT frames)`` tile of a windowed DFT (dense, one GEMM) with a fused epilogue.

    Reads the split padded signal of :func:`pad_split_kernel`. Grid: bin tiles fastest, so the
    programs that run together read the same waveform span; frames are the fast axis of the tile, so
    the ``(B, F, T)`` stores are coalesced along ``t``.
    EPI_COMPLEX: ``out1, out2 = Re, Im``; EPI_AMP_PHASE: ``log(|X| + eps), atan2(Im, Re)``;
    EPI_POWER / EPI_MAG: ``out1 = |X|^2 / |X|``; EPI_INV_BWD: the gradient of the inverse STFT
    w.r.t. (log-amplitude ``aux1``, phase ``aux2``) from the analysis of the normalised output
    gradient, scaled by ``ck`` (``c_k / n_fft``).
    """
    pid_f = tl.program_id(0)
    pid_t = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)
    kf = pid_f * BF + tl.arange(0, BF)
    t = pid_t * BT + tl.arange(0, BT)
    re, im = _dft_split_tile(xh + b * LP, xl + b * LP, kf, t, LP, T, hop, left, ch, cl, sh, sl, WP, WIN,
                             BF, BT, BK)
    omask = (kf[:, None] < F) & (t[None, :] < T)
    ooff = b * F * T + kf[:, None] * T + t[None, :]
    _epilogue(re, im, ooff, omask, kf[:, None], out1, out2, aux1, aux2, ck, eps, EPI)


@triton.jit
def mel_split_kernel(
    xh, xl, LP, T, hop, left, ch, cl, sh, sl, WP, WIN, F,
    fb, stride_fm, stride_ff, M, out, peak, eps,
    POWER: tl.constexpr, LOG: tl.constexpr,
    BF: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BM: tl.constexpr,
):
    """``(all mels, BT frames)`` tile: DFT over all bins, ``|X|^POWER``, ``acc[m, t] += fb[m, f] @ P[f, t]``
    (tf32x3: the projection is small next to the DFT), log epilogue, ``(B, M, T)`` stores along ``t``.

    ``T`` is the number of frames written (Whisper drops the last one). For LOG_DB / LOG_WHISPER the
    per-item maximum of the (pre-floor) log values is folded into ``peak[b]`` with an atomic max;
    :func:`floor_kernel` applies the floor afterwards.
    """
    pid_t = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    t = pid_t * BT + tl.arange(0, BT)
    m = tl.arange(0, BM)
    acc = tl.zeros((BM, BT), dtype=tl.float32)
    for f0 in range(0, F, BF):
        kf = f0 + tl.arange(0, BF)
        re, im = _dft_split_tile(xh + b * LP, xl + b * LP, kf, t, LP, T, hop, left, ch, cl, sh, sl, WP, WIN,
                                 BF, BT, BK)
        p = re * re + im * im
        if POWER == 1:
            p = tl.sqrt(p)
        fbt = tl.load(fb + m[:, None] * stride_fm + kf[None, :] * stride_ff,
                      mask=(m[:, None] < M) & (kf[None, :] < F), other=0.0)
        acc = tl.dot(fbt, p, acc, input_precision="tf32x3")
    _mel_store(acc, m, t, M, T, out + b * M * T, peak + b, eps, LOG)


@triton.jit
def _mel_store(acc, m, t, M, T, out_b, peak_b, eps, LOG: tl.constexpr):
    """Log epilogue of the mel kernels, ``(B, M, T)`` store along ``t`` and the per-item peak."""
    omask = (m[:, None] < M) & (t[None, :] < T)
    if LOG == 1:
        acc = tl.log(tl.maximum(acc, eps))
    elif LOG == 2:
        acc = 4.342944819032518 * tl.log(tl.maximum(acc, 1e-10))  # 10 log10
    elif LOG == 3:
        acc = 0.4342944819032518 * tl.log(tl.maximum(acc, 1e-10))  # log10
    tl.store(out_b + m[:, None] * T + t[None, :], acc, mask=omask)
    if LOG >= 2:
        tile_max = tl.max(tl.max(tl.where(omask, acc, -float("inf")), 1), 0)
        tl.atomic_max(peak_b, tile_max)


@triton.jit
def _inv_env(p, left, hop, WIN, T, wsq, NJ):
    """``1 / sum_t w^2[p - t hop - left]`` over the frames ``0 <= t < T`` covering padded position ``p``.

    Computed here from the squared window ``wsq`` (``WIN`` values) instead of a per-shape table, so the
    inverse STFT needs no per-length buffer; 0 where the envelope vanishes (outside the output, the
    host checks the NOLA condition once per geometry). ``NJ >= cdiv(WIN, hop)``.
    """
    rel = p - left
    tmax = tl.where(rel >= 0, rel, 0) // hop
    tmax = tl.where(rel >= 0, tmax, -1)
    env = tl.zeros(p.shape, dtype=tl.float32)
    for j in range(0, NJ):
        tt = tmax - j
        n = rel - tt * hop
        ok = (tt >= 0) & (tt < T) & (n >= 0) & (n < WIN)
        env += tl.load(wsq + n, mask=ok, other=0.0)
    return tl.where(env > 1e-11, 1.0 / tl.where(env > 1e-11, env, 1.0), 0.0)


@triton.jit
def env_scale_kernel(g, y, L_in, LEXP, start, left, hop, WIN, T, wsq, NJ, BLOCK: tl.constexpr):
    """``y[b, p] = g[b, p - start] / envelope(p)`` over padded positions ``p < LEXP`` (0 outside ``g``):
    the output gradient of the inverse STFT taken back through its envelope normalisation."""
    b = tl.program_id(1).to(tl.int64)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    s = p - start
    ok = (s >= 0) & (s < L_in) & (p < LEXP)
    v = tl.load(g + b * L_in + s, mask=ok, other=0.0).to(tl.float32)
    v = v * _inv_env(p, left, hop, WIN, T, wsq, NJ)
    tl.store(y + b * LEXP + p, tl.where(ok, v, 0.0), mask=p < LEXP)


@triton.jit
def _fft_tile(x_row, t0, L, T, hop, off0, P, Q, a_lo, left, WIN,
              wpad, d1c, d1s, twc, tws, c2, s2,
              PAD: tl.constexpr, BT: tl.constexpr, PP: tl.constexpr, QP: tl.constexpr,
              AP: tl.constexpr, K2P: tl.constexpr):
    """Two-level (Cooley-Tukey, ``n_fft = P * Q``) windowed DFT of frames ``t0 .. t0 + BT``.

    Sample ``n = Q a + b``, bin ``k = k1 + P k2``: a size-P DFT over ``a`` (only the ``AP`` values of
    ``a`` the window touches, from ``a_lo``), a twiddle ``exp(-2 pi i b k1 / n_fft)``, then a size-Q
    DFT over ``b`` (only ``k2 < K2P`` columns: the one-sided half). Both stages are tensor-core GEMMs
    in 3xTF32. Returns ``(Re, Im)`` of shape ``(PP * BT, K2P)``, rows ``(k1, t)`` (frames fastest, so the
    ``(B, F, T)`` stores are contiguous along ``t``), columns ``k2``.
    """
    r = tl.arange(0, BT * QP)
    tl_ = r // QP
    bq = r % QP
    a = tl.arange(0, AP)
    t = t0 + tl_
    n = Q * (a_lo + a[None, :]) + bq[:, None]  # (BT*QP, AP) sample inside the frame
    ok = (t[:, None] < T) & (bq[:, None] < Q) & ((a_lo + a[None, :]) < P) & (n >= left) & (n < left + WIN)
    i, inside = _signal_index(t[:, None], n, L, hop, off0, PAD)
    ok = ok & inside
    fr = tl.load(x_row + i, mask=ok, other=0.0).to(tl.float32) * tl.load(wpad + n, mask=ok, other=0.0)
    k1 = tl.arange(0, PP)
    d1 = a[:, None] * PP + k1[None, :]
    yr = tl.dot(fr, tl.load(d1c + d1), input_precision="tf32x3")
    yi = tl.dot(fr, tl.load(d1s + d1), input_precision="tf32x3")
    tw = bq[:, None] * PP + k1[None, :]
    c = tl.load(twc + tw)
    s = tl.load(tws + tw)
    zr = yr * c + yi * s
    zi = yi * c - yr * s
    zr = tl.reshape(tl.permute(tl.reshape(zr, (BT, QP, PP)), (2, 0, 1)), (PP * BT, QP))
    zi = tl.reshape(tl.permute(tl.reshape(zi, (BT, QP, PP)), (2, 0, 1)), (PP * BT, QP))
    b2 = tl.arange(0, QP)
    k2 = tl.arange(0, K2P)
    d2 = b2[:, None] * K2P + k2[None, :]
    cc = tl.load(c2 + d2)
    ss = tl.load(s2 + d2)
    xr = tl.dot(zr, cc, input_precision="tf32x3")
    xr = tl.dot(zi, ss, xr, input_precision="tf32x3")
    xi = tl.dot(zi, cc, input_precision="tf32x3")
    xi = tl.dot(-zr, ss, xi, input_precision="tf32x3")
    return xr, xi


@triton.jit
def analysis_fft_kernel(
    x, L, T, hop, off0, P, Q, a_lo, left, WIN, F,
    wpad, d1c, d1s, twc, tws, c2, s2,
    out1, out2, aux1, aux2, ck, eps,
    PAD: tl.constexpr, EPI: tl.constexpr, BT: tl.constexpr, PP: tl.constexpr, QP: tl.constexpr,
    AP: tl.constexpr, K2P: tl.constexpr,
):
    """:func:`dft_split_kernel` through the two-level DFT of :func:`_fft_tile`: BT frames, all bins."""
    t0 = tl.program_id(0) * BT
    b = tl.program_id(1).to(tl.int64)
    re, im = _fft_tile(x + b * L, t0, L, T, hop, off0, P, Q, a_lo, left, WIN, wpad, d1c, d1s, twc, tws,
                       c2, s2, PAD, BT, PP, QP, AP, K2P)
    r = tl.arange(0, PP * BT)
    t = t0 + r % BT
    k1 = r // BT
    k2 = tl.arange(0, K2P)
    bins = k1[:, None] + P * k2[None, :]
    omask = (t[:, None] < T) & (k1[:, None] < P) & (bins < F)
    ooff = b * F * T + bins * T + t[:, None]
    _epilogue(re, im, ooff, omask, bins, out1, out2, aux1, aux2, ck, eps, EPI)


@triton.jit
def log_kernel(v, peak, N, eps, LOG: tl.constexpr, BLOCK: tl.constexpr):
    """In place over items of ``N`` mel values: the log of :func:`mel_split_kernel`'s epilogue (+ per-item max)."""
    b = tl.program_id(1).to(tl.int64)
    j = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = j < N
    val = tl.load(v + b * N + j, mask=mask, other=1.0)
    if LOG == 1:
        val = tl.log(tl.maximum(val, eps))
    elif LOG == 2:
        val = 4.342944819032518 * tl.log(tl.maximum(val, 1e-10))
    else:
        val = 0.4342944819032518 * tl.log(tl.maximum(val, 1e-10))
    tl.store(v + b * N + j, val, mask=mask)
    if LOG >= 2:
        tl.atomic_max(peak + b, tl.max(tl.where(mask, val, -float("inf")), 0))


@triton.jit
def floor_kernel(v, peak, N, floor_gap, scale, shift, BLOCK: tl.constexpr):
    """In place: ``v = (max(v, peak[b] - floor_gap) + shift) * scale`` over items of ``N`` values."""
    b = tl.program_id(1).to(tl.int64)
    j = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = j < N
    pk = tl.load(peak + b)
    val = tl.load(v + b * N + j, mask=mask)
    val = (tl.maximum(val, pk - floor_gap) + shift) * scale
    tl.store(v + b * N + j, val, mask=mask)


@triton.jit
def _power_grad(g, re, im, POWER: tl.constexpr):
    """Spectral gradient ``(G_re, G_im)`` from the gradient ``g`` of ``|X|^POWER`` at ``X = re + i im``."""
    if POWER == 2:
        g = 2.0 * g
    else:
        mag = tl.sqrt(re * re + im * im)
        g = tl.where(mag > 0.0, g / tl.where(mag > 0.0, mag, 1.0), 0.0)
    return g * re, g * im


@triton.jit
def _spectral_grad(a1, a2, ioff, imask, u, v, ck, koff, eps,
                   HAS_A1: tl.constexpr, HAS_A2: tl.constexpr, PRO: tl.constexpr, POWER: tl.constexpr):
    """Synthesis prologue: spectral coefficients ``(G_re, G_im)`` at offsets ``ioff`` (bins ``koff``).

    PRO_AP_BWD: ``u, v`` = log-amplitude, phase, ``a1, a2`` their gradients (each optional);
    PRO_INV: ``u, v`` = log-amplitude, phase, scaled by ``ck[koff]``; PRO_SPEC_BWD: ``u, v`` = Re, Im,
    ``a1`` the gradient of ``|X|^POWER``.
    """
    if PRO == 0:
        cph = tl.cos(v)
        sph = tl.sin(v)
        gr = tl.zeros_like(u)
        gi = tl.zeros_like(u)
        if HAS_A1:
            gla = tl.load(a1 + ioff, mask=imask, other=0.0).to(tl.float32) * tl.exp(-u)
            gr += gla * cph
            gi += gla * sph
        if HAS_A2:
            mag = tl.exp(u) - eps
            gp = tl.load(a2 + ioff, mask=imask, other=0.0).to(tl.float32)
            gp = tl.where(mag > 0.0, gp / tl.where(mag > 0.0, mag, 1.0), 0.0)
            gr -= gp * sph
            gi += gp * cph
    elif PRO == 1:
        mag = tl.exp(u) * tl.load(ck + koff, mask=imask, other=0.0)
        gr = mag * tl.cos(v)
        gi = mag * tl.sin(v)
    else:
        g = tl.load(a1 + ioff, mask=imask, other=0.0).to(tl.float32)
        gr, gi = _power_grad(g, u, v, POWER)
    return gr, gi


@triton.jit
def synthesis_kernel(
    a1, a2, a3, a4, fb, stride_fm, stride_ff, M, ck, eps,
    cwt, swt, c_lo, s_lo, WP, FP, WIN, F, T, hop,
    y, L, off, wsq, NJ, start, LEXP,
    HAS_A1: tl.constexpr, HAS_A2: tl.constexpr,
    PRO: tl.constexpr, POWER: tl.constexpr, PAD: tl.constexpr, INVERSE: tl.constexpr,
    BT: tl.constexpr, BF: tl.constexpr, BN: tl.constexpr, BM: tl.constexpr, SPLIT: tl.constexpr = False,
):
    """Inverse windowed DFT of a ``(BT frames, BN samples)`` tile, then overlap-add by atomic adds.

    The prologue turns its inputs (``(B, F, T)`` tensors ``a1..a4`` or a ``(B, M, T)`` mel gradient)
    into spectral coefficients ``(G_re, G_im)``; the tile is ``G_re @ cwt + G_im @ swt`` (windowed
    frames). PRO_AP_BWD: ``a1, a2`` = grads of log-amp/phase (optional), ``a3, a4`` = log-amp, phase.
    PRO_INV: ``a3, a4`` = log-amp, phase, scaled by ``ck``. PRO_SPEC_BWD: ``a1`` = grad of ``|X|^POWER``,
    ``a3, a4`` = Re, Im. PRO_MEL_BWD: ``a1`` = grad of the mel ``(B, M, T)``, projected through ``fb``.

    ``SPLIT``: ``cwt, swt`` / ``c_lo, s_lo`` are the TF32 heads / tails of the bases stored ``(WP, FP)``
    (bins contiguous, the layout the TF32 tensor-core instructions want), the coefficients are split
    in registers once, and the tile is six plain TF32 GEMMs (``hi*hi + hi*lo + lo*hi``); otherwise the
    ``(FP, WP)`` bases and ``tf32x3`` dots.

    Epilogue: ``INVERSE`` adds ``tile / envelope(p)`` (:func:`_inv_env`) into output sample ``p - start``
    (``p < LEXP``); otherwise adds into the waveform gradient at the padded position's signal index (adjoint of
    the reflect/constant padding).
    """
    pid_t = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    pid_n = tl.program_id(2)
    t = pid_t * BT + tl.arange(0, BT)
    n = pid_n * BN + tl.arange(0, BN)
    tmask = t < T
    acc = tl.zeros((BT, BN), dtype=tl.float32)
    if PRO == 3:
        m = tl.arange(0, BM)
        gmel = tl.load(a1 + b * M * T + m[None, :] * T + t[:, None],
                       mask=tmask[:, None] & (m[None, :] < M), other=0.0).to(tl.float32)
    for f0 in range(0, F, BF):
        kf = f0 + tl.arange(0, BF)
        fmask = kf < F
        imask = tmask[:, None] & fmask[None, :]
        ioff = b * F * T + kf[None, :] * T + t[:, None]
        u = tl.load(a3 + ioff, mask=imask, other=0.0).to(tl.float32)
        v = tl.load(a4 + ioff, mask=imask, other=0.0).to(tl.float32)
        if PRO == 3:
            fbk = tl.load(fb + m[:, None] * stride_fm + kf[None, :] * stride_ff,
                          mask=(m[:, None] < M) & fmask[None, :], other=0.0)
            gr, gi = _power_grad(tl.dot(gmel, fbk, input_precision="tf32x3"), u, v, POWER)
        else:
            gr, gi = _spectral_grad(a1, a2, ioff, imask, u, v, ck, kf[None, :], eps,
                                    HAS_A1, HAS_A2, PRO, POWER)
        if SPLIT:
            boff = n[None, :] * FP + kf[:, None]
            c_h = tl.load(cwt + boff)
            s_h = tl.load(swt + boff)
            gr_h, gr_l = _tf32_split(gr)
            gi_h, gi_l = _tf32_split(gi)
            acc = tl.dot(gr_h, c_h, acc, input_precision="tf32")
            acc = tl.dot(gr_l, c_h, acc, input_precision="tf32")
            acc = tl.dot(gr_h, tl.load(c_lo + boff), acc, input_precision="tf32")
            acc = tl.dot(gi_h, s_h, acc, input_precision="tf32")
            acc = tl.dot(gi_l, s_h, acc, input_precision="tf32")
            acc = tl.dot(gi_h, tl.load(s_lo + boff), acc, input_precision="tf32")
        else:
            boff = kf[:, None] * WP + n[None, :]
            acc = tl.dot(gr, tl.load(cwt + boff), acc, input_precision="tf32x3")
            acc = tl.dot(gi, tl.load(swt + boff), acc, input_precision="tf32x3")
    valid = tmask[:, None] & (n[None, :] < WIN)
    if INVERSE:
        p = t[:, None] * hop + off + n[None, :]  # padded position; off = left here
        s = p - start
        ok = valid & (p < LEXP) & (s >= 0) & (s < L)
        w = _inv_env(p, off, hop, WIN, T, wsq, NJ)
        tl.atomic_add(y + b * L + s, acc * w, mask=ok)
    else:
        i, ok = _signal_index(t[:, None], n[None, :], L, hop, off, PAD)
        tl.atomic_add(y + b * L + i, acc, mask=valid & ok)


@triton.jit
def synthesis_fft_kernel(
    a1, a2, a3, a4, ck, eps, P, Q, a_lo, left, WIN, F, T, hop,
    wpad, e1c, e1s, twc, tws, f2c, f2s,
    y, L, off0, wsq, NJ, start, LEXP,
    HAS_A1: tl.constexpr, HAS_A2: tl.constexpr, PRO: tl.constexpr, POWER: tl.constexpr,
    PAD: tl.constexpr, INVERSE: tl.constexpr,
    BT: tl.constexpr, PP: tl.constexpr, QP: tl.constexpr, AP: tl.constexpr, K2P: tl.constexpr,
):
    """:func:`synthesis_kernel` through a two-level inverse DFT (the mirror of :func:`_fft_tile`).

    Windowed frame ``w[n] Re(sum_k G_k exp(2 pi i k n / n_fft))`` with ``k = k1 + P k2`` and
    ``n = Q a + b``: a size-Q GEMM over ``k2`` (one-sided), the twiddle ``exp(2 pi i b k1 / n_fft)``,
    a transpose, a size-P GEMM over ``k1`` for the ``AP`` values of ``a`` the window touches; then
    the overlap-add epilogue of :func:`synthesis_kernel`. Prologues PRO_AP_BWD, PRO_INV, PRO_SPEC_BWD.
    """
    t0 = tl.program_id(0) * BT
    b = tl.program_id(1).to(tl.int64)
    r = tl.arange(0, PP * BT)  # rows (k1, t): the (B, F, T) loads are contiguous along t
    t = t0 + r % BT
    k1 = r // BT
    k2 = tl.arange(0, K2P)
    bins = k1[:, None] + P * k2[None, :]
    imask = (t[:, None] < T) & (k1[:, None] < P) & (bins < F)
    ioff = b * F * T + bins * T + t[:, None]
    u = tl.load(a3 + ioff, mask=imask, other=0.0).to(tl.float32)
    v = tl.load(a4 + ioff, mask=imask, other=0.0).to(tl.float32)
    gr, gi = _spectral_grad(a1, a2, ioff, imask, u, v, ck, bins, eps, HAS_A1, HAS_A2, PRO, POWER)
    # size-Q stage over k2: U = G exp(+2 pi i k2 b / Q)
    bq = tl.arange(0, QP)
    f2 = k2[:, None] * QP + bq[None, :]
    fc = tl.load(f2c + f2)
    fs = tl.load(f2s + f2)
    ur = tl.dot(gr, fc, input_precision="tf32x3")
    ur = tl.dot(-gi, fs, ur, input_precision="tf32x3")
    ui = tl.dot(gr, fs, input_precision="tf32x3")
    ui = tl.dot(gi, fc, ui, input_precision="tf32x3")
    # twiddle exp(+2 pi i b k1 / n_fft), tables indexed [b, k1]
    tw = bq[None, :] * PP + k1[:, None]
    c = tl.load(twc + tw)
    s = tl.load(tws + tw)
    vr = ur * c - ui * s
    vi = ur * s + ui * c
    vr = tl.reshape(tl.permute(tl.reshape(vr, (PP, BT, QP)), (1, 2, 0)), (BT * QP, PP))
    vi = tl.reshape(tl.permute(tl.reshape(vi, (PP, BT, QP)), (1, 2, 0)), (BT * QP, PP))
    # size-P stage over k1 for the window's values of a: Re(V exp(+2 pi i k1 a / P))
    kk = tl.arange(0, PP)
    a = tl.arange(0, AP)
    e1 = kk[:, None] * AP + a[None, :]
    fr = tl.dot(vr, tl.load(e1c + e1), input_precision="tf32x3")
    fr = tl.dot(vi, tl.load(e1s + e1), fr, input_precision="tf32x3")
    r2 = tl.arange(0, BT * QP)
    t2 = t0 + r2 // QP
    b2 = r2 % QP
    n = Q * (a_lo + a[None, :]) + b2[:, None]
    valid = (t2[:, None] < T) & (b2[:, None] < Q) & ((a_lo + a[None, :]) < P) & (n >= left) & (n < left + WIN)
    fr = fr * tl.load(wpad + n, mask=valid, other=0.0)
    if INVERSE:
        p = t2[:, None] * hop + n
        so = p - start
        ok = valid & (p < LEXP) & (so >= 0) & (so < L)
        w = _inv_env(p, left, hop, WIN, T, wsq, NJ)
        tl.atomic_add(y + b * L + so, fr * w, mask=ok)
    else:
        i, ok = _signal_index(t2[:, None], n, L, hop, off0, PAD)
        tl.atomic_add(y + b * L + i, fr, mask=valid & ok)
