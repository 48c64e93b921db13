"""Fused STFT kernels in CUDA C (``kernels/cuda/stft.cuh``), compiled at run time by NVRTC through torch.

Why CUDA C next to the Triton kernels: a float32-accurate DFT in Triton has to run on the tensor
cores as 3xTF32 GEMMs, which measured at about eager torch's speed (``docs/benchmarks.md``). Here each
frame is a true float32 FFT in shared memory (Stockham stages of radix 8/4/2/5/3, butterflies in
registers, twiddles from a table built in float64), so the kernels are bound by memory traffic.

Nothing to install: ``torch.cuda._compile_kernel`` (NVRTC, private torch API present in torch 2.11
and 2.14) compiles each variant the first time it is used on a device and caches it; launches go on
torch's current stream, so CUDA-graph capture and ``torch.compile`` work. :func:`available` says
whether this torch can do it; :func:`supports` whether a geometry has a kernel (even ``n_fft`` whose
half factors into 2, 3 and 5, shared memory permitting); :mod:`sigkit.kernels.spectral` falls back to
its Triton kernels elsewhere.

Functions here take and return float32 contiguous CUDA tensors; the geometry is a
``sigkit.kernels.spectral._Geom``. Shapes: waveforms ``(B, L)``, spectra ``(B, F, T)`` with
``F = n_fft // 2 + 1`` and frames contiguous.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import weakref
from pathlib import Path

import torch
from sigkit.kernels.device_cache import device_constant

SOURCE = Path(__file__).with_name("cuda") / "stft.cuh"
RADICES = (8, 4, 2, 5, 3)  # tried in this order when planning the FFT of n_fft / 2 points
SMEM_ANALYSIS = 72 * 1024  # target shared memory per analysis block (frames per block = what fits, <= 16)
SMEM_SYNTHESIS = 100 * 1024  # target per synthesis block
SMEM_MAX = 227 * 1024  # per-block limit of sm_90
MAX_TT = 16
_GEN = [0]  # bumped by every change of CONFIG, VARIANT or AUTO: launch plans cached under an older value are stale
_PLANS: dict[tuple, object] = {}  # cached launch plans and geometry answers (see _memo)


class _Watched(dict):
    """A dict whose changes (item assignment, ``update``, ``clear``, ...) drop the cached launch plans.

    :data:`CONFIG`, :data:`AUTO` and the entries of :data:`VARIANT` are such dicts, so a benchmark or test
    that changes them in place is seen by the next call (the dicts *inside* ``AUTO``'s values are not
    watched: replace an entry, do not edit it). Operations that leave the content as it was keep the plans.

    >>> d = _Watched(a=1); g = _GEN[0]; d["a"] = 1; d.update(a=1); _GEN[0] == g
    True
    >>> d["a"] = 2; _GEN[0] > g
    True
    """

    def _bump(self) -> None:
        _GEN[0] += 1
        _PLANS.clear()

    def __setitem__(self, key, value) -> None:
        if key not in self or self[key] != value:
            super().__setitem__(key, value)
            self._bump()

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self._bump()

    def clear(self) -> None:
        if self:
            super().clear()
            self._bump()

    def update(self, *args, **kwargs) -> None:
        new = dict(*args, **kwargs)
        if any(k not in self or self[k] != v for k, v in new.items()):
            super().update(new)
            self._bump()

    def pop(self, *args):
        had = args[0] in self
        value = super().pop(*args)
        if had:
            self._bump()
        return value

    def popitem(self):
        item = super().popitem()
        self._bump()
        return item

    def setdefault(self, key, default=None):
        if key in self:
            return self[key]
        self[key] = default
        return default

    def __ior__(self, other):
        self.update(other)
        return self


def _memo(fn):
    """``fn`` (positional hashable arguments) cached in :data:`_PLANS` until CONFIG / VARIANT / AUTO change.

    The per-call host path (geometry support, tile and variant choice, kernel key) is pure Python on a
    handful of ints: computed once per shape, a dict lookup afterwards.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def cached(*args, **kwargs):
        key = (name, _GEN[0], args, tuple(kwargs.items())) if kwargs else (name, _GEN[0], args)
        hit = _PLANS.get(key)
        if hit is None:
            hit = fn(*args, **kwargs)
            _PLANS[key] = hit
        return hit

    cached.uncached = fn
    return cached


# Tile overrides for benchmarks and sweeps: {"analysis": (frames, threads), "synthesis": (frames, threads)}.
CONFIG: dict[str, tuple[int, int]] = _Watched()
# Compile-time variants of each kernel kind (what :func:`analysis`, :func:`mel` and :func:`synthesis` launch):
#   warp: 1 = warp-synchronous FFT (a group of wpf(n_fft) warps owns a frame and separates its Stockham
#         stages by __syncwarp / a named group barrier, no block barrier until the epilogue; the analysis
#         kernel's first stage reads its butterflies straight from global memory, skipping pair blocks
#         outside the window's support); 0 = the block-synchronous stages.
#   fast: 1 = approximate sqrt / log / atan2 in the analysis epilogue and exp / sincos (argument reduced
#         to [-pi, pi]) in the synthesis prologue (errors ~1e-7 to 1e-6, see stft.cuh); 0 = IEEE.
#   lean (analysis only): 1 = fewer instructions per frame where the Nsight Compute profile of
#         2026-11-27 found them (docs/benchmarks.md): float2 loads of the sample pairs of frames inside
#         the signal, 32-bit output offsets, and with fast = 1 denormal-flushing approximations.
#   reg (analysis only, where :func:`reg_plan` has a plan: n_fft 128, 256, 512, 1024, 2048): 1 = register-resident
#         FFT, RR values per lane, one shared-memory transpose and (n_fft 256, 1024) one radix-2 exchange by
#         warp shuffles instead of one shared-memory pass per Stockham stage; elsewhere ignored (warp / block).
#         At 2048 RR = 32 (128 registers a thread, MINB from :func:`_minb`).
# Benchmarks and tests set these (``variant``, SIGKIT_CUDA_SPECTRAL_VARIANT); None = the per-geometry
# default of :data:`AUTO` (the variants measured fastest).
VARIANT: dict[str, dict[str, int | None]] = {"analysis": _Watched(warp=None, fast=None, lean=None, reg=None),
                                             "synthesis": _Watched(warp=None, fast=None)}
