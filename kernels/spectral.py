"""Fused spectral kernels (Triton) for :mod:`sigkit.spectral`: one launch per forward op, fused backward.

Why not ``torch.stft``: on CUDA it pads (a copy), frames and windows (``n_fft / hop`` times the
signal), runs cuFFT, then ``abs``/``angle``/``log``/mel ``matmul`` each make another full pass, and
``istft`` syncs the host for its NOLA check (``shared/research/stft.md``). Here each forward op reads
the waveform once (padding and windowing in the load's index arithmetic; below n_fft 256 one extra
pass writes the padded signal split into TF32 head + tail) and writes only its result; the DFT runs
on the tensor cores at float32 accuracy (two-level Cooley-Tukey GEMMs in 3xTF32 from n_fft 256, a
dense DFT of three TF32 GEMMs on split operands below), the epilogue (log-amplitude and phase, power,
mel projection, log/dB/Whisper) is fused. The inverse STFT fuses ``exp``/``cos``/``sin``, the inverse
DFT, the window, overlap-add (atomic adds) and the envelope normalisation (computed in the kernel),
without a host sync (NOLA is checked once per geometry on the host).

Backward passes are fused kernels too: the gradient w.r.t. the waveform of every analysis op is an
inverse windowed DFT of the spectral gradient followed by overlap-add into the (reflect-adjoint)
signal; the gradient of the inverse STFT is an analysis of the normalised output gradient.

Every op is a ``torch.library.custom_op`` in the ``sigkit`` namespace with a fake implementation and
``register_autograd``, so it works in ``torch.compile`` graphs, in CUDA graphs (tables built off the
capture and off its memory pool) and under autocast (the op bodies run with autocast off; bf16/fp16
inputs are cast to float32 on load; outputs are float32). There are no fp64 kernels: ``sigkit.spectral`` runs
float64 inputs on its pure-torch reference whatever the backend, and these functions refuse them.
On CPU the kernels run only under ``TRITON_INTERPRET=1``. A plain eager ``impl="cuda"`` call (CUDA
tensors, no compile / tracing / modes) skips the custom op's Python wrapper, which was most of a call's
host time: the op's body runs directly, or an ``autograd.Function`` with the same backward when autograd
records the call (:func:`_route`).

The functions below take a :class:`sigkit.spectral.STFTSpec`; they are what ``sigkit.spectral``'s
ops call when ``backend`` resolves to ``"triton"`` or ``"cuda"``. Their ``impl`` argument picks the
implementation inside the same custom ops: ``"triton"`` (the kernels of ``_spectral_triton.py``) or
``"cuda"`` (``_spectral_cuda.py``: a float32 shared-memory FFT in CUDA C compiled at run time by
NVRTC; geometries it does not handle, e.g. odd ``n_fft``, run the Triton kernels).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.autograd.forward_ad as _fwd_ad
import triton
from sigkit.kernels import _spectral_cuda as C
from sigkit.kernels import _spectral_triton as K
from sigkit.kernels.device_cache import device_constant

__all__ = ["spectrogram", "amp_phase", "from_amp_phase", "mel_spectrogram", "log_mel"]

_LOG_MODES = {"natural": K.LOG_NATURAL, "db": K.LOG_DB, "whisper": K.LOG_WHISPER}
_PAD = 128  # tables are padded to multiples of this (every block size in CONFIG must divide it)
_LN10 = math.log(10.0)
# impl="cuda" mel backward: the log / floor gradient in two CUDA launches and the mel projection inside the
# synthesis kernel (True), or the torch chain and a dense GEMM before the synthesis kernel (False: the
# previous path, kept for benchmarks: bench/spectral.py arm cuda@default_unfused)
CUDA_MEL_BWD = True
# impl="cuda" calls that need no custom op (plain eager tensors, see _route) run the op's body directly (True),
# or every call goes through its custom op (False: the previous host path, kept for benchmarks: bench arm
# cuda@default_op)
DIRECT = True


# ------------------------------------------------------------------------------------ geometry
class _Geom(NamedTuple):
    n_fft: int
    hop: int
    win: int
    left: int  # first non-zero sample of the centred window inside the n_fft frame
    pad: int  # samples of padding on each side (n_fft // 2 with center, else 0)
    L: int  # signal length
    T: int  # frames
    padmode: int  # K.PAD_REFLECT / K.PAD_CONSTANT


def _geom(n_fft: int, hop: int, win: int, center: bool, pad_mode: str, L: int) -> _Geom:
    pad = n_fft // 2 if center else 0
    T = 1 + (L + 2 * pad - n_fft) // hop
    padmode = K.PAD_REFLECT if (center and pad_mode == "reflect") else K.PAD_CONSTANT
    return _Geom(n_fft, hop, win, (n_fft - win) // 2, pad, L, T, padmode)


# ------------------------------------------------------------------------------------ constants
# The DFT bases and windows are built once per (geometry, device) and cached, capture-safe
# (see sigkit.kernels.device_cache: uploaded outside any CUDA-graph capture and memory pool).


def _device_consts(name: str, build: Callable[..., dict], *key) -> dict:
    """``build(*key[:-1])`` (a dict of CPU float32 tensors and ints) on device ``key[-1]``, cached forever."""
    return device_constant((name, *key[:-1]), lambda: build(*key[:-1]), key[-1])


def _tables(n_fft: int, win: int, window: str, device: torch.device) -> dict:
    return _device_consts("dense", _dense_tables, n_fft, win, window, torch.device(device))


def _fft_tables(n_fft: int, win: int, window: str, device: torch.device) -> dict:
    return _device_consts("fft", _fft_host_tables, n_fft, win, window, torch.device(device))


def _dense_tables(n_fft: int, win: int, window: str) -> dict:
    """Windowed DFT bases (float64 maths, float32 storage), their transposes, ``c_k / n_fft`` and ``w^2``."""
    F = n_fft // 2 + 1
    WP, FP = -(-win // _PAD) * _PAD, -(-F // _PAD) * _PAD
    w = C.window64(win, window)
    left = (n_fft - win) // 2
    n = torch.arange(left, left + win, dtype=torch.int64)[:, None]
    k = torch.arange(F, dtype=torch.int64)[None, :]
    m = (n * k) % n_fft  # exact angle index
    theta = m.to(torch.float64) * (2.0 * math.pi / n_fft)
    cos, sin = torch.cos(theta), torch.sin(theta)
    sin[(m == 0) | (2 * m == n_fft)] = 0.0
    cw = torch.zeros(WP, FP, dtype=torch.float64)
    sw = torch.zeros(WP, FP, dtype=torch.float64)
    cw[:win, :F] = w[:, None] * cos
    sw[:win, :F] = -(w[:, None] * sin) + 0.0  # + 0.0 turns -0.0 into +0.0 (exact phase of real bins)
    ck = torch.full((F,), 2.0 / n_fft, dtype=torch.float64)
    ck[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        ck[-1] = 1.0 / n_fft
    f32 = dict(dtype=torch.float32)
    cwt, swt = cw.t().to(**f32).contiguous(), sw.t().to(**f32).contiguous()
    ch, cl = _tf32_split(cwt)
    sh, sl = _tf32_split(swt)
    nch, ncl = _tf32_split(cw.to(**f32).contiguous())  # (WP, FP): bins contiguous, for the synthesis
    nsh, nsl = _tf32_split(sw.to(**f32).contiguous())
    return dict(
        cwt=cwt, swt=swt, ch=ch, cl=cl, sh=sh, sl=sl, nch=nch, ncl=ncl, nsh=nsh, nsl=nsl,
        ck=ck.to(**f32), wsq=(w * w).to(**f32), WP=WP, FP=FP,
    )


def _tf32_split(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hi, lo)``: float32 ``t`` rounded to TF32 and the exact rest (as the kernels' ``_tf32_split``)."""
    hi = ((t.view(torch.int32) + 0x1000) & -8192).view(torch.float32)
    return hi, t - hi


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _fft_host_tables(n_fft: int, win: int, window: str) -> dict:
    """Tables of the two-level DFT (``n_fft = P * Q``, P a power of two) of :func:`analysis_fft_kernel`."""
    p2 = n_fft & -n_fft  # largest power-of-two factor
    cap = 1 << (max(16, n_fft // 16).bit_length() - 1)
    P = min(p2, 64, cap)
    Q = n_fft // P
    left = (n_fft - win) // 2
    a_lo, a_hi = left // Q, (left + win - 1) // Q
    PP, QP = max(16, _pow2(P)), max(16, _pow2(Q))
    AP = max(16, _pow2(a_hi - a_lo + 1))
    K2 = Q // 2 + 1
    K2P = max(16, _pow2(K2))

    def cis(rows, cols, nrows, ncols, period):
        m = (rows[:, None] * cols[None, :]) % period
        theta = m.to(torch.float64) * (2.0 * math.pi / period)
        cos, sin = torch.cos(theta), torch.sin(theta)
        sin[(m == 0) | (2 * m == period)] = 0.0
        c = torch.zeros(nrows, ncols, dtype=torch.float64)
        s = torch.zeros(nrows, ncols, dtype=torch.float64)
        c[: len(rows), : len(cols)] = cos
        s[: len(rows), : len(cols)] = sin
        return c, s

    a = torch.arange(a_lo, min(P, a_lo + AP), dtype=torch.int64)
    d1c, d1s = cis(a, torch.arange(P), AP, PP, P)
    twc, tws = cis(torch.arange(Q), torch.arange(P), QP, PP, n_fft)
    c2, s2 = cis(torch.arange(Q), torch.arange(K2), QP, K2P, Q)
    wpad = torch.zeros(n_fft, dtype=torch.float64)
    wpad[left:left + win] = C.window64(win, window)
    f32 = dict(dtype=torch.float32)
    d1s = -d1s + 0.0
    return dict(
        P=P, Q=Q, PP=PP, QP=QP, AP=AP, K2P=K2P, a_lo=a_lo, left=left,
        wpad=wpad.to(**f32), d1c=d1c.to(**f32), d1s=d1s.to(**f32), twc=twc.to(**f32),
        tws=tws.to(**f32), c2=c2.to(**f32), s2=s2.to(**f32),
        # synthesis (inverse DFT): the same angles, transposed
        e1c=d1c.t().contiguous().to(**f32), e1s=d1s.t().contiguous().to(**f32),
        f2c=c2.t().contiguous().to(**f32), f2s=s2.t().contiguous().to(**f32),
    )


def _istft_lengths(n_fft: int, hop: int, center: bool, T: int, length: int | None) -> tuple[int, int, int]:
    """``(start, out_len, lexp)`` exactly as ``torch.istft`` slices its overlap-added signal."""
    lexp = n_fft + hop * (T - 1)
    start = n_fft // 2 if center else 0
    if length is not None:
        out_len = length
    else:
        out_len = lexp - 2 * (n_fft // 2) if center else lexp
    return start, out_len, lexp


@functools.lru_cache(maxsize=256)
def _check_nola(n_fft: int, hop: int, win: int, window: str, center: bool, T: int, length: int | None) -> None:
    """Raise ``ValueError`` if the window envelope ``sum_t w^2[p - t hop]`` vanishes inside the output.

    Host-only (float64 on the CPU, once per geometry and length): no device sync, nothing allocated
    on the device, so it is safe inside a CUDA-graph capture. The kernels compute the envelope itself.
    """
    start, out_len, lexp = _istft_lengths(n_fft, hop, center, T, length)
    w = C.window64(win, window)
    left = (n_fft - win) // 2
    env = torch.zeros(lexp, dtype=torch.float64)
    idx = (torch.arange(T)[:, None] * hop + left + torch.arange(win)[None, :]).reshape(-1)
    env.index_add_(0, idx, (w * w).repeat(T))
    end = min(start + out_len, lexp)
    region = env[start:end]
    if region.numel() and bool((region.abs() < 1e-11).any()):
        raise ValueError(
            f"inverse STFT: the window envelope of n_fft={n_fft}, hop={hop}, win={win} ({window}) is zero "
            "inside the output (NOLA condition fails); use a smaller hop or center=True"
        )


# ------------------------------------------------------------------------------------ launchers
# Block shapes, from the H200 sweeps of 2026-11-27 (bench/spectral.py --tune; docs/benchmarks.md):
# "split" / "mel_split" (bins BF, frames BT, samples BK, num_warps, num_stages) of the dense kernels;
# "synthesis" / "synthesis_split" (frames BT, bins BF, samples BN, warps, stages). The two-level
# kernels take their frames per program from _fft_tile_shape unless "fft" / "fft_synthesis" is set
# here as (BT, 0, 0, warps, stages) (the bench's sweeps do that).
CONFIG: dict[str, tuple[int, int, int, int, int]] = {
    "split": (64, 64, 32, 4, 3),
    "mel_split": (32, 64, 32, 4, 3),
    "synthesis": (64, 32, 64, 4, 2),
    "synthesis_split": (64, 32, 64, 4, 2),
}


def _fft_tile_shape(kind: str, ft: dict) -> tuple[int, int, int]:
    """``(BT, num_warps, num_stages)`` of a two-level kernel for its DFT factorisation.

    Register tiles hold ``BT * QP * PP`` values per GEMM operand; past about 1024 per warp (analysis)
    or 256 (synthesis) they spill, which the sweeps showed as 2-4x slowdowns. Measured best: analysis
    BT 8 / 8 warps for n_fft 400-1024, BT 2 / 4 warps for 2048; synthesis BT 1 for 1024 and 2048,
    BT 2 for 512 (4 warps).
    """
    if kind in CONFIG:
        BT, _, _, nw, ns = CONFIG[kind]
        return BT, nw, ns
    size = ft["QP"] * ft["PP"]
    if kind == "fft":
        return (8, 8, 2) if size <= 1024 else (max(1, 4096 // size), 4, 2)
    return max(1, 1024 // size), 4, 2


# Which DFT the analysis ops use: the dense one-GEMM DFT over the window's support while
# n_fft < FFT_MIN_NFFT or win <= DENSE_MAX_WIN, the two-level (Cooley-Tukey) DFT otherwise. The
# two-level one measured faster than the dense one at every benchmark geometry (n_fft 400-2048,
# windows 320-2048; docs/benchmarks.md), so DENSE_MAX_WIN is 0.
FFT_MIN_NFFT = 256
DENSE_MAX_WIN = 0
# the synthesis kernels (inverse STFT, backward passes) use the two-level inverse DFT from this n_fft on
FFT_SYNTHESIS_MIN_NFFT = 256
# the dense synthesis kernel's GEMMs: TF32-split coefficients against pre-split bases (True) or tf32x3
SYNTHESIS_SPLIT = True


def _dense(g: _Geom) -> bool:
    return g.win <= DENSE_MAX_WIN or g.n_fft < FFT_MIN_NFFT


def _pad_split(x2: torch.Tensor, g: _Geom, off: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The padded signal as TF32 head and tail arrays ``(B, LP)`` (:func:`pad_split_kernel`).

    Padded position ``p`` holds signal sample ``p + off - left`` (reflect/constant padding applied),
    so frame ``t`` sample ``n`` of the window's support is at ``t * hop + left + n``.
    """
    B = x2.shape[0]
    pad = g.left - off
    LP = max(g.L + 2 * pad, (g.T - 1) * g.hop + g.n_fft, 1)
    xh = torch.empty(B, LP, device=x2.device, dtype=torch.float32)
    xl = torch.empty_like(xh)
    K.pad_split_kernel[(triton.cdiv(LP, 2048), B)](x2, xh, xl, g.L, LP, pad, PAD=g.padmode, BLOCK=2048)
    return xh, xl, LP


def _analysis(x2: torch.Tensor, g: _Geom, window: str, epi: int, T: int | None = None,
              aux1: torch.Tensor | None = None, aux2: torch.Tensor | None = None,
              eps: float = 0.0, off: int | None = None, impl: str = "triton") -> tuple[torch.Tensor, torch.Tensor]:
    """Windowed DFT of ``x2`` ``(B, L)`` with epilogue ``epi``; returns ``(out1, out2)`` ``(B, F, T)`` float32."""
    if _use_cuda(impl, g):
        return C.analysis(_f32(x2), g, window, epi, g.T if T is None else T, aux1, aux2, eps,
                          off=None if off is None else off - g.left)
    B = x2.shape[0]
    F = g.n_fft // 2 + 1
    T = g.T if T is None else T
    out1 = torch.empty(B, F, T, device=x2.device, dtype=torch.float32)
    out2 = torch.empty_like(out1) if epi in (K.EPI_COMPLEX, K.EPI_AMP_PHASE, K.EPI_INV_BWD) else out1
    if B == 0 or T <= 0:
        return out1, out2
    off = g.left - g.pad if off is None else off
    tb = _tables(g.n_fft, g.win, window, x2.device)
    if not _dense(g):
        ft = _fft_tables(g.n_fft, g.win, window, x2.device)
        BT, nw, ns = _fft_tile_shape("fft", ft)
        K.analysis_fft_kernel[(triton.cdiv(T, BT), B)](
            x2, g.L, T, g.hop, off - g.left, ft["P"], ft["Q"], ft["a_lo"], g.left, g.win, F,
            ft["wpad"], ft["d1c"], ft["d1s"], ft["twc"], ft["tws"], ft["c2"], ft["s2"],
            out1, out2, out1 if aux1 is None else aux1, out1 if aux2 is None else aux2, tb["ck"], float(eps),
            PAD=g.padmode, EPI=epi, BT=BT, PP=ft["PP"], QP=ft["QP"], AP=ft["AP"], K2P=ft["K2P"],
            num_warps=nw, num_stages=ns,
        )
        return out1, out2
    xh, xl, LP = _pad_split(x2, g, off)
    BF, BT, BK, nw, ns = CONFIG["split"]
    K.dft_split_kernel[(triton.cdiv(F, BF), triton.cdiv(T, BT), B)](
        xh, xl, LP, T, g.hop, g.left, tb["ch"], tb["cl"], tb["sh"], tb["sl"], tb["WP"], g.win, F,
        out1, out2, out1 if aux1 is None else aux1, out1 if aux2 is None else aux2, tb["ck"], float(eps),
        EPI=epi, BF=BF, BT=BT, BK=BK, num_warps=nw, num_stages=ns,
    )
    return out1, out2


def _mel(x2: torch.Tensor, g: _Geom, window: str, fb: torch.Tensor, power: int, log: int,
         top_db: float | None, eps: float, impl: str = "triton", cache: bool = False) -> torch.Tensor:
    """``LOG(fb @ |STFT|^power)`` ``(B, M, T)``; ``cache``: the CUDA kernel may keep the filterbank's ranges
    (plain eager calls only, see :func:`_route`)."""
    if _use_cuda(impl, g):
        floor = None
        if log == K.LOG_DB and top_db is not None:
            floor = (float(top_db), 0.0, 1.0)
        elif log == K.LOG_WHISPER:
            floor = (8.0, 4.0, 0.25)
        T = g.T - 1 if log == K.LOG_WHISPER else g.T
        return C.mel(_f32(x2), g, window, fb, power, log, max(T, 0), floor, eps, cache=cache)
    B = x2.shape[0]
    F = g.n_fft // 2 + 1
    M = fb.shape[0]
    T = g.T - 1 if log == K.LOG_WHISPER else g.T
    out = torch.empty(B, M, max(T, 0), device=x2.device, dtype=torch.float32)
    if B == 0 or T <= 0:
        return out
    fb = fb.to(device=x2.device, dtype=torch.float32)
    peak = torch.full((B,), -float("inf"), device=x2.device, dtype=torch.float32)
    if not _dense(g):
        # two-level FFT power/magnitude kernel, then the projection as one batched fp32 GEMM and the
        # log epilogue in place (the mel projection has no cancellation, any GEMM precision is fine)
        S = _analysis(x2, g, window, K.EPI_POWER if power == 2 else K.EPI_MAG, T=T)[0]
        torch.matmul(fb, S, out=out)
        if log != K.LOG_NONE:
            N = M * T
            K.log_kernel[(triton.cdiv(N, 1024), B)](out, peak, N, float(eps), LOG=log, BLOCK=1024)
    else:
        tb = _tables(g.n_fft, g.win, window, x2.device)
        BM = max(16, triton.next_power_of_2(M))
        xh, xl, LP = _pad_split(x2, g, g.left - g.pad)
        BF, BT, BK, nw, ns = CONFIG["mel_split"]
        K.mel_split_kernel[(triton.cdiv(T, BT), B)](
            xh, xl, LP, T, g.hop, g.left, tb["ch"], tb["cl"], tb["sh"], tb["sl"], tb["WP"], g.win, F,
            fb, fb.stride(0), fb.stride(1), M, out, peak, float(eps),
            POWER=power, LOG=log, BF=BF, BT=BT, BK=BK, BM=BM, num_warps=nw, num_stages=ns,
        )
    floor = None
    if log == K.LOG_DB and top_db is not None:
        floor, scale, shift = float(top_db), 1.0, 0.0
    elif log == K.LOG_WHISPER:
        floor, scale, shift = 8.0, 0.25, 4.0
    if floor is not None:
        N = M * T
        BLOCK = 1024
        K.floor_kernel[(triton.cdiv(N, BLOCK), B)](out, peak, N, floor, scale, shift, BLOCK=BLOCK)
    return out


def _synthesis(B: int, g: _Geom, window: str, pro: int, T: int, a3: torch.Tensor, a4: torch.Tensor,
               a1: torch.Tensor | None = None, a2: torch.Tensor | None = None,
               fb: torch.Tensor | None = None, power: int = 2, eps: float = 0.0,
               inverse: tuple[int, int, int] | None = None, impl: str = "triton") -> torch.Tensor:
    """Run :func:`synthesis_kernel`; returns the float32 waveform (gradient) ``(B, L)``.

    ``inverse = (start, out_len, lexp)`` selects the inverse-STFT epilogue (envelope-normalised).
    With ``impl="cuda"`` (geometry permitting) the CUDA kernel runs instead; it has no mel prologue
    (callers project a mel gradient first).
    """
    if pro != K.PRO_MEL_BWD and _use_cuda(impl, g, synthesis=True):
        mode = {K.PRO_INV: C.MODE_INV, K.PRO_AP_BWD: C.MODE_AP_BWD, K.PRO_SPEC_BWD: C.MODE_SPEC_BWD}[pro]
        return C.synthesis(B, g, window, mode, T, a3, a4, a1=a1, a2=a2, power=power, eps=eps, inverse=inverse)
    dev = a3.device
    F = g.n_fft // 2 + 1
    tb = _tables(g.n_fft, g.win, window, dev)
    nj = -(-g.win // g.hop) + 1
    if inverse is None:
        L, off, start, lexp = g.L, g.left - g.pad, 0, 0
    else:
        start, L, lexp = inverse
        off = g.left
    y = torch.zeros(B, L, device=dev, dtype=torch.float32)
    if B == 0 or T <= 0 or L == 0:
        return y
    if g.n_fft >= FFT_SYNTHESIS_MIN_NFFT and pro != K.PRO_MEL_BWD:
        ft = _fft_tables(g.n_fft, g.win, window, dev)
        BT, nw, ns = _fft_tile_shape("fft_synthesis", ft)
        K.synthesis_fft_kernel[(triton.cdiv(T, BT), B)](
            a3 if a1 is None else a1, a3 if a2 is None else a2, a3, a4, tb["ck"], float(eps),
            ft["P"], ft["Q"], ft["a_lo"], g.left, g.win, F, T, g.hop,
            ft["wpad"], ft["e1c"], ft["e1s"], ft["twc"], ft["tws"], ft["f2c"], ft["f2s"],
            y, L, -g.pad, tb["wsq"], nj, start, lexp,
            HAS_A1=a1 is not None, HAS_A2=a2 is not None, PRO=pro, POWER=power, PAD=g.padmode,
            INVERSE=inverse is not None, BT=BT, PP=ft["PP"], QP=ft["QP"], AP=ft["AP"], K2P=ft["K2P"],
            num_warps=nw, num_stages=ns,
        )
        return y
    M = 1 if fb is None else fb.shape[0]
    fbt = a3 if fb is None else fb.to(device=dev, dtype=torch.float32)
    split = SYNTHESIS_SPLIT and pro != K.PRO_MEL_BWD
    BT, BF, BN, nw, ns = CONFIG["synthesis_split" if split else "synthesis"]
    BM = max(16, triton.next_power_of_2(M))
    grid = (triton.cdiv(T, BT), B, triton.cdiv(g.win, BN))
    bases = (tb["nch"], tb["nsh"], tb["ncl"], tb["nsl"]) if split else (tb["cwt"], tb["swt"], tb["cwt"], tb["swt"])
    K.synthesis_kernel[grid](
        a3 if a1 is None else a1, a3 if a2 is None else a2, a3, a4,
        fbt, fbt.stride(0) if fb is not None else 0, fbt.stride(1) if fb is not None else 0, M,
        tb["ck"], float(eps), *bases, tb["WP"], tb["FP"], g.win, F, T, g.hop,
        y, L, off, tb["wsq"], nj, start, lexp,
        HAS_A1=a1 is not None, HAS_A2=a2 is not None, PRO=pro, POWER=power, PAD=g.padmode,
        INVERSE=inverse is not None, BT=BT, BF=BF, BN=BN, BM=BM, SPLIT=split, num_warps=nw, num_stages=ns,
    )
    return y


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous() if t.dtype == torch.float32 else t.contiguous().float()


IMPLS = ("triton", "cuda")


def _use_cuda(impl: str, g: _Geom, synthesis: bool = False) -> bool:
    """Whether ``impl`` asks for the CUDA kernels and they handle this geometry (else the Triton ones run)."""
    if impl not in IMPLS:
        raise ValueError(f"spectral kernels: impl must be one of {IMPLS}, got {impl!r}")
    if impl != "cuda" or not C.supports(g.n_fft, g.hop, g.win, synthesis):
        return False
    reason = C.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"impl='cuda': {reason}; use impl='triton'")
    return True


# ------------------------------------------------------------------------------------ custom ops
def _fp32_impl(fn: Callable) -> Callable:
    """Run a custom op's implementation with autocast off.

    A custom op's body runs under the caller's autocast state, so inside ``torch.autocast`` the
    ``torch.matmul`` of the mel projection (and its backward) silently ran in bf16/fp16; the ops
    compute in float32 whatever the ambient autocast.
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not (torch.is_autocast_enabled("cuda") or torch.is_autocast_enabled("cpu")):
            return fn(*args, **kwargs)  # the common case: no context to enter (~3 us of host time)
        dev = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        with torch.autocast(device_type=dev, enabled=False):
            return fn(*args, **kwargs)

    return run


_mel_fp32 = _fp32_impl(_mel)  # what a plain eager mel call runs (see _mel_call)
_OP, _BODY, _FUNCTION = range(3)  # the ways into an op (see _route)


def _plain_cuda(*tensors: torch.Tensor | None) -> bool:
    """Whether ``tensors`` (``None`` skipped) are plain eager CUDA tensors: not tracing or compiling, no
    torch-function or dispatch mode active, no forward-mode AD level, each a CUDA ``torch.Tensor`` that is
    neither a subclass (fake / functional tensors) nor wrapped by ``torch.func``, i.e. memory the CUDA
    launchers can take a data pointer of without a custom op around them."""
    if torch.compiler.is_compiling():
        return False
    for t in tensors:
        if t is not None and (type(t) is not torch.Tensor or not t.is_cuda or torch._C._functorch.is_functorch_wrapped_tensor(t)):
            return False
    return not (torch._C._is_torch_function_mode_enabled() or torch._C._len_torch_dispatch_stack()
                or _fwd_ad._current_level >= 0)


def _route(impl: str, *tensors: torch.Tensor | None) -> int:
    """How a call of an op with ``impl`` on ``tensors`` runs: ``_OP`` (its custom op), ``_BODY`` (the op's body
    straight away) or ``_FUNCTION`` (a ``torch.autograd.Function`` over the body).

    The custom ops are what ``torch.compile``, fake / functional tensors, ``torch.func`` transforms and
    dispatch modes need; a plain eager call needs none of them, and their Python wrappers (schema dispatch,
    default filling, autograd wrapper, redispatch) were most of the host time of a CUDA call (docs/benchmarks.md,
    "host path"). So with ``impl="cuda"`` and plain eager CUDA tensors (:func:`_plain_cuda`): ``_BODY`` when
    autograd would not record the call (grad mode off, or no input requires grad), else ``_FUNCTION`` (the same
    backward as the custom op's). Anything else: ``_OP``.

    >>> _route("cuda", torch.zeros(4)) == _OP  # a CPU tensor: the custom op
    True
    """
    if impl != "cuda" or not DIRECT or not _plain_cuda(*tensors):
        return _OP
    grad = any(t is not None and t.requires_grad for t in tensors)
    return _FUNCTION if grad and torch.is_grad_enabled() else _BODY


class _Op:
    """One spectral op: its custom op ``sigkit::<name>`` (for ``torch.compile``, fake tensors, modes), its
    float32 body (autocast off) and, once :meth:`autograd` registered a backward, a ``torch.autograd.Function``
    over the body with that backward; calling the ``_Op`` picks one by :func:`_route`."""

    def __init__(self, name: str, body: Callable):
        self.body = _fp32_impl(body)
        self.op = torch.library.custom_op(f"sigkit::{name}", mutates_args=())(self.body)
        self.function: type[torch.autograd.Function] | None = None

    def autograd(self, backward: Callable, setup: Callable) -> None:
        """Register ``backward`` / ``setup`` with the custom op, and the same pair as an ``autograd.Function``."""
        self.op.register_autograd(backward, setup_context=setup)
        body = self.body

        def forward(ctx, *args):
            out = body(*args)
            setup(ctx, args, out)
            return out

        self.function = type(f"{body.__name__}_function", (torch.autograd.Function,),
                             dict(forward=staticmethod(forward), backward=staticmethod(backward)))

    def __call__(self, impl: str, tensors: tuple, *args):
        """The op on ``args`` (its schema's arguments); ``tensors``: those of them :func:`_route` inspects."""
        route = _route(impl, *tensors)
        if route == _BODY:
            return self.body(*args)
        if route == _FUNCTION and self.function is not None:
            return self.function.apply(*args)
        return self.op(*args)


def _amp_phase_impl(x: torch.Tensor, n_fft: int, hop: int, win: int, window: str, center: bool,
                    pad_mode: str, eps: float, impl: str = "triton") -> tuple[torch.Tensor, torch.Tensor]:
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    return _analysis(x.contiguous(), g, window, K.EPI_AMP_PHASE, eps=eps, impl=impl)


_AMP_PHASE = _Op("amp_phase", _amp_phase_impl)
_amp_phase_op = _AMP_PHASE.op


@_amp_phase_op.register_fake
def _(x, n_fft, hop, win, window, center, pad_mode, eps, impl="triton"):
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    out = x.new_empty(x.shape[0], n_fft // 2 + 1, g.T, dtype=torch.float32)
    return out, torch.empty_like(out)


def _amp_phase_bwd_impl(g_log_amp: torch.Tensor | None, g_phase: torch.Tensor | None,
                      log_amp: torch.Tensor, phase: torch.Tensor, length: int, n_fft: int, hop: int,
                      win: int, window: str, center: bool, pad_mode: str, eps: float,
                      impl: str = "triton") -> torch.Tensor:
    g = _geom(n_fft, hop, win, center, pad_mode, length)
    return _synthesis(log_amp.shape[0], g, window, K.PRO_AP_BWD, g.T, log_amp, phase,
                      a1=None if g_log_amp is None else _f32(g_log_amp),
                      a2=None if g_phase is None else _f32(g_phase), eps=eps, impl=impl)


_AMP_PHASE_BWD = _Op("amp_phase_backward", _amp_phase_bwd_impl)
_amp_phase_bwd_op = _AMP_PHASE_BWD.op


@_amp_phase_bwd_op.register_fake
def _(g_log_amp, g_phase, log_amp, phase, length, n_fft, hop, win, window, center, pad_mode, eps, impl="triton"):
    return log_amp.new_empty(log_amp.shape[0], length, dtype=torch.float32)


def _amp_phase_setup(ctx, inputs, output):
    x, n_fft, hop, win, window, center, pad_mode, eps, impl = inputs
    ctx.args = (x.shape[-1], n_fft, hop, win, window, center, pad_mode, eps, impl)
    ctx.x_dtype = x.dtype
    ctx.save_for_backward(*output)


def _amp_phase_backward(ctx, g_log_amp, g_phase):
    log_amp, phase = ctx.saved_tensors
    gx = _AMP_PHASE_BWD(ctx.args[-1], (g_log_amp, g_phase, log_amp, phase), g_log_amp, g_phase, log_amp, phase,
                        *ctx.args)
    return gx.to(ctx.x_dtype), None, None, None, None, None, None, None, None


_AMP_PHASE.autograd(_amp_phase_backward, _amp_phase_setup)


def _spectrogram_impl(x: torch.Tensor, n_fft: int, hop: int, win: int, window: str, center: bool,
                      pad_mode: str, power: int, impl: str = "triton") -> torch.Tensor:
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    return _analysis(x.contiguous(), g, window, K.EPI_POWER if power == 2 else K.EPI_MAG, impl=impl)[0]


_SPECTROGRAM = _Op("spectrogram", _spectrogram_impl)
_spectrogram_op = _SPECTROGRAM.op


@_spectrogram_op.register_fake
def _(x, n_fft, hop, win, window, center, pad_mode, power, impl="triton"):
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    return x.new_empty(x.shape[0], n_fft // 2 + 1, g.T, dtype=torch.float32)


def _spectrogram_bwd_impl(grad: torch.Tensor, x: torch.Tensor, fb: torch.Tensor | None, n_fft: int,
                        hop: int, win: int, window: str, center: bool, pad_mode: str,
                        power: int, impl: str = "triton") -> torch.Tensor:
    """Waveform gradient of ``|X|^power`` (``fb`` None, grad ``(B, F, T')``) or of ``fb @ |X|^power``
    (grad ``(B, M, T')``); ``T'`` frames from the first (Whisper's log-mel drops the last)."""
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    T = grad.shape[-1]
    x2 = x.contiguous()
    re, im = _analysis(x2, g, window, K.EPI_COMPLEX, T=T, impl=impl)
    syn = functools.partial(_synthesis, x2.shape[0], g, window, K.PRO_SPEC_BWD, T, re, im, power=power, impl=impl)
    if fb is None:
        return syn(a1=_f32(grad))
    cuda = _use_cuda(impl, g, synthesis=True)
    if CUDA_MEL_BWD and cuda:  # the mel projection inside the CUDA kernel
        return C.synthesis(x2.shape[0], g, window, C.MODE_MEL_BWD, T, re, im, a1=_f32(grad).contiguous(), power=power,
                           fb=fb)
    if n_fft >= FFT_SYNTHESIS_MIN_NFFT or cuda:
        # the FFT synthesis kernels have no mel prologue: project the gradient first
        return syn(a1=torch.matmul(fb.to(device=x2.device, dtype=torch.float32).t(), _f32(grad)))
    return _synthesis(x2.shape[0], g, window, K.PRO_MEL_BWD, T, re, im, a1=_f32(grad), fb=fb, power=power)


_SPECTROGRAM_BWD = _Op("spectrogram_backward", _spectrogram_bwd_impl)
_spectrogram_bwd_op = _SPECTROGRAM_BWD.op


@_spectrogram_bwd_op.register_fake
def _(grad, x, fb, n_fft, hop, win, window, center, pad_mode, power, impl="triton"):
    return x.new_empty(x.shape, dtype=torch.float32)


def _spec_setup(ctx, inputs, output):
    x, n_fft, hop, win, window, center, pad_mode, power, impl = inputs
    ctx.args = (n_fft, hop, win, window, center, pad_mode, power, impl)
    ctx.save_for_backward(x)


def _spec_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    gx = _SPECTROGRAM_BWD(ctx.args[-1], (grad, x), grad, x, None, *ctx.args)
    return gx.to(x.dtype), None, None, None, None, None, None, None, None


_SPECTROGRAM.autograd(_spec_backward, _spec_setup)


def _mel_impl(x: torch.Tensor, fb: torch.Tensor, n_fft: int, hop: int, win: int, window: str, center: bool,
              pad_mode: str, power: int, log: int, top_db: float | None, eps: float,
              impl: str = "triton") -> torch.Tensor:
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    return _mel(x.contiguous(), g, window, fb, power, log, top_db, eps, impl=impl)


_MEL = _Op("mel", _mel_impl)
_mel_op = _MEL.op


@_mel_op.register_fake
def _(x, fb, n_fft, hop, win, window, center, pad_mode, power, log, top_db, eps, impl="triton"):
    g = _geom(n_fft, hop, win, center, pad_mode, x.shape[-1])
    T = g.T - 1 if log == K.LOG_WHISPER else g.T
    return x.new_empty(x.shape[0], fb.shape[0], T, dtype=torch.float32)


def _mel_setup(ctx, inputs, output):
    x, fb, n_fft, hop, win, window, center, pad_mode, power, log, top_db, eps, impl = inputs
    ctx.args = (n_fft, hop, win, window, center, pad_mode, power, impl)
    ctx.log = (log, top_db, eps)
    ctx.save_for_backward(x, fb, output)


def _floored_grad(grad: torch.Tensor, u: torch.Tensor, gap: float | None) -> torch.Tensor:
    """Gradient w.r.t. ``u`` of ``max(u, amax(u) - gap)`` per item (amax ties share, as torch's amax)."""
    if gap is None:
        return grad
    peak = u.amax(dim=(-2, -1), keepdim=True)
    keep = u > peak - gap
    g_peak = torch.where(keep, 0.0, grad).sum(dim=(-2, -1), keepdim=True)
    at_max = u == peak
    share = g_peak / at_max.sum(dim=(-2, -1), keepdim=True)
    return torch.where(keep, grad, 0.0) + torch.where(at_max, share, 0.0)


def _mel_backward(ctx, grad):
    x, fb, out = ctx.saved_tensors
    log, top_db, eps = ctx.log
    grad = grad.float()
    # plain eager calls only: under torch.compile the backward is traced with fake / functional tensors (no data
    # pointers for the launcher), and inductor fuses the torch chain below anyway
    if (CUDA_MEL_BWD and ctx.args[-1] == "cuda" and _plain_cuda(grad, out) and C.available()
            and log in (K.LOG_NATURAL, K.LOG_DB, K.LOG_WHISPER)):
        gap = 8.0 if log == K.LOG_WHISPER else top_db if log == K.LOG_DB else None
        g_mel = C.mel_log_backward(grad, out, log, gap, eps)  # the torch chain below, in two launches
    elif log == K.LOG_NATURAL:  # out = log(max(mel, eps))
        g_mel = torch.where(out > math.log(eps), grad * torch.exp(-out), 0.0)
    elif log == K.LOG_DB:  # out = max(10 log10(max(mel, 1e-10)), peak - top_db)
        gu = _floored_grad(grad, out, top_db)
        g_mel = torch.where(out > -100.0, gu * (10.0 / _LN10) * torch.pow(10.0, -out / 10.0), 0.0)
    elif log == K.LOG_WHISPER:  # out = (max(log10(max(mel, 1e-10)), peak - 8) + 4) / 4
        u = 4.0 * out - 4.0
        gu = _floored_grad(grad * 0.25, u, 8.0)
        g_mel = torch.where(u > -10.0, gu * torch.pow(10.0, -u) / _LN10, 0.0)
    else:
        g_mel = grad
    gx = _SPECTROGRAM_BWD(ctx.args[-1], (g_mel, x, fb), g_mel, x, fb, *ctx.args)
    return (gx.to(x.dtype),) + (None,) * 12


_MEL.autograd(_mel_backward, _mel_setup)


def _istft_impl(log_amp: torch.Tensor, phase: torch.Tensor, n_fft: int, hop: int, win: int, window: str,
                center: bool, length: int, impl: str = "triton") -> torch.Tensor:
    B, _, T = log_amp.shape
    g = _geom(n_fft, hop, win, center, "constant", 0)._replace(T=T)
    start, out_len, lexp = _istft_lengths(n_fft, hop, center, T, length)
    _check_nola(n_fft, hop, win, window, center, T, length)
    return _synthesis(B, g, window, K.PRO_INV, T, _f32(log_amp), _f32(phase), inverse=(start, out_len, lexp),
                      impl=impl)


_ISTFT = _Op("from_amp_phase", _istft_impl)
_istft_op = _ISTFT.op


@_istft_op.register_fake
def _(log_amp, phase, n_fft, hop, win, window, center, length, impl="triton"):
    return log_amp.new_empty(log_amp.shape[0], length, dtype=torch.float32)


def _istft_bwd_impl(grad: torch.Tensor, log_amp: torch.Tensor, phase: torch.Tensor, n_fft: int, hop: int,
                  win: int, window: str, center: bool, length: int,
                  impl: str = "triton") -> tuple[torch.Tensor, torch.Tensor]:
    B, _, T = log_amp.shape
    start, out_len, lexp = _istft_lengths(n_fft, hop, center, T, length)
    g = _geom(n_fft, hop, win, False, "constant", lexp)
    if _use_cuda(impl, g):
        gpad = C.env_scale(_f32(grad), n_fft, hop, win, window, T, start, lexp)
        return _analysis(gpad, g, window, K.EPI_INV_BWD, aux1=_f32(log_amp), aux2=_f32(phase), impl=impl)
    tb = _tables(n_fft, win, window, grad.device)
    gpad = torch.empty(B, lexp, device=grad.device, dtype=torch.float32)
    if B > 0 and lexp > 0:
        grad = grad.contiguous()
        K.env_scale_kernel[(triton.cdiv(lexp, 1024), B)](
            grad, gpad, grad.shape[-1], lexp, start, (n_fft - win) // 2, hop, win, T, tb["wsq"],
            -(-win // hop) + 1, BLOCK=1024)
    return _analysis(gpad, g, window, K.EPI_INV_BWD, aux1=_f32(log_amp), aux2=_f32(phase))


_ISTFT_BWD = _Op("from_amp_phase_backward", _istft_bwd_impl)
_istft_bwd_op = _ISTFT_BWD.op


@_istft_bwd_op.register_fake
def _(grad, log_amp, phase, n_fft, hop, win, window, center, length, impl="triton"):
    out = log_amp.new_empty(log_amp.shape, dtype=torch.float32)
    return out, torch.empty_like(out)


def _istft_setup(ctx, inputs, output):
    log_amp, phase, n_fft, hop, win, window, center, length, impl = inputs
    ctx.args = (n_fft, hop, win, window, center, length, impl)
    ctx.dtypes = (log_amp.dtype, phase.dtype)
    ctx.save_for_backward(log_amp, phase)


def _istft_backward(ctx, grad):
    log_amp, phase = ctx.saved_tensors
    g_la, g_ph = _ISTFT_BWD(ctx.args[-1], (grad, log_amp, phase), grad, log_amp, phase, *ctx.args)
    return g_la.to(ctx.dtypes[0]), g_ph.to(ctx.dtypes[1]), None, None, None, None, None, None, None


_ISTFT.autograd(_istft_backward, _istft_setup)


# ------------------------------------------------------------------------------------ public API
def _no_float64(*tensors: torch.Tensor) -> None:
    # sigkit.spectral routes float64 to its reference before calling here; the kernels are float32 only.
    if any(t.dtype == torch.float64 for t in tensors):
        raise ValueError("the spectral kernels compute in float32; call sigkit.spectral, which runs float64 "
                         "inputs on its reference")


def _spec_args(spec) -> tuple:
    return (spec.n_fft, spec.hop, spec.win, spec.window, spec.center, spec.pad_mode)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x if x.dim() == 2 else x.reshape(-1, x.shape[-1])


def _unflat(out: torch.Tensor, batch: torch.Size) -> torch.Tensor:
    """``out`` ``(B, ...)`` with its batch dimension back to ``batch`` (no-op for a 2-D input)."""
    return out if len(batch) == 1 else out.reshape(*batch, *out.shape[1:])


def _mel_call(x: torch.Tensor, spec, fb: torch.Tensor, power: int, log: int, top_db: float | None, eps: float,
              impl: str) -> torch.Tensor:
    """The mel op on the flattened ``x``; a call that :func:`_route` sends to the body keeps the filterbank's
    ranges for the next call (``cache``: no CUDA-graph pool can be involved in a plain eager call)."""
    x2 = _flat(x)
    if _route(impl, x, fb) == _BODY:
        g = _geom(spec.n_fft, spec.hop, spec.win, spec.center, spec.pad_mode, x2.shape[-1])
        return _mel_fp32(x2.contiguous(), g, spec.window, fb, power, log, top_db, eps, impl=impl, cache=True)
    return _MEL(impl, (x, fb), x2, fb, *_spec_args(spec), power, log, top_db, eps, impl)


def spectrogram(x: torch.Tensor, spec, power: float = 2.0, impl: str = "triton") -> torch.Tensor:
    """Fused ``|STFT(x)| ** power`` (power 1 or 2): ``(..., T)`` -> ``(..., n_fft // 2 + 1, frames)`` float32.

    Example:
        >>> import os, torch; from sigkit.spectral import STFTSpec
        >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
        >>> if dev == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        ...     S = spectrogram(torch.randn(2, 400, device=dev), STFTSpec(64, 16, 48), power=2.0)
        ...     assert S.shape == (2, 33, 26)
    """
    if power not in (1.0, 2.0):
        raise ValueError(f"spectrogram kernel: power must be 1 or 2, got {power}")
    _no_float64(x)
    args = (_flat(x), *_spec_args(spec), int(power), impl)
    S = _SPECTROGRAM(impl, (x,), *args)
    return _unflat(S, x.shape[:-1])


def amp_phase(x: torch.Tensor, spec, eps: float = 1e-4, impl: str = "triton") -> tuple[torch.Tensor, torch.Tensor]:
    """Fused AP-BWE ``(log(|X| + eps), angle(X))``, each ``(..., n_fft // 2 + 1, frames)`` float32.

    Example:
        >>> import os, torch; from sigkit.spectral import STFTSpec
        >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
        >>> if dev == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        ...     la, ph = amp_phase(torch.randn(400, device=dev), STFTSpec(64, 16, 48))
        ...     assert la.shape == ph.shape == (33, 26)
    """
    _no_float64(x)
    args = (_flat(x), *_spec_args(spec), float(eps), impl)
    la, ph = _AMP_PHASE(impl, (x,), *args)
    return _unflat(la, x.shape[:-1]), _unflat(ph, x.shape[:-1])


def from_amp_phase(log_amp: torch.Tensor, phase: torch.Tensor, spec,
                   length: int | None = None, impl: str = "triton") -> torch.Tensor:
    """Fused ``istft(exp(log_amp) * exp(i phase))``: ``(..., F, frames)`` -> ``(..., length)`` float32.

    ``length`` defaults to torch.istft's (``hop * (frames - 1)`` with ``center``).

    Example:
        >>> import os, torch; from sigkit.spectral import STFTSpec
        >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
        >>> if dev == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        ...     spec = STFTSpec(64, 16, 48); x = torch.randn(400, device=dev)
        ...     y = from_amp_phase(*amp_phase(x, spec, eps=0.0), spec, length=400)
        ...     assert (y - x).abs().max() < 1e-4
    """
    _no_float64(log_amp, phase)
    T = log_amp.shape[-1]
    start, out_len, _ = _istft_lengths(spec.n_fft, spec.hop, spec.center, T, length)
    batch = log_amp.shape[:-2]
    la = log_amp if log_amp.dim() == 3 else log_amp.reshape(-1, *log_amp.shape[-2:])
    ph = phase if phase.dim() == 3 else phase.reshape(-1, *phase.shape[-2:])
    args = (la, ph, spec.n_fft, spec.hop, spec.win, spec.window, spec.center, int(out_len), impl)
    y = _ISTFT(impl, (log_amp, phase), *args)
    return _unflat(y, batch)


def mel_spectrogram(x: torch.Tensor, spec, fb: torch.Tensor, power: float = 2.0, impl: str = "triton") -> torch.Tensor:
    """Fused ``fb @ |STFT(x)| ** power`` (``fb``: ``(n_mels, F)``) -> ``(..., n_mels, frames)`` float32.

    Example:
        >>> import os, torch; from sigkit.spectral import STFTSpec, mel_filterbank
        >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
        >>> if dev == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        ...     fb = mel_filterbank(16000, 64, 16, device=dev)
        ...     assert mel_spectrogram(torch.randn(400, device=dev), STFTSpec(64, 16), fb).shape == (16, 26)
    """
    if power not in (1.0, 2.0):
        raise ValueError(f"mel kernel: power must be 1 or 2, got {power}")
    _no_float64(x)
    out = _mel_call(x, spec, fb, int(power), K.LOG_NONE, None, 0.0, impl)
    return _unflat(out, x.shape[:-1])


def log_mel(x: torch.Tensor, spec, fb: torch.Tensor, power: float = 2.0, mode: str = "natural",
            top_db: float | None = 80.0, eps: float = 1e-5, impl: str = "triton") -> torch.Tensor:
    """Fused log-mel in ``sigkit.spectral.log_mel``'s conventions (natural / db / whisper).

    ``"db"`` and ``"whisper"`` floor each item at its own maximum minus ``top_db`` (dB) or 8 (log10);
    ``"whisper"`` drops the last frame and maps ``(v + 4) / 4``. Returns ``(..., n_mels, frames)``.

    Example:
        >>> import os, torch; from sigkit.spectral import STFTSpec, mel_filterbank
        >>> dev = "cuda" if torch.cuda.is_available() else "cpu"
        >>> if dev == "cuda" or os.environ.get("TRITON_INTERPRET") == "1":
        ...     fb = mel_filterbank(16000, 64, 16, device=dev)
        ...     out = log_mel(torch.randn(400, device=dev), STFTSpec(64, 16), fb, mode="whisper")
        ...     assert out.shape == (16, 25)
    """
    if power not in (1.0, 2.0):
        raise ValueError(f"log-mel kernel: power must be 1 or 2, got {power}")
    if mode not in _LOG_MODES:
        raise ValueError(f"log-mel kernel: mode must be one of {tuple(_LOG_MODES)}, got {mode!r}")
    _no_float64(x)
    top = float(top_db) if (mode == "db" and top_db is not None) else None
    out = _mel_call(x, spec, fb, int(power), _LOG_MODES[mode], top, float(eps), impl)
    return _unflat(out, x.shape[:-1])