# Default flags by (kind, n_fft, EPI / MODE or None = any), the most specific entry first; absent = 0.
# Each entry is the variant measured fastest for its batch-32 op, beyond the spread of the repetitions, in a call
# whose GPU tests of that variant passed; docs/benchmarks.md ("Spectral kernels") has every such measurement
# (date, device, command, the alternatives' times). The latest: reg (32 values per lane) at n_fft 2048, in 16
# frames / 512 threads (H100, 2026-11-27 ~11:43): power / amplitude-phase / dB log-mel 0.176 / 0.250 / 0.233 ms
# against warp + fast + lean's 0.197 / 0.372 / 0.246. They apply at the full analysis tile only (calls of few
# frames get smaller tiles, not timed) and to synthesis blocks that own at least as many frames as they recompute.
AUTO: dict[tuple[str, int, int | None], dict[str, int]] = _Watched()


def _code_consts():  # filled in after the EPI / MODE constants are defined
    lean = dict(warp=1, fast=1, lean=1)
    AUTO.update({("analysis", 400, EPI_MEL): lean,
                 ("analysis", 512, EPI_POWER): dict(lean, reg=1), ("analysis", 512, EPI_AMP_PHASE): lean,
                 ("analysis", 512, EPI_MEL): dict(lean, reg=1),
                 ("analysis", 1024, EPI_AMP_PHASE): lean, ("analysis", 1024, EPI_MEL): dict(lean, reg=1),
                 ("analysis", 2048, EPI_POWER): dict(lean, reg=1), ("analysis", 2048, EPI_AMP_PHASE): dict(lean, reg=1),
                 ("analysis", 2048, EPI_MEL): dict(lean, reg=1),
                 ("synthesis", 512, MODE_INV): dict(warp=1, fast=1),
                 ("synthesis", 1024, MODE_INV): dict(fast=1),
                 ("synthesis", 2048, MODE_INV): dict(warp=1, fast=1)})


def flags(kind: str, n_fft: int, code: int | None = None, small: bool = False) -> dict[str, int]:
    """The variant flags a ``kind`` kernel of ``n_fft`` (epilogue / mode ``code``) is compiled with;
    ``small``: a shrunk analysis tile (few frames), where :data:`AUTO` does not apply.

    >>> with variant(analysis=dict(warp=1)):
    ...     flags("analysis", 1024, EPI_AMP_PHASE)["warp"]
    1
    >>> flags("analysis", 2048, EPI_AMP_PHASE)["warp"], flags("analysis", 2048, EPI_AMP_PHASE, small=True)["warp"]
    (1, 0)
    """
    auto = {} if small else AUTO.get((kind, n_fft, code)) or AUTO.get((kind, n_fft, None)) or {}
    return {f: int(auto.get(f, 0)) if v is None else int(v) for f, v in VARIANT[kind].items()}

EPI_COMPLEX, EPI_AMP_PHASE, EPI_POWER, EPI_MAG, EPI_INV_BWD, EPI_MEL = range(6)
MODE_INV, MODE_AP_BWD, MODE_SPEC_BWD, MODE_MEL_BWD = range(4)
_code_consts()


# ------------------------------------------------------------------------------------ availability
def available() -> bool:
    """True when torch can compile CUDA C at run time (``torch.cuda._compile_kernel``) and a GPU is present."""
    return unavailable_reason() is None


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why the CUDA kernels cannot run here (``None`` when they can)."""
    if not hasattr(torch.cuda, "_compile_kernel"):
        return f"torch {torch.__version__} has no torch.cuda._compile_kernel (NVRTC run-time compilation)"
    if not torch.cuda.is_available() or torch.version.hip:
        return "no CUDA device"
    return None


def fft_plan(half: int) -> tuple[int, ...] | None:
    """Radices of the Stockham FFT of ``half`` points (greedy, :data:`RADICES` order), or None.

    >>> fft_plan(512), fft_plan(200), fft_plan(7)
    ((8, 8, 8), (8, 5, 5), None)
    """
    plan, m = [], half
    for r in RADICES:
        while m % r == 0 and m > 1:
            plan.append(r)
            m //= r
    return tuple(plan) if m == 1 and half > 1 else None


def fstride(n_fft: int) -> int:
    """float2 slots per frame in shared memory: ``n_fft / 2`` values, one pad slot after every 32, odd."""
    half = n_fft // 2
    fs = (half - 1) + ((half - 1) >> 5) + 1
    return fs + 1 - fs % 2


def _frame_bytes(n_fft: int) -> int:
    return fstride(n_fft) * 8


def extra_frames(hop: int, win: int) -> int:
    """Frames before a synthesis block's own that overlap its first output samples: ``ceil(win / hop) - 1``."""
    return max(0, -(-win // hop) - 1)


class variant:
    """Context manager setting :data:`VARIANT` entries, e.g. ``with variant(analysis=dict(warp=1, fast=1)):``."""

    def __init__(self, **kinds: dict[str, int]):
        self.kinds = kinds
        self.saved: dict[str, dict[str, int]] = {}

    def __enter__(self):
        for kind, flags in self.kinds.items():
            self.saved[kind] = dict(VARIANT[kind])
            VARIANT[kind].update(flags)
        return self

    def __exit__(self, *exc):
        for kind, flags in self.saved.items():
            if VARIANT[kind] != flags:  # unchanged flags keep the cached launch plans
                VARIANT[kind].clear()
                VARIANT[kind].update(flags)


_REG_SHAPES = ((16, 1), (16, 2), (32, 1), (8, 1), (8, 2))  # (RR, RG) of the register-resident FFTs, first match wins


def reg_plan(half: int) -> tuple[int, int] | None:
    """``(RR, RG)`` of the register-resident FFT of ``half = RR * RR * RG`` points (RR values per lane, RG
    lanes per output column, ``RR * RG`` lanes per frame, within one warp), or None (no such variant). At
    ``half`` 1024 (n_fft 2048) 32 values per lane (a 32-point DFT in registers: 128 registers a thread, see
    :func:`_minb`), so that a frame still needs one warp and one shared-memory transpose.

    >>> reg_plan(512), reg_plan(256), reg_plan(128), reg_plan(200), reg_plan(1024), reg_plan(2048)
    ((16, 2), (16, 1), (8, 2), None, (32, 1), None)
    """
    return next(((rr, rg) for rr, rg in _REG_SHAPES if rr * rr * rg == half), None)


def group_lanes(n_fft: int, fl: dict[str, int]) -> int:
    """Threads that transform one frame in the analysis kernel of flags ``fl``: ``RR * RG`` (reg), ``32 wpf`` (warp).

    >>> group_lanes(1024, dict(warp=1, reg=1)), group_lanes(512, dict(warp=0, reg=1)), group_lanes(4096, dict(warp=1, reg=1))
    (32, 16, 256)
    """
    rp = reg_plan(n_fft // 2) if fl.get("reg") else None
    return rp[0] * rp[1] if rp else 32 * wpf(n_fft)


def wpf(n_fft: int) -> int:
    """Warps per frame of the warp-synchronous FFT: one up to n_fft 1024 (2 radix-8 butterflies per lane
    and stage), then 256 points per warp (1 per lane), so that a stage fits in 64 registers (ptxas:
    wpf 2 at n_fft 2048 spilled 24-56 bytes, wpf 4 none).

    >>> wpf(400), wpf(1024), wpf(2048), wpf(4096)
    (1, 1, 4, 8)
    """
    half = n_fft // 2
    return 1 if half <= 512 else half // 256


def _warp_threads(tt: int, nf: int, n_fft: int, cap: int = 512, gt: int | None = None) -> int:
    """Threads of a warp-mode block of ``nf`` frames (``tt`` owned): one group (``gt`` threads, default ``32 wpf``)
    per frame up to ``cap`` threads."""
    gt = gt or 32 * wpf(n_fft)
    groups = max(1, min(nf, cap // gt))
    if gt > 32:
        groups = min(groups, 15)  # named barriers 1..15 (0 is __syncthreads)
    return groups * gt


def _minb(nt: int, warp: int, kind: str = "analysis", rr: int = 0) -> int:
    """Blocks per multiprocessor promised to ptxas: 2 (the block kernels' and the warp synthesis kernel's
    setting: 85 registers at 384 threads), or for the warp analysis kernel enough for 64 registers per
    thread (1024 threads resident); the reg kernel with 32 values per lane (``rr`` 32) 128 registers (512
    threads: its 32-point DFTs spill at 64)."""
    if rr == 32:
        return max(1, 512 // nt)
    return max(2, 1024 // nt) if warp and kind == "analysis" else 2  # (reg: called with warp = 1)


def _parse_variant(text: str) -> None:
    """Apply ``SIGKIT_CUDA_SPECTRAL_VARIANT`` (``"analysis.warp=1,analysis.fast=1,synthesis.warp=1"``) to :data:`VARIANT`."""
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, val = item.partition("=")
        kind, _, flag = key.partition(".")
        if kind not in VARIANT or flag not in VARIANT[kind]:
            raise ValueError(f"SIGKIT_CUDA_SPECTRAL_VARIANT: unknown entry {item!r}")
        VARIANT[kind][flag] = int(val)


_parse_variant(os.environ.get("SIGKIT_CUDA_SPECTRAL_VARIANT", ""))


def analysis_tile(n_fft: int, mel: bool = False, frames: int | None = None, sms: int = 132,
                  epi: int | None = None) -> tuple[int, int]:
    """``(frames per block, threads)`` of the analysis kernel (see :func:`analysis_plan`)."""
    return analysis_plan(n_fft, mel, frames, sms, epi)[:2]


def analysis_plan(n_fft: int, mel: bool = False, frames: int | None = None, sms: int = 132,
                  epi: int | None = None) -> tuple[int, int, dict[str, int]]:
    """``(frames per block, threads, variant flags)`` of the analysis kernel.

    At most :data:`MAX_TT` frames, within :data:`SMEM_ANALYSIS`: 16, but 8 from n_fft 1024 for the block
    kernel (the H200 sweep of 2026-11-27 timed 8 frames / 512 threads at 0.469 ms against 0.511 ms for
    16 at AP-BWE 16 kHz batch 32, and 0.517 against 0.780 ms at 2048/512) while the warp kernel with one
    warp per frame (n_fft <= 1024) keeps 16 (16 warps of 512 threads: 0.253 ms against the block kernel's
    0.421 ms in Nsight Compute at AP-BWE 16 kHz amplitude/phase, H100). For calls of few ``frames``
    (batch x frames) fewer per block, so that there are at least two blocks per multiprocessor (``sms``);
    such a shrunk tile uses the block kernel (:data:`AUTO` applies to full tiles only).

    >>> analysis_plan(1024, epi=EPI_AMP_PHASE), analysis_plan(1024, epi=EPI_AMP_PHASE, frames=2000)[:2]
    ((16, 512, {'warp': 1, 'fast': 1, 'lean': 1, 'reg': 0}), (4, 512))
    >>> analysis_plan(1024, epi=EPI_POWER)
    (8, 512, {'warp': 0, 'fast': 0, 'lean': 0, 'reg': 0})
    """
    code = EPI_MEL if mel else epi
    if "analysis" in CONFIG:
        return (*CONFIG["analysis"], flags("analysis", n_fft, code))
    per = _frame_bytes(n_fft) + ((n_fft // 2 + 2) * 4 if mel else 0)
    fl = _fit_reg(flags("analysis", n_fft, code), n_fft)
    tt = MAX_TT if n_fft // 2 <= 256 or fl["reg"] or (fl["warp"] and wpf(n_fft) == 1) else MAX_TT // 2
    # the reg kernel with 32 values per lane holds one 512-thread block per multiprocessor (128 registers): that
    # block may use all of the shared memory (16 frames timed faster than 8 or 4, H100 2026-11-27)
    budget = SMEM_MAX if fl["reg"] and reg_plan(n_fft // 2)[0] == 32 else SMEM_ANALYSIS
    while tt > 1 and tt * per > budget:
        tt //= 2
    full = tt
    if frames is not None:
        while tt > 1 and -(-frames // tt) < 2 * sms:
            tt //= 2
    if tt < full:
        fl = _fit_reg(flags("analysis", n_fft, code, small=True), n_fft)
    if fl["warp"] or fl["reg"]:
        return tt, _warp_threads(tt, tt, n_fft, gt=group_lanes(n_fft, fl)), fl
    return tt, _threads(tt, n_fft), fl


def _fit_reg(fl: dict[str, int], n_fft: int) -> dict[str, int]:
    """``fl`` with ``reg`` 0 where n_fft has no register-resident plan (:func:`reg_plan`)."""
    return dict(fl, reg=0) if fl.get("reg") and reg_plan(n_fft // 2) is None else fl


@functools.lru_cache(maxsize=16)
def _sms(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _threads(tt: int, n_fft: int) -> int:
    """Threads per block: a few radix-8 butterflies per thread per stage, so that with
    ``__launch_bounds__(NT, 2)`` the butterflies fit in registers (ptxas: 64 registers at 512 threads,
    no spills, for n_fft 512-4096; 128 at 256 threads gave half the resident warps). Whisper's 400 at
    16 frames: 512 threads measured 0.387 ms against 0.47-0.62 ms with 256 (H200, batch 32)."""
    work = tt * n_fft // 2
    return 512 if work >= 2048 else 256 if work >= 1024 else 128


def synthesis_tile(n_fft: int, hop: int, win: int, mode: int | None = None) -> tuple[int, int]:
    """``(frames per block, threads)`` of the synthesis kernel (see :func:`synthesis_plan`)."""
    return synthesis_plan(n_fft, hop, win, mode)[:2]


def synthesis_plan(n_fft: int, hop: int, win: int, mode: int | None = None) -> tuple[int, int, dict[str, int]]:
    """``(frames per block, threads, variant flags)`` of the synthesis kernel (shared memory ~
    :data:`SMEM_SYNTHESIS`). :data:`AUTO` applies only where the block owns at least as many frames as
    it recomputes (the measured tiles: 2048/512 owns 8, recomputes 3), not to dense hops.

    >>> synthesis_plan(2048, 512, 2048, MODE_INV)[2]["warp"], synthesis_plan(2048, 128, 2048, MODE_INV)[2]["warp"]
    (1, 0)
    """
    ex = extra_frames(hop, win)
    tt = MAX_TT
    while tt > 1 and (tt + ex) * _frame_bytes(n_fft) > SMEM_SYNTHESIS:
        tt //= 2
    fl = flags("synthesis", n_fft, mode, small=ex > tt)
    if "synthesis" in CONFIG:
        return (*CONFIG["synthesis"], fl)
    nt = _threads(tt + ex, n_fft)
    if fl["warp"]:
        # 384 threads (85 registers with 2 blocks): at 512 the 1024-point stages spilled 8 bytes
        nt = _warp_threads(tt, tt + ex, n_fft, cap=384)
    return tt, nt, fl


@_memo
def supports(n_fft: int, hop: int, win: int, synthesis: bool = False) -> bool:
    """Whether the CUDA kernels handle this geometry (else the caller uses its Triton kernels).

    >>> supports(1024, 80, 320), supports(400, 160, 400), supports(63, 10, 50), supports(60, 15, 40)
    (True, True, False, True)
    """
    if n_fft % 2 or n_fft < 4 or fft_plan(n_fft // 2) is None:
        return False
    if synthesis:
        tt, _ = synthesis_tile(n_fft, hop, win)
        return (tt + extra_frames(hop, win)) * _frame_bytes(n_fft) <= SMEM_MAX
    return analysis_tile(n_fft, True)[0] * (_frame_bytes(n_fft) + (n_fft // 2 + 2) * 4) <= SMEM_MAX


# ------------------------------------------------------------------------------------ compilation
@functools.lru_cache(maxsize=1)
def _source_text() -> str:
    return SOURCE.read_text()


def twiddle_offsets(half: int) -> tuple[tuple[int, ...], int, int]:
    """Layout of the twiddle table ``tw`` of an FFT of ``half`` points (complex entries): ``(stage offsets, reg
    offset, length)``.

    ``tw[k] = W_N^k`` for ``k < N = 2 half`` (the real-FFT separation); then, per Stockham stage of
    :func:`fft_plan` after the first (radix R after stages of product NS), ``W_(NS R)^(k r)`` at
    ``offset + (r - 1) NS + k`` (k < NS, 0 < r < R); then, where :func:`reg_plan` has a plan, the register-resident
    FFT's ``W_half^(l c)`` at ``offset + (c - 1) GR + l`` (l < GR lanes, 0 < c < RR). Lanes of a warp read
    consecutive entries (k or l): one or two L1 wavefronts per load, where the strided lookups into ``tw[:N]``
    they replace were gathers of up to 32 (2048-point power kernel, H100 Nsight Compute, 2026-11-27: the twiddle
    loads were ~40 % of the L1 wavefronts of a kernel bound at 84 % L1 throughput). Offset 0 for the first stage.

    >>> twiddle_offsets(512)  # stages 8, 8, 8 after NS 1, 8, 64; reg (RR, RG) = (16, 2): 15 x 32
    ((0, 1024, 1080), 1528, 2008)
    """
    n, offs, ns = 2 * half, [], 1
    for r in fft_plan(half) or ():
        offs.append(n if ns > 1 else 0)
        n += (r - 1) * ns if ns > 1 else 0
        ns *= r
    rp, reg = reg_plan(half), n
    if rp:
        n += (rp[0] - 1) * rp[0] * rp[1]
    return tuple(offs), reg, n


def twiddles64(n_fft: int) -> torch.Tensor:
    """The complex128 twiddle table of :func:`twiddle_offsets` (the kernels read it rounded to float32)."""
    half = n_fft // 2
    offs, reg, n = twiddle_offsets(half)
    num, den = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    num[:n_fft], den[:n_fft] = torch.arange(n_fft, dtype=torch.float64), n_fft
    ns = 1
    for off, r in zip(offs, fft_plan(half) or (), strict=True):
        if ns > 1:
            rk = torch.outer(torch.arange(1, r, dtype=torch.float64), torch.arange(ns, dtype=torch.float64))
            num[off:off + rk.numel()], den[off:off + rk.numel()] = rk.flatten(), ns * r
        ns *= r
    rp = reg_plan(half)
    if rp:
        lc = torch.outer(torch.arange(1, rp[0], dtype=torch.float64), torch.arange(rp[0] * rp[1], dtype=torch.float64))
        num[reg:], den[reg:] = lc.flatten(), half
    return torch.polar(torch.ones(n, dtype=torch.float64), -2.0 * math.pi * num / den)


def _stages(half: int) -> str:
    offs = twiddle_offsets(half)[0]
    out, ns = [], 1
    for r, off in zip(fft_plan(half), offs, strict=True):
        out.append(f"stage<{r}, {ns}, {off}>(z, tw);")
        ns *= r
    return " ".join(out)


def _wstages(half: int, skip_first: bool) -> str:
    offs = twiddle_offsets(half)[0]
    out, ns = [], 1
    for i, (r, off) in enumerate(zip(fft_plan(half), offs, strict=True)):
        if i or not skip_first:
            out.append(f"wstage<{r}, {ns}, {off}>(zf, tw, lane, grp);")
        ns *= r
    return " ".join(out)


def kernel_source(kind: str, n_fft: int = 0, tt: int = 1, nt: int = 128, extra: int = 0, minb: int | None = None,
                  warp: int = 0, fast: int = 0, lean: int = 0, reg: int = 0, **macros: int) -> str:
    """The CUDA source of one variant: compile-time ``#define`` lines, then ``kernels/cuda/stft.cuh``.

    ``kind``: ``"analysis"`` (macros EPI, POWER, LOG), ``"synthesis"`` (MODE) or ``"util"``; ``warp``,
    ``fast``, ``lean`` and ``reg`` select the variant (:data:`VARIANT`; ``reg`` needs an analysis kernel and a
    :func:`reg_plan`); ``minb`` defaults to :func:`_minb`.
    """
    # with a register-resident plan the analysis kernel compiles the reg FFT, not the warp FFT (WARP 0: same kernel)
    rp = reg_plan(n_fft // 2) if reg and kind == "analysis" else None
    lines = [f"#define KIND_{kind.upper()} 1", f"#define WARP {0 if rp else int(warp)}", f"#define FAST {int(fast)}",
             f"#define LEAN {int(lean)}"]
    if kind != "util":
        half = n_fft // 2
        nf = tt + extra
        minb = _minb(nt, warp or reg, kind, rp[0] if rp else 0) if minb is None else minb
        lines += [f"#define NFFT {n_fft}", f"#define HALF {half}", f"#define TT {tt}", f"#define NF {nf}",
                  f"#define NT {nt}", f"#define MINB {minb}", f"#define FSTRIDE {fstride(n_fft)}", f"#define EXTRA {extra}",
                  f"#define FFT_STAGES {_stages(half)}"]
        if warp and not rp:
            gt = 32 * wpf(n_fft)
            if nt % gt or (gt > 32 and nt // gt > 15):
                raise ValueError(f"warp variant: {nt} threads do not split into groups of {gt} (at most 15 groups)")
            lines += [f"#define WPF {wpf(n_fft)}", f"#define R0 {fft_plan(half)[0]}",
                      f"#define WFFT_REST {_wstages(half, True)}", f"#define WFFT_ALL {_wstages(half, False)}"]
        if reg:
            if kind != "analysis" or rp is None or nt % (rp[0] * rp[1]):
                raise ValueError(f"reg variant: no {kind} kernel of n_fft {n_fft} in {nt} threads")
            lines += ["#define REG 1", f"#define RR {rp[0]}", f"#define RG {rp[1]}",
                      f"#define RTW {twiddle_offsets(n_fft // 2)[1]}"]
    lines += [f"#define {k} {int(v)}" for k, v in sorted(macros.items())]
    return "\n".join(lines) + "\n" + _source_text()


def compile_offline(kind: str, name: str, arch: str = "90", **kw) -> str:
    """Compile one variant for ``sm_<arch>`` with NVRTC, no GPU needed; returns ptxas's resource report.

    What the CPU test runs for every kernel variant (a broken source raises ``RuntimeError`` with
    NVRTC's log) and what ``bench/spectral.py --static-regs`` prints (registers, spills, shared memory).
    """
    import ctypes

    from torch.cuda._utils import _get_nvrtc_library

    lib = _get_nvrtc_library()
    prog = ctypes.c_void_p()
    src = kernel_source(kind, **kw).encode()
    if lib.nvrtcCreateProgram(ctypes.byref(prog), src, f"{name}.cu".encode(), 0, None, None) != 0:
        raise RuntimeError("nvrtcCreateProgram failed")
    try:
        opts = [f"--gpu-architecture=sm_{arch}".encode(), b"-std=c++17", b"--ptxas-options=-v"]
        res = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        text = log.value.decode(errors="replace")
        if res != 0:
            raise RuntimeError(f"NVRTC failed on {name} {kw}:\n{text}")
        return "\n".join(line for line in text.splitlines() if name in line or "registers" in line or "spill" in line)
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


_KERNELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def _ensure_context(index: int) -> None:
    """Make device ``index``'s primary context current on this thread if none is.

    Autograd runs backward ops on its own thread, where no CUDA context may be current yet (torch's
    runtime calls make it current lazily); loading a module there failed with "invalid device
    context" on the H200 (first backward of a new geometry).
    """
    import ctypes

    from torch.cuda._utils import _get_gpu_runtime_library

    lib = _get_gpu_runtime_library()
    ctx = ctypes.c_void_p()
    if lib.cuCtxGetCurrent(ctypes.byref(ctx)) == 0 and ctx.value:
        return
    dev, pctx = ctypes.c_int(), ctypes.c_void_p()
    for call in (lambda: lib.cuDeviceGet(ctypes.byref(dev), index),
                 lambda: lib.cuDevicePrimaryCtxRetain(ctypes.byref(pctx), dev),
                 lambda: lib.cuCtxSetCurrent(pctx)):
        res = call()
        if res != 0:
            raise RuntimeError(f"cannot make the CUDA context of device {index} current (CUresult {res})")


class _Launcher:
    """A compiled kernel launched through one cached ``cuLaunchKernel`` binding.

    ``torch.cuda._compile_kernel``'s callable reopens libcuda and re-resolves ``cuLaunchKernel`` on
    every call; this keeps the function pointer (same launch: torch's current stream, so CUDA-graph
    capture records it). Falls back to the torch callable if its ``func`` handle is not exposed.
    """

    _launch = None

    def __init__(self, kernel, index: int = 0):
        self.kernel = kernel
        self.func = getattr(kernel, "func", None)
        self.index = index  # the device the kernel was loaded on (its stream is taken at launch)
        self.smem = 0
        self.threads: set[int] = set()
        self.slots: dict[int, _ArgSlot] = {}
        if _Launcher._launch is None and self.func is not None:
            import ctypes

            from torch.cuda._utils import _get_gpu_runtime_library

            fn = _get_gpu_runtime_library().cuLaunchKernel
            fn.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
            fn.restype = ctypes.c_int
            _Launcher._launch = fn

    def set_smem(self, smem: int) -> None:
        if smem > self.smem:
            self.kernel.set_shared_memory_config(smem)
            self.smem = smem

    def __call__(self, grid, block, args, shared_mem: int = 0) -> None:
        if self.func is None:
            self.kernel(grid=grid, block=block, args=args, shared_mem=shared_mem)
            return
        slot = self.slots.get(threading.get_ident())
        if slot is None:
            slot = self.slots[threading.get_ident()] = _ArgSlot(args)
        res = _Launcher._launch(self.func, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_mem,
                                _raw_stream(self.index), slot.fill(args), None)
        if res != 0:
            raise RuntimeError(f"cuLaunchKernel failed with CUresult {res}")


class _ArgSlot:
    """``cuLaunchKernel``'s ``kernelParams`` for one kernel signature: a packed buffer and the array of pointers
    into it, built once and refilled per launch (the driver copies the values during the call). One slot per
    launcher and thread. Tensors are passed as their device pointers, Python floats as ``double``, the rest as
    ``int`` (the kernels' parameter types in ``stft.cuh``).

    >>> slot = _ArgSlot([torch.zeros(1), 3, 0.5])
    >>> import ctypes; ptrs = slot.fill([torch.zeros(1), 7, 2.5])
    >>> ctypes.c_int.from_address(ptrs[1]).value, ctypes.c_double.from_address(ptrs[2]).value
    (7, 2.5)
    """

    def __init__(self, args) -> None:
        import ctypes
        import struct

        self.codes = "".join("Q" if isinstance(a, torch.Tensor) else "d" if isinstance(a, float) else "i" for a in args)
        self.packer = struct.Struct("=" + self.codes)
        self.buf = ctypes.create_string_buffer(max(1, self.packer.size))
        base = ctypes.addressof(self.buf)
        offsets = [struct.calcsize("=" + self.codes[:i]) for i in range(len(self.codes))]
        self.ptrs = (ctypes.c_void_p * max(1, len(offsets)))(*[base + o for o in offsets])

    def fill(self, args):
        """Pack ``args`` (same kinds, in the same order, as the first call's) and return the pointer array."""
        self.packer.pack_into(self.buf, 0, *[a.data_ptr() if c == "Q" else a for c, a in zip(self.codes, args, strict=True)])
        return self.ptrs


def _raw_stream(index: int) -> int:
    """The ``CUstream`` handle of torch's current stream on device ``index`` (what ``cuLaunchKernel`` takes)."""
    return torch._C._cuda_getCurrentRawStream(index)


def _kernel(device: torch.device, name: str, kind: str, smem: int = 0, **kw):
    """Compiled kernel ``name`` of variant (kind, kw) on ``device``, cached; dynamic shared memory configured."""
    return _kernel_of(device, _kernel_key(device.index, name, kind, **kw), smem)


def _kernel_key(index: int, name: str, kind: str, **kw) -> tuple:
    """The :data:`_KERNELS` key of kernel ``name`` of variant ``(kind, kw)`` on device ``index``."""
    return (index, name, kind, tuple(sorted(kw.items())))


def _kernel_of(device: torch.device, key: tuple, smem: int = 0):
    """The kernel of ``key`` (:func:`_kernel_key`) on ``device``: compiled and loaded on first use (also inside a
    CUDA-graph capture), ``smem`` bytes of dynamic shared memory allowed, a context current on this thread."""
    k = _KERNELS.get(key)
    if k is None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"sigkit CUDA spectral kernels unavailable: {reason}; use backend='triton' or 'reference'")
        index, name, kind, kw = key
        with _LOCK, torch.cuda.device(device):
            k = _KERNELS.get(key)
            if k is None:
                _ensure_context(device.index)
                props = torch.cuda.get_device_properties(device)
                k = _Launcher(torch.cuda._compile_kernel(kernel_source(kind, **dict(kw)), name, f"{props.major}{props.minor}",
                                                         None, ["-std=c++17"]), device.index)
                _KERNELS[key] = k
    if smem > k.smem:
        with torch.cuda.device(device):
            _ensure_context(device.index)
            k.set_smem(smem)
    if threading.get_ident() not in k.threads:  # a new thread (autograd's): make sure a context is current
        _ensure_context(device.index)
        k.threads.add(threading.get_ident())
    return k


# ------------------------------------------------------------------------------------ tables
def window64(win: int, window: str) -> torch.Tensor:
    """The ``win``-sample analysis window in float64 (periodic; ``"rect"`` = ones), for both kernel families' tables."""
    if window == "rect":
        return torch.ones(win, dtype=torch.float64)
    return getattr(torch, f"{window}_window")(win, periodic=True, dtype=torch.float64)


def _host_tables(n_fft: int, win: int, window: str) -> dict:
    """Window in the n_fft frame (``wpad``), its square over the support (``wsq``), twiddles (:func:`twiddles64`)."""
    left = (n_fft - win) // 2
    w = window64(win, window)
    wpad = torch.zeros(n_fft, dtype=torch.float64)
    wpad[left:left + win] = w
    tw = torch.view_as_real(twiddles64(n_fft))
    return dict(wpad=wpad.float(), wsq=(w * w).float(), tw=tw.float().contiguous())


def _tables(n_fft: int, win: int, window: str, device: torch.device) -> dict:
    return device_constant(("cuda_stft", n_fft, win, window), lambda: _host_tables(n_fft, win, window), device)


def _fit_lean(fl: dict[str, int], per_item: int) -> dict[str, int]:
    """``fl`` without ``lean`` where one batch item's output (``per_item`` values) needs 64-bit offsets."""
    return dict(fl, lean=0) if fl.get("lean") and per_item >= 2**31 else fl


def _grid(n: int, per: int) -> int:
    return max(1, -(-n // per))


# ------------------------------------------------------------------------------------ launchers
@_memo
def _analysis_setup(index: int, n_fft: int, epi: int, frames: int, per_item: int, power: int = 2,
                    log: int = 0) -> tuple[int, int, int, tuple]:
    """``(frames per block, threads, shared bytes, kernel key)`` of an analysis launch on device ``index`` over
    ``frames`` (batch x frames) with ``per_item`` output values per batch item (cached per shape)."""
    mel = epi == EPI_MEL
    tt, nt, fl = analysis_plan(n_fft, mel=mel, frames=frames, sms=_sms(index), epi=None if mel else epi)
    fl = _fit_lean(fl, per_item)
    smem = tt * _frame_bytes(n_fft) + (tt * (n_fft // 2 + 2) * 4 if mel else 0)
    return tt, nt, smem, _kernel_key(index, "stft_analysis", "analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=epi,
                                     POWER=power, LOG=log, **fl)


def analysis(x2: torch.Tensor, g, window: str, epi: int, T: int, aux1: torch.Tensor | None = None,
             aux2: torch.Tensor | None = None, eps: float = 0.0, off: int | None = None,
             padmode: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Windowed real FFT of ``x2`` ``(B, L)`` float32 with epilogue ``epi``: ``(out1, out2)`` ``(B, F, T)``.

    Frame ``t`` sample ``n`` is signal sample ``t * hop + n + off`` (``off = -pad`` by default),
    reflect-padded when ``padmode`` is 0 (``g.padmode`` by default).
    """
    B, L = x2.shape
    F = g.n_fft // 2 + 1
    out1 = torch.empty(B, F, T, device=x2.device, dtype=torch.float32)
    out2 = torch.empty_like(out1) if epi in (EPI_COMPLEX, EPI_AMP_PHASE, EPI_INV_BWD) else out1
    if B == 0 or T <= 0:
        return out1, out2
    dev = x2.device
    tb = _tables(g.n_fft, g.win, window, dev)
    tt, nt, smem, key = _analysis_setup(dev.index, g.n_fft, epi, B * T, F * T)
    _kernel_of(dev, key, smem)(grid=(_grid(T, tt), B, 1), block=(nt, 1, 1), shared_mem=smem, args=[
        x2, L, T, g.hop, -g.pad if off is None else off, g.padmode if padmode is None else padmode, g.left, g.win,
        tb["wpad"], tb["tw"], out1, out2, out1 if aux1 is None else aux1, out1 if aux2 is None else aux2,
        float(eps), out1, out1, 0, out1])
    return out1, out2


_RANGES: dict[tuple, tuple] = {}  # filterbank -> its nonzero ranges (see _fb_ranges)


def _fb_ranges(fb: torch.Tensor, per_bin: bool, cache: bool = False) -> torch.Tensor:
    """int32 nonzero ranges of the float32 CUDA filterbank ``fb`` ``(M, F)``: ``(M, 2)`` bins ``[lo, hi)`` of each
    filter, or with ``per_bin`` ``(F, 2)`` filters of each bin. One small launch; with ``cache`` (eager calls
    outside CUDA-graph capture only: a cached tensor must not live in a graph's memory pool) kept per filterbank
    tensor, its storage and version, so that repeated calls with the same (cached) filterbank skip it."""
    M, F = fb.shape
    dev = fb.device
    key = (per_bin, fb.data_ptr(), M, F, fb._version, dev.index)
    if cache:
        hit = _RANGES.get(key)
        if hit is not None and hit[0]() is fb:
            return hit[1]
    rng = torch.empty(F if per_bin else M, 2, device=dev, dtype=torch.int32)
    if per_bin:
        _kernel(dev, "mel_bin_ranges", "util")(grid=(_grid(F, 256), 1, 1), block=(256, 1, 1), args=[fb, F, M, rng])
    else:
        _kernel(dev, "mel_ranges", "util")(grid=(M, 1, 1), block=(32, 1, 1), args=[fb, F, rng])
    if cache and not torch.cuda.is_current_stream_capturing():
        if len(_RANGES) >= 64:
            _RANGES.clear()
        _RANGES[key] = (weakref.ref(fb), rng)
    return rng


def mel(x2: torch.Tensor, g, window: str, fb: torch.Tensor, power: int, log: int, T: int,
        floor: tuple[float, float, float] | None, eps: float, cache: bool = False) -> torch.Tensor:
    """``LOG(fb @ |STFT(x2)|^power)`` ``(B, M, T)`` in one launch (+ the per-item floor ``(gap, shift, scale)``).

    ``cache``: keep the filterbank's ranges for the next call (:func:`_fb_ranges`; eager callers only).
    """
    B, L = x2.shape
    M = fb.shape[0]
    out = torch.empty(B, M, T, device=x2.device, dtype=torch.float32)
    if B == 0 or T <= 0:
        return out
    dev = x2.device
    fb = fb.to(device=dev, dtype=torch.float32).contiguous()
    rng = _fb_ranges(fb, False, cache)
    # the per-item running maximum (atomic max), read by the floor: dB and Whisper modes only (LOG >= 2)
    peak = torch.full((B,), -float("inf"), device=dev, dtype=torch.float32) if log >= 2 else out
    tb = _tables(g.n_fft, g.win, window, dev)
    tt, nt, smem, key = _analysis_setup(dev.index, g.n_fft, EPI_MEL, B * T, M * T, power, log)
    _kernel_of(dev, key, smem)(grid=(_grid(T, tt), B, 1), block=(nt, 1, 1), shared_mem=smem, args=[
        x2, L, T, g.hop, -g.pad, g.padmode, g.left, g.win, tb["wpad"], tb["tw"], out, out, out, out, float(eps),
        fb, rng, M, peak])
    if floor is not None:
        gap, shift, scale = floor
        N = M * T
        _kernel(dev, "floor_scale", "util")(grid=(_grid(N, 256), B, 1), block=(256, 1, 1),
                                            args=[out, peak, N, float(gap), float(shift), float(scale)])
    return out


@_memo
def _synthesis_setup(index: int, n_fft: int, hop: int, win: int, mode: int) -> tuple[int, int, int, int, tuple]:
    """``(frames per block, threads, overlapping frames, shared bytes, kernel key)`` of a synthesis launch."""
    ex = extra_frames(hop, win)
    tt, nt, fl = synthesis_plan(n_fft, hop, win, mode)
    smem = (tt + ex) * _frame_bytes(n_fft)
    return tt, nt, ex, smem, _kernel_key(index, "stft_synthesis", "synthesis", n_fft=n_fft, tt=tt, nt=nt, extra=ex,
                                         MODE=mode, **fl)


def synthesis(B: int, g, window: str, mode: int, T: int, a3: torch.Tensor, a4: torch.Tensor,
              a1: torch.Tensor | None = None, a2: torch.Tensor | None = None, power: int = 2, eps: float = 0.0,
              inverse: tuple[int, int, int] | None = None, fb: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse windowed real FFT of the frames + overlap-add, no atomics: ``(B, L)`` float32.

    ``mode``: MODE_INV (``inverse = (start, out_len, lexp)``: ``exp(a3) e^{i a4}``, envelope-normalised,
    torch.istft's cropping), MODE_AP_BWD (waveform gradient of ``amp_phase`` from the gradients
    ``a1, a2`` and the saved outputs ``a3, a4``), MODE_SPEC_BWD (of ``|X|^power`` from its gradient
    ``a1`` and ``X = a3 + i a4``), MODE_MEL_BWD (the same with ``a1`` the gradient ``(B, M, T)`` of
    ``fb @ |X|^power``, projected back inside the kernel over each bin's nonzero filters: no
    ``(B, F, T)`` intermediate and no dense GEMM, which took 0.11 ms of the Whisper batch-32 backward in
    Nsight Compute on an H100); the backward modes include the adjoint of the padding.
    """
    dev = a3.device
    lexp = g.n_fft + g.hop * (T - 1)
    if inverse is None:
        start, out_len = 0, lexp
    else:
        start, out_len, lexp = inverse
    y = torch.empty(B, out_len, device=dev, dtype=torch.float32)
    if B > 0 and out_len > 0:
        if T <= 0:
            y.zero_()
        else:
            tb = _tables(g.n_fft, g.win, window, dev)
            tt, nt, ex, smem, key = _synthesis_setup(dev.index, g.n_fft, g.hop, g.win, mode)
            mel_args = [a3, a3, 0]
            if mode == MODE_MEL_BWD:
                fb = fb.to(device=dev, dtype=torch.float32).contiguous()
                mel_args = [fb, _fb_ranges(fb, True), fb.shape[0]]
            _kernel_of(dev, key, smem)(grid=(_grid(T, tt), B, 1), block=(nt, 1, 1), shared_mem=smem, args=[
                a3 if a1 is None else a1, a3 if a2 is None else a2, a3, a4, int(a1 is not None), int(a2 is not None),
                float(eps), int(power), T, g.hop, g.left, g.win, tb["wpad"], tb["tw"], y, out_len, start, lexp,
                *mel_args])
    if inverse is not None:
        return y
    gx = torch.empty(B, g.L, device=dev, dtype=torch.float32)
    if B > 0 and g.L > 0:
        _kernel(dev, "pad_adjoint", "util")(grid=(_grid(g.L, 256), B, 1), block=(256, 1, 1),
                                            args=[y, out_len, gx, g.L, g.pad, g.padmode])
    return gx


def mel_log_backward(grad: torch.Tensor, out: torch.Tensor, log: int, gap: float | None, eps: float) -> torch.Tensor:
    """Gradient w.r.t. the mel energies of ``out = LOG(mel)`` with the per-item floor ``max(u, peak - gap)``
    (``log``: 1 natural, 2 dB, 3 Whisper; ``gap`` None: no floor), from ``grad``: both ``(B, M, T)`` float32
    CUDA. Two launches (plus ``amax`` for the floor) where the torch chain of ``kernels.spectral._mel_backward``
    takes about twenty (0.6 ms of the Whisper batch-32 backward in Nsight Compute, H100)."""
    B = out.shape[0]
    N = out[0].numel() if B else 0
    g_mel = torch.empty_like(out)
    if B == 0 or N == 0:
        return g_mel
    dev = out.device
    grad, out = grad.contiguous(), out.contiguous()
    floor = gap is not None and log != 1
    peak = out.amax(dim=(-2, -1)).contiguous() if floor else out
    acc = torch.zeros(B, 2, device=dev, dtype=torch.float32) if floor else out
    grid = (_grid(N, 256), B, 1)
    if floor:
        _kernel(dev, "mel_floor_stats", "util")(grid=grid, block=(256, 1, 1), args=[out, grad, peak, N, log, float(gap), acc])
    _kernel(dev, "mel_log_grad", "util")(grid=grid, block=(256, 1, 1), args=[
        out, grad, peak, acc, N, log, float(gap) if floor else -1.0, math.log(eps) if log == 1 else 0.0, g_mel])
    return g_mel


def env_scale(grad: torch.Tensor, n_fft: int, hop: int, win: int, window: str, T: int, start: int,
              lexp: int) -> torch.Tensor:
    """Output gradient of the inverse STFT over the overlap-added frame, divided by the envelope: ``(B, lexp)``."""
    B, out_len = grad.shape
    g = torch.empty(B, lexp, device=grad.device, dtype=torch.float32)
    if B > 0 and lexp > 0:
        tb = _tables(n_fft, win, window, grad.device)
        _kernel(grad.device, "env_scale", "util")(grid=(_grid(lexp, 256), B, 1), block=(256, 1, 1), args=[
            grad, g, out_len, lexp, start, (n_fft - win) // 2, hop, win, T, tb["wsq"]])
    return g
