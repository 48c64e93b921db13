"""The CUDA C spectral kernels (``sigkit.kernels._spectral_cuda``).

On CPU (CI): every kernel variant compiles with NVRTC for sm_90 without spilling registers (a broken
source or a spilling tile fails here), and the FFT planning / geometry rules. With ``--device cuda``:
the kernels against the float64 reference at the benchmark geometries (n_fft 256-4096, Whisper's 400,
AP-BWE's 1024/80/320), with issue 3's tolerances. The small-size cases of every op (forward,
inverse, backward, compile, autocast) run in ``kernels_spectral_cases.py`` with ``impl="cuda"``.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from sigkit.kernels import _spectral_cuda as C

from sigkit.spectral import STFTSpec, amp_phase, from_amp_phase, log_mel, spectrogram


def _nvrtc_loads() -> bool:
    try:
        from torch.cuda._utils import _get_nvrtc_library

        _get_nvrtc_library()
        return True
    except Exception:  # noqa: BLE001 - any failure to load libnvrtc means: cannot compile here
        return False


def _ptxas_reports() -> bool:
    """Whether NVRTC's log holds ptxas's resource report (registers, spills). The libnvrtc of the GPU machine
    (13.0, torch 2.11) compiles but logs nothing with ``--ptxas-options=-v``; the CPU CI's does."""
    return _nvrtc_loads() and "registers" in C.compile_offline("util", "env_scale")


# the spill checks run in CI (CPU); on a GPU machine whose libnvrtc gives no report they are skipped, never on CPU
needs_reports = pytest.mark.skipif(not _nvrtc_loads() or (torch.cuda.is_available() and not _ptxas_reports()),
                                   reason="libnvrtc not loadable, or it prints no ptxas report on this GPU machine")


def test_fft_plan_and_supported_geometries():
    assert C.fft_plan(512) == (8, 8, 8)
    assert C.fft_plan(200) == (8, 5, 5)  # Whisper's 400
    assert C.fft_plan(24) == (8, 3)
    assert C.fft_plan(7) is None and C.fft_plan(1) is None
    assert all(C.supports(n, n // 4, n) for n in (256, 400, 512, 1024, 2048, 4096))
    assert not C.supports(63, 10, 50)  # odd: the Triton kernels run it
    assert not C.supports(1024, 8, 1024, synthesis=True)  # 127 overlapping frames do not fit in shared memory
    tt, nt = C.analysis_tile(1024)
    assert tt * C.fstride(1024) * 8 <= C.SMEM_ANALYSIS and nt in (128, 256, 512)
    assert C.extra_frames(80, 320) == 3 and C.extra_frames(160, 400) == 2


# (warp, fast, lean, reg) variants of kernels/_spectral_cuda.VARIANT: warp and fast for both kinds, lean and reg
# for the analysis kernel (reg where C.reg_plan has a plan: n_fft 128-1024 powers of two); "fast" changes the
# analysis epilogues of amplitude/phase, magnitude and mel, and the synthesis prologues of the inverse and its backward
FLAGS = {"block": (0, 0, 0, 0), "warp": (1, 0, 0, 0), "fast": (0, 1, 0, 0), "warp_fast": (1, 1, 0, 0),
         "block_lean": (0, 0, 1, 0), "warp_fast_lean": (1, 1, 1, 0), "reg": (0, 0, 0, 1), "reg_fast_lean": (1, 1, 1, 1)}


def _variant(name: str) -> C.variant:
    """The :class:`~sigkit.kernels._spectral_cuda.variant` context of ``FLAGS[name]``."""
    warp, fast, lean, reg = FLAGS[name]
    return C.variant(analysis=dict(warp=warp, fast=fast, lean=lean, reg=reg), synthesis=dict(warp=warp, fast=fast))


VARIANTS = [(n, kind, code, flags) for n in (48, 400, 512, 1024, 2048, 4096)
            for kind, code in [("analysis", e) for e in range(6)] + [("synthesis", m) for m in range(4)]
            for flags in FLAGS
            if not (FLAGS[flags][1] and code not in ((C.MODE_INV, C.MODE_AP_BWD) if kind == "synthesis"
                                                     else (C.EPI_AMP_PHASE, C.EPI_MAG, C.EPI_MEL)))
            and not (kind == "synthesis" and (FLAGS[flags][2] or FLAGS[flags][3]))  # lean, reg: analysis only
            # reg only where it has a plan (elsewhere it is the warp / block kernel, compiled above); n_fft 512 only for reg
            and (C.reg_plan(n // 2) is not None if FLAGS[flags][3] else n != 512)
            # the block kernel's 2048-point amplitude/phase and inverse-backward epilogues spill 8-12 bytes
            # (known, before the warp variant; the warp variant at 2048 does not)
            and not (n == 2048 and FLAGS[flags][0] == 0 and kind == "analysis" and code in (1, 4))]


@needs_reports
@pytest.mark.parametrize("n_fft,kind,code,flags", VARIANTS, ids=[f"{n}-{k}-{c}-{f}" for n, k, c, f in VARIANTS])
def test_every_variant_compiles_for_sm90_without_spills(n_fft, kind, code, flags):
    hop, win = n_fft // 4, n_fft
    warp, fast, lean, reg = FLAGS[flags]
    with _variant(flags):
        if kind == "analysis":
            tt, nt, fl = C.analysis_plan(n_fft, mel=code == C.EPI_MEL)
            assert fl == dict(warp=warp, fast=fast, lean=lean, reg=reg)
            report = C.compile_offline("analysis", "stft_analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=code,
                                       POWER=1 if fast else 2, LOG=3 if code == C.EPI_MEL else 0, **fl)
        else:
            tt, nt = C.synthesis_tile(n_fft, hop, win)
            report = C.compile_offline("synthesis", "stft_synthesis", n_fft=n_fft, tt=tt, nt=nt,
                                       extra=C.extra_frames(hop, win), MODE=code, warp=warp, fast=fast)
    assert "Used" in report and "registers" in report
    assert "0 bytes spill stores" in report and "0 bytes spill loads" in report, report


@needs_reports
@pytest.mark.parametrize("n_fft", [400, 512, 1024])
def test_forced_tiles_compile_without_spills(n_fft):
    """The tiles of :data:`TILES` (GPU-tested below) compile for sm_90 without spilling: amplitude/phase and
    mel analysis, inverse synthesis."""
    hop, win = n_fft // 4, n_fft
    for name, tiles in TILES:
        warp, fast, lean, reg = FLAGS[name]
        reg = reg if C.reg_plan(n_fft // 2) else 0
        for kind, (tt, nt) in tiles.items():
            if (warp or reg) and nt % C.group_lanes(n_fft, dict(warp=warp, reg=reg)):
                continue
            codes = [C.EPI_AMP_PHASE, C.EPI_MEL] if kind == "analysis" else [C.MODE_INV]
            for code in codes:
                kw = (dict(EPI=code, POWER=2, LOG=2 if code == C.EPI_MEL else 0, lean=lean, reg=reg) if kind == "analysis"
                      else dict(extra=C.extra_frames(hop, win), MODE=code))
                report = C.compile_offline(kind, f"stft_{kind}", n_fft=n_fft, tt=tt, nt=nt, warp=warp, fast=fast, **kw)
                assert "0 bytes spill stores" in report and "0 bytes spill loads" in report, (name, kind, tt, nt, report)


@needs_reports
@pytest.mark.parametrize("n_fft", [512, 1024, 2048])
def test_reg_shrunk_tiles_plan_and_compile_without_spills(n_fft):
    """Calls of few frames shrink the tile to 1-8 frames: with reg + warp flags the reg kernel (RR RG lanes a frame,
    16 at n_fft 512: fewer than a warp) is planned and compiled, not the warp FFT (whose warp groups would not fit;
    this raised on the GPU on 2026-11-27 ~10:19)."""
    rr, rg = C.reg_plan(n_fft // 2)
    with C.variant(analysis=dict(warp=1, fast=1, lean=1, reg=1)):
        for frames in (300, 2000):
            tt, nt, fl = C.analysis_plan(n_fft, epi=C.EPI_AMP_PHASE, frames=frames)
            assert tt < 16 and nt == tt * rr * rg and fl["reg"] == 1
            src = C.kernel_source("analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=C.EPI_AMP_PHASE, POWER=2, LOG=0, **fl)
            assert "#define WARP 0" in src and "#define REG 1" in src
            report = C.compile_offline("analysis", "stft_analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=C.EPI_AMP_PHASE,
                                       POWER=2, LOG=0, **fl)
            assert "0 bytes spill stores" in report and "0 bytes spill loads" in report, report


def test_variant_context_and_environment():
    before = {k: dict(v) for k, v in C.VARIANT.items()}
    with C.variant(analysis=dict(warp=1)):
        assert C.VARIANT["analysis"]["warp"] == 1
        tt, nt = C.analysis_tile(1024)
        assert nt == 32 * C.wpf(1024) * tt  # one warp per frame
        assert C.analysis_tile(4096)[1] % (32 * C.wpf(4096)) == 0
    with C.variant(analysis=dict(reg=1)):  # register-resident FFT: RR RG lanes per frame where it has a plan
        tt, nt, fl = C.analysis_plan(1024, epi=C.EPI_AMP_PHASE)
        assert (tt, nt, fl["reg"]) == (16, 512, 1)  # one warp per frame
        assert C.analysis_plan(512, epi=C.EPI_POWER)[:2] == (16, 256)  # 16 lanes (half a warp) per frame
        # 2048: 32 values per lane, one 512-thread block per multiprocessor with all of the shared memory
        assert C.analysis_plan(2048, epi=C.EPI_POWER)[:2] == (16, 512)
        assert C.analysis_plan(2048, epi=C.EPI_POWER, frames=3000)[2]["reg"] == 1  # a shrunk tile keeps reg=1 forced
        assert C.analysis_plan(4096, epi=C.EPI_POWER)[2]["reg"] == 0  # no plan: the block kernel
        assert C.analysis_plan(400, epi=C.EPI_POWER)[2]["reg"] == 0
    with pytest.raises(ValueError, match="reg variant"):
        C.kernel_source("synthesis", n_fft=1024, tt=4, nt=128, reg=1, MODE=0)
    with pytest.raises(ValueError, match="reg variant"):
        C.kernel_source("analysis", n_fft=1024, tt=4, nt=48, reg=1, EPI=0)
    assert C.VARIANT == before
    auto = dict(C.AUTO)
    try:  # per-geometry defaults: the most specific AUTO entry wins where VARIANT holds None
        C.AUTO.clear()
        C.AUTO[("analysis", 1024, None)] = dict(warp=1, fast=1)
        C.AUTO[("analysis", 1024, C.EPI_MEL)] = dict(warp=0, fast=1)
        with C.variant(analysis=dict(warp=None, fast=None)):
            assert C.flags("analysis", 1024, C.EPI_AMP_PHASE) == dict(warp=1, fast=1, lean=0, reg=0)
            assert C.flags("analysis", 1024, C.EPI_MEL) == dict(warp=0, fast=1, lean=0, reg=0)
            assert C.flags("analysis", 512, C.EPI_AMP_PHASE) == dict(warp=0, fast=0, lean=0, reg=0)
            # the warp kernel keeps 16 frames of one warp each at n_fft 1024 (the block kernel 8)
            assert C.analysis_tile(1024, epi=C.EPI_AMP_PHASE) == (16, 512)
            assert C.analysis_tile(1024, mel=True) == (8, 512)
        with C.variant(analysis=dict(warp=0)):  # an explicit setting overrides AUTO
            assert C.flags("analysis", 1024, C.EPI_AMP_PHASE)["warp"] == 0
    finally:
        C.AUTO.clear()
        C.AUTO.update(auto)
    saved = {k: dict(v) for k, v in C.VARIANT.items()}
    try:
        C._parse_variant("analysis.fast=1, synthesis.warp=1")
        assert C.VARIANT["analysis"]["fast"] == 1 and C.VARIANT["synthesis"]["warp"] == 1
        with pytest.raises(ValueError, match="unknown"):
            C._parse_variant("analysis.turbo=1")
    finally:
        for k in C.VARIANT:
            C.VARIANT[k].clear()
            C.VARIANT[k].update(saved[k])


def _cuh_atan_coefficients() -> list[float]:
    body = C.SOURCE.read_text().split("atan2_fast(float y, float x)")[1].split("a * a;")[1].split("float r = p * a;")[0]
    return [float(v) for v in re.findall(r"(-?\d\.\d+)f", body)]


def test_fast_atan2_polynomial_of_the_source_is_accurate():
    """The FAST epilogue's atan2 (coefficients read from stft.cuh), evaluated in float32 as the kernel does
    (Horner with fused multiply-adds emulated in float64 then rounded), over every octant."""
    c = _cuh_atan_coefficients()
    assert len(c) == 8 and abs(c[-1] - 1.0) < 1e-5  # highest degree first, the linear term last
    rng = np.random.default_rng(0)
    ang = rng.uniform(-np.pi, np.pi, 200000)
    rad = 10.0 ** rng.uniform(-6, 3, ang.size)
    x, y = (rad * np.cos(ang)).astype(np.float32), (rad * np.sin(ang)).astype(np.float32)
    ax, ay = np.abs(x), np.abs(y)
    mx, mn = np.maximum(ax, ay), np.minimum(ax, ay)
    a = (mn / mx).astype(np.float32)
    t = (a * a).astype(np.float32)
    p = np.full_like(a, np.float32(c[0]))
    for ci in c[1:]:
        p = (p.astype(np.float64) * t + np.float32(ci)).astype(np.float32)
    r = (p * a).astype(np.float32)
    r = np.where(ay > ax, (np.float32(np.pi / 2) - r).astype(np.float32), r)
    r = np.where(x < 0, (np.float32(np.pi) - r).astype(np.float32), r)
    r = np.copysign(r, y)
    err = np.abs(np.angle(np.exp(1j * (r.astype(np.float64) - np.arctan2(y.astype(np.float64), x.astype(np.float64))))))
    assert err.max() < 5e-7, err.max()


def test_fast_sincos_range_reduction_of_the_source():
    """sincos_fast's reduction (constants read from stft.cuh) in float32 keeps sin/cos within 2e-6 of the
    float64 values up to |x| = 1000 rad (the reduced argument's error grows as k ulp(2 pi)), with r in [-pi, pi]."""
    body = C.SOURCE.read_text().split("void sincos_fast(")[1].split("__sincosf")[0]
    inv, c1, c2 = (np.float32(float(v)) for v in re.findall(r"(-?\d\.\d+(?:e-?\d+)?)f", body))
    assert abs(float(c1) + float(c2) - 2 * np.pi) < 1e-12 and abs(float(inv) - 1 / (2 * np.pi)) < 1e-8
    x = np.random.default_rng(1).uniform(-1000, 1000, 100000).astype(np.float32)
    k = np.rint(x * inv).astype(np.float32)
    r = (x.astype(np.float64) - k.astype(np.float64) * c1).astype(np.float32)  # fmaf: one rounding
    r = (r.astype(np.float64) - k.astype(np.float64) * c2).astype(np.float32)
    assert np.abs(r).max() <= np.float32(np.pi) + 1e-5
    x64 = x.astype(np.float64)
    assert np.abs(np.sin(r.astype(np.float64)) - np.sin(x64)).max() < 2e-6
    assert np.abs(np.cos(r.astype(np.float64)) - np.cos(x64)).max() < 2e-6


def _stockham_model(x: np.ndarray, n_fft: int, gt: int, left: int, win: int) -> np.ndarray:
    """NumPy model of the warp analysis kernel's FFT of one windowed frame ``x`` (n_fft samples, zero
    outside [left, left + win)): the first stage reads pair blocks straight from "global memory",
    skipping those the group's support test calls dead, later stages use ``wstage``'s index maps,
    lanes ``j = lane + p * gt``; then ``real_bins``. Returns the n_fft / 2 + 1 bins."""
    half = n_fft // 2
    plan = C.fft_plan(half)
    tw = C.twiddles64(n_fft).numpy()  # the kernels' table: each stage's twiddles at its offset
    offs = C.twiddle_offsets(half)[0]
    pairs = x[0::2] + 1j * x[1::2]
    z = np.zeros(half, complex)
    r0, nb0 = plan[0], half // plan[0]
    dft = {r: np.exp(-2j * np.pi * np.outer(np.arange(r), np.arange(r)) / r) for r in set(plan)}
    for p in range(-(-nb0 // gt)):
        for lane in range(gt):
            j = lane + p * gt
            if j >= nb0:
                continue
            v = np.zeros(r0, complex)
            for r in range(r0):
                q0 = r * nb0 + p * gt
                if 2 * q0 < left + win and 2 * (q0 + gt) > left:
                    v[r] = pairs[j + r * nb0]
                else:
                    assert pairs[j + r * nb0] == 0  # a skipped block holds only zeros
            z[j * r0 + np.arange(r0)] = dft[r0] @ v
    ns = r0
    for R, off in zip(plan[1:], offs[1:], strict=True):
        nb = half // R
        out = np.empty_like(z)
        for j in range(nb):
            k = j % ns
            v = z[j + np.arange(R) * nb] * np.concatenate([[1], tw[off + (np.arange(1, R) - 1) * ns + k]])
            out[(j // ns) * ns * R + k + np.arange(R) * ns] = dft[R] @ v
        z = out
        ns *= R
    return _real_bins_model(z, tw[:n_fft])


def _real_bins_model(z: np.ndarray, tw: np.ndarray) -> np.ndarray:
    """``real_bins`` of stft.cuh: the n_fft / 2 + 1 bins of the real frame whose (even, odd) pairs' FFT is ``z``."""
    half = z.size
    k = np.arange(half // 2 + 1)
    a, b = z[k], np.conj(z[np.where(k == 0, 0, half - k)])
    e, wo = (a + b) / 2, tw[k] * (a - b) / 2j
    X = np.zeros(half + 1, complex)
    X[k], X[half - k] = e + wo, np.conj(e - wo)
    return X


@pytest.mark.parametrize("n_fft,win", [(1024, 320), (400, 400), (2048, 2048), (48, 30), (4096, 3000)])
def test_warp_fft_index_maps_against_numpy_rfft(n_fft, win):
    left = (n_fft - win) // 2
    x = np.zeros(n_fft)
    x[left:left + win] = np.random.default_rng(n_fft).standard_normal(win)
    X = _stockham_model(x, n_fft, 32 * C.wpf(n_fft), left, win)
    ref = np.fft.rfft(x)
    assert np.abs(X - ref).max() < 1e-9 * np.abs(ref).max()


def _cuh_floats(after: str, name: str) -> np.ndarray:
    """The float constants of the array ``name`` declared after ``after`` in stft.cuh."""
    body = C.SOURCE.read_text().split(after, 1)[1].split(f"const float {name}[", 1)[1].split("};", 1)[0]
    return np.array([float(v) for v in re.findall(r"(-?\d\.\d+)f", body)])


def _dft16_model(v: np.ndarray) -> np.ndarray:
    """``Dft<16>`` of stft.cuh: two 8-point DFTs (even, odd), the odd ones times W16^q from the source's table ``c``."""
    c = _cuh_floats("struct Dft<16>", "c")
    assert c.size == 8 and np.allclose(c, np.cos(2 * np.pi * np.arange(8) / 16), rtol=0, atol=1e-15)
    d8 = np.exp(-2j * np.pi * np.outer(np.arange(8), np.arange(8)) / 8)
    e, o = d8 @ v[0::2], d8 @ v[1::2]
    w = np.array([1] + [-1j if q == 4 else c[q] + 1j * (c[q + 4] if q < 4 else -c[q - 4]) for q in range(1, 8)])
    return np.concatenate([e + w * o, e - w * o])


def _dft32_model(v: np.ndarray) -> np.ndarray:
    """``Dft<32>`` of stft.cuh: two ``Dft<16>``, the odd ones times W32^q built as the source builds it from ``c``."""
    c = _cuh_floats("struct Dft<32>", "c")
    assert c.size == 9 and np.allclose(c, np.cos(2 * np.pi * np.arange(9) / 32), rtol=0, atol=1e-15)
    assert "make_float2(q < 8 ? c[q] : -c[16 - q], q < 8 ? -c[8 - q] : -c[q - 8])" in C.SOURCE.read_text()
    e, o = _dft16_model(v[0::2]), _dft16_model(v[1::2])
    w = np.array([1] + [-1j if q == 8 else (c[q] if q < 8 else -c[16 - q]) + 1j * (-c[8 - q] if q < 8 else -c[q - 8])
                        for q in range(1, 16)])
    return np.concatenate([e + w * o, e - w * o])


def _reg_maps() -> dict[str, str]:
    """The index expressions of the register-resident FFT, read from stft.cuh's ``#if REG`` block of stft_analysis
    (C and Python agree on ``*``, ``+``, ``^`` and their precedence; ``&&`` becomes ``and``), so that the model
    below evaluates the kernel's own maps."""
    src = C.SOURCE.read_text()
    assert "#define RSW (GR > 16 ? 1 : RG)" in src
    body = src.split("// register-resident FFT: HALF = RR * RR * RG points", 1)[1].split("#elif WARP", 1)[0]
    pats = dict(pair=r"const int q = (.+?);", live=r"const bool live = t < T && (.+?);",
                tw1=r"v\[c\] = cmul\(v\[c\], __ldg\(tw \+ (.+?)\)\);", put=r"\) zf\[([^Z].+?)\] = v\[c\];",
                get=r"v\[lb\] = zf\[(.+?)\];", lane=r"__shfl_xor_sync\(gmask, mine\.x, (.+?)\)",
                out2=r"zf\[ZI\((.+?)\)\] = make_float2\(fmaf", out1=r"zf\[ZI\((.+?)\)\] = v\[c\];")
    maps = {}
    for key, pat in pats.items():
        found = re.findall(pat, body)
        assert len(found) == 1, (key, found)
        maps[key] = found[0].replace("&&", "and")
    return maps


def _reg_model(x: np.ndarray, n_fft: int, left: int, win: int) -> np.ndarray:
    """NumPy model of the register-resident analysis FFT (stft.cuh, ``#if REG``) of one windowed frame ``x``: lane
    by lane, the same loads (pair blocks the group's support test calls dead skipped), RR-point DFTs, twiddle-table
    indices, the swizzled transpose slots, the constant twiddles and shuffle partners of the radix-2 exchange and
    the natural-order store; then ``real_bins``. Also asserts that the transpose writes and reads each slot once
    and that every half-warp's 8-byte accesses of it hit 16 distinct bank pairs (no bank conflicts)."""
    half = n_fft // 2
    rr, rg = C.reg_plan(half)
    gr, rsw = rr * rg, (1 if rr * rg > 16 else rg)
    src = {k: compile(v, k, "eval") for k, v in _reg_maps().items()}

    def ev(key: str, **env):
        return eval(src[key], dict(GR=gr, RR=rr, RG=rg, RSW=rsw, RTW=C.twiddle_offsets(half)[1], left=left, win=win),
                    env)  # noqa: S307
    tw = C.twiddles64(n_fft).numpy()
    pairs = x[0::2] + 1j * x[1::2]
    dft = {16: _dft16_model, 32: _dft32_model}.get(
        rr, lambda v: np.exp(-2j * np.pi * np.outer(np.arange(rr), np.arange(rr)) / rr) @ v)
    smem = np.full(C.fstride(n_fft), np.nan, complex)
    written = np.zeros(half, int)
    for lane in range(gr):  # 1. loads, RR-point DFT over m, twiddle W_HALF^(l c) from the table, transpose writes
        v = np.zeros(rr, complex)
        for m in range(rr):
            q = ev("pair", l=lane, m=m)
            if ev("live", m=m):
                v[m] = pairs[q]
            else:
                assert pairs[q] == 0  # a skipped block holds only zeros
        v = dft(v)
        v[1:] *= tw[[ev("tw1", l=lane, c=c) for c in range(1, rr)]]
        for c in range(rr):
            slot = ev("put", l=lane, c=c)
            smem[slot] = v[c]
            written[slot] += 1
    assert (written == 1).all()
    for c in range(rr):  # the write of register c: 16 lanes of a half-warp, 16 bank pairs
        for h in range(0, gr, 16):
            assert len({ev("put", l=lane, c=c) % 16 for lane in range(h, min(gr, h + 16))}) == min(16, gr)
    k1, la = np.arange(gr) % rr, np.arange(gr) // rr
    read = np.zeros(half, int)
    v = np.zeros((gr, rr), complex)
    for lb in range(rr):  # 2. transpose reads: lane (k1, la) gets Y[RG lb + la][k1]
        slots = ev("get", k1=k1, la=la, lb=lb)
        for h in range(0, gr, 16):
            assert len(set(slots[h:h + 16] % 16)) == min(16, gr)
        v[:, lb] = smem[slots]
        np.add.at(read, slots, 1)
    assert (read == 1).all()
    v = np.stack([dft(row) for row in v])  # 3. RR-point DFT over lb
    zf = np.full(C.fstride(n_fft), np.nan, complex)
    if rg == 2:
        q = _cuh_floats("#if RG == 2", "Q")
        assert q.size == 9 and np.allclose(q, np.cos(2 * np.pi * np.arange(9) / 32), rtol=0, atol=1e-15)
        # the constant twiddle of lanes la = 1, W_32^j: the source's selection, modelled as written there
        assert "const cf w = la ? make_float2(j <= 8 ? Q[j] : -Q[16 - j], -Q[j <= 8 ? 8 - j : j - 8])" in C.SOURCE.read_text()
        for c in range(rr):
            j = c * (16 // rr)
            w = np.where(la == 1, (q[j] if j <= 8 else -q[16 - j]) - 1j * q[8 - j if j <= 8 else j - 8], 1)
            mine = v[:, c] * w if c else v[:, c]
            other = mine[np.arange(gr) ^ ev("lane")]  # __shfl_xor_sync
            v[:, c] = np.where(la == 1, -1, 1) * mine + other
    for c in range(rr):  # 4. natural order, z[ZI(k)]
        k = ev("out2" if rg == 2 else "out1", k1=k1, la=la, c=c)
        zf[k + (k >> 5)] = v[:, c]
    z = zf[np.arange(half) + (np.arange(half) >> 5)]
    assert not np.isnan(z).any()
    return _real_bins_model(z, tw[:n_fft])


@pytest.mark.parametrize("n_fft,win", [(2048, 2048), (2048, 1500), (1024, 320), (1024, 1024), (512, 512), (512, 300),
                                       (256, 256), (128, 100)])
def test_reg_fft_index_maps_against_numpy_rfft(n_fft, win):
    left = (n_fft - win) // 2
    x = np.zeros(n_fft)
    x[left:left + win] = np.random.default_rng(n_fft + win).standard_normal(win)
    X = _reg_model(x, n_fft, left, win)
    ref = np.fft.rfft(x)
    assert np.abs(X - ref).max() < 1e-9 * np.abs(ref).max()


@needs_reports
def test_util_kernels_compile_and_errors_are_reported(monkeypatch):
    for name in ("mel_ranges", "mel_bin_ranges", "floor_scale", "env_scale", "pad_adjoint", "mel_floor_stats",
                 "mel_log_grad"):
        assert "registers" in C.compile_offline("util", name)
    monkeypatch.setattr(C, "_source_text", lambda: C.SOURCE.read_text().replace("cmul(", "cmull(", 1))
    with pytest.raises(RuntimeError, match="NVRTC failed"):
        C.compile_offline("analysis", "stft_analysis", n_fft=64, tt=2, nt=64, EPI=0, POWER=2, LOG=0)


# ------------------------------------------------------------------------------------ on the GPU
@pytest.fixture
def gpu(request):
    if request.config.getoption("--device") != "cuda" or not torch.cuda.is_available():
        pytest.skip("needs --device cuda")
    if not C.available():
        pytest.skip(C.unavailable_reason())
    return torch.device("cuda")


def _signal(B, n, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(B, n, generator=g, dtype=torch.float64)
    x += torch.sin(2 * math.pi * 0.031 * torch.arange(n, dtype=torch.float64))
    x[:, n // 3: n // 2] *= 1e-4
    return x.float().to(device)


GEOMS = [STFTSpec(256, 64), STFTSpec(400, 160), STFTSpec(512, 128), STFTSpec(1024, 80, 320),
         STFTSpec(1024, 256, pad_mode="constant"), STFTSpec(2048, 512), STFTSpec(4096, 1024, 3000, "hamming")]


def _runs_its_own_kernel(name: str, spec: STFTSpec, threads: tuple[int, ...] = ()) -> bool:
    """Whether variant ``name`` compiles a kernel of its own at ``spec`` (a reg variant without a register-resident
    plan at this n_fft is the kernel without reg, tested under that name) in blocks of ``threads`` (warp and reg
    kernels need whole groups of lanes per frame)."""
    warp, _, _, reg = FLAGS[name]
    if reg and C.reg_plan(spec.n_fft // 2) is None:
        return False
    gl = C.group_lanes(spec.n_fft, dict(warp=warp, reg=reg))
    return not ((warp or reg) and any(nt % gl for nt in threads))


def _cases(specs, names) -> list:
    return [pytest.param(spec, name, id=f"{spec}-{name}") for spec in specs for name in names
            if _runs_its_own_kernel(name, spec)]


def _check_forward_against_float64(x: torch.Tensor, spec: STFTSpec) -> None:
    """Issue 3's tolerances for every forward op (power and magnitude spectrograms, amplitude/phase, dB, Whisper
    and power-1 natural log-mel) and the inverse of ``backend="cuda"`` on ``x`` (float32 CUDA)."""
    la, ph = amp_phase(x, spec, backend="cuda")
    la_r, ph_r = amp_phase(x.double(), spec, backend="reference")
    mag = la_r.exp() - 1e-4
    big = mag > 1e-3 * mag.amax(dim=-2, keepdim=True)
    assert float((la.double() - la_r)[big].abs().max()) < 1e-3
    d = torch.remainder(ph.double() - ph_r, 2 * math.pi)
    assert float(torch.minimum(d, 2 * math.pi - d)[big].max()) < 1e-3
    S = spectrogram(x, spec, backend="cuda")
    S_r = spectrogram(x.double(), spec, backend="reference")
    assert float(((S.double() - S_r).abs() / S_r.amax(dim=-2, keepdim=True)).max()) < 1e-5
    for mode in ("whisper", "db"):
        out = log_mel(x, spec, 16000, 80, mode=mode, backend="cuda")
        ref = log_mel(x.double(), spec, 16000, 80, mode=mode, backend="reference")
        scale = 40.0 if mode == "whisper" else 1.0
        lev = ref * scale
        mask = lev > lev.amax(dim=(-2, -1), keepdim=True) - 80.0
        assert float(((out.double() - ref) * scale).abs()[mask].max()) < 0.01
    # magnitude (power 1): the fast variants' sqrt epilogue, spectrogram and the natural-log mel of a TTS front end
    M = spectrogram(x, spec, 1.0, backend="cuda")
    M_r = spectrogram(x.double(), spec, 1.0, backend="reference")
    assert float(((M.double() - M_r).abs() / M_r.amax(dim=-2, keepdim=True)).max()) < 1e-5
    out = log_mel(x, spec, 16000, 80, power=1.0, mode="natural", eps=1e-10, backend="cuda")
    ref = log_mel(x.double(), spec, 16000, 80, power=1.0, mode="natural", eps=1e-10, backend="reference")
    lev = ref * (20.0 / math.log(10.0))  # dB of a magnitude
    mask = lev > lev.amax(dim=(-2, -1), keepdim=True) - 80.0
    assert float(((out.double() - ref) * (20.0 / math.log(10.0))).abs()[mask].max()) < 0.01
    y = from_amp_phase(la, ph, spec, length=x.shape[-1], backend="cuda")
    y_r = from_amp_phase(la_r, ph_r, spec, length=x.shape[-1], backend="reference")
    assert float((y.double() - y_r).norm() / y_r.norm()) < 1e-5


def _check_backward_against_float64(x: torch.Tensor, spec: STFTSpec) -> None:
    """Waveform gradients of amplitude/phase (1e-3 relative), dB and Whisper log-mel (1e-4), and the (log-amplitude,
    phase) gradients of the inverse STFT (1e-4) against float64."""
    w = torch.randn(x.shape[0], spec.n_bins, 1 + x.shape[-1] // spec.hop, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)

    def grad(fn, v):
        v = v.detach().requires_grad_()
        la, ph = fn(v)
        ((la * w.to(v.device, la.dtype)).sum() + (ph * w.to(v.device, ph.dtype)).sum()).backward()
        return v.grad.double()

    gk = grad(lambda v: amp_phase(v, spec, backend="cuda"), x)
    gr = grad(lambda v: amp_phase(v, spec, backend="reference"), x.double())
    assert float((gk - gr).norm() / gr.norm()) < 1e-3
    for mode in ("db", "whisper"):
        v = x.detach().requires_grad_()
        log_mel(v, spec, 16000, 80, mode=mode, backend="cuda").sum().backward()
        v64 = x.double().requires_grad_()
        log_mel(v64, spec, 16000, 80, mode=mode, backend="reference").sum().backward()
        assert float((v.grad.double() - v64.grad).norm() / v64.grad.norm()) < 1e-4, mode
    # the inverse STFT's backward (its analysis kernel with the envelope-scaled gradient, EPI_INV_BWD)
    la, ph = (t.detach() for t in amp_phase(x.double(), spec, backend="reference"))
    wy = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def inv_grads(backend, dtype):
        a, p = la.to(x.device, dtype).requires_grad_(), ph.to(x.device, dtype).requires_grad_()
        (from_amp_phase(a, p, spec, length=x.shape[-1], backend=backend) * wy.to(x.device, dtype)).sum().backward()
        return a.grad.double(), p.grad.double()

    for gk, gr in zip(inv_grads("cuda", torch.float32), inv_grads("reference", torch.float64), strict=True):
        assert float((gk - gr).norm() / gr.norm()) < 1e-4


@pytest.mark.parametrize("spec,name", _cases(GEOMS, FLAGS))
def test_cuda_kernels_against_float64_reference(gpu, spec, name):
    with _variant(name):
        _check_forward_against_float64(_signal(3, 12000, gpu), spec)


@pytest.mark.parametrize("spec,name", _cases(GEOMS[1:4], FLAGS))
def test_cuda_backward_against_float64_reference(gpu, spec, name):
    # autograd runs the backward on its own thread: the first backward of a geometry compiles and
    # loads its kernels there (it once failed with "invalid device context")
    with _variant(name):
        _check_backward_against_float64(_signal(2, 8000, gpu, seed=3), spec)


# Tiles forced through C.CONFIG (what the benchmark's sweeps and `cuda@<variant>:a<tt>x<nt>` arms time):
# small test inputs would otherwise shrink the analysis tile (few frames), so the full tiles that large
# batches use are checked here, each with every op forward and backward, on a signal whose frame count
# is no multiple of the tile (a partial last block).
TILES = [("warp_fast", dict(analysis=(16, 512))), ("warp_fast", dict(analysis=(16, 256))),
         ("warp_fast", dict(analysis=(8, 256), synthesis=(16, 256))), ("block", dict(analysis=(16, 512))),
         ("block", dict(analysis=(8, 512), synthesis=(16, 512))), ("warp_fast_lean", dict(analysis=(16, 512))),
         ("block_lean", dict(analysis=(16, 512))), ("block_lean", dict(analysis=(8, 512))),
         ("reg_fast_lean", dict(analysis=(16, 512))), ("reg_fast_lean", dict(analysis=(8, 256))), ("reg", dict(analysis=(16, 512)))]
TILE_GEOMS = [STFTSpec(400, 160), STFTSpec(512, 128), STFTSpec(1024, 80, 320), STFTSpec(2048, 512)]


@pytest.mark.parametrize("spec,name,tiles", [
    pytest.param(spec, n, d, id=f"{n}-" + "-".join(f"{k[0]}{t[0]}x{t[1]}" for k, t in d.items()) + f"-{spec}")
    for n, d in TILES for spec in TILE_GEOMS if _runs_its_own_kernel(n, spec, tuple(nt for _, nt in d.values()))])
def test_cuda_tile_against_float64_reference(gpu, spec, name, tiles):
    saved = dict(C.CONFIG)
    try:
        C.CONFIG.update(tiles)
        with _variant(name):
            _check_forward_against_float64(_signal(3, 16000 + 37, gpu, seed=5), spec)
            _check_backward_against_float64(_signal(2, 8000 + 11, gpu, seed=6), spec)
    finally:
        C.CONFIG.clear()
        C.CONFIG.update(saved)


# ------------------------------------------------------------------------------------ host path
def test_route_sends_only_plain_eager_calls_past_the_custom_op(monkeypatch):
    """:func:`kernels.spectral._route` (what decides whether a call skips its custom op) on every case it must
    refuse; CUDA tensors are faked on the CPU by patching ``Tensor.is_cuda`` for this test only."""
    from sigkit.kernels import spectral as ks
    from torch._subclasses.fake_tensor import FakeTensorMode

    x = torch.zeros(2, 64)
    assert ks._route("cuda", x) == ks._OP  # a CPU tensor
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    assert ks._route("cuda", x) == ks._BODY
    assert ks._route("cuda", x, None) == ks._BODY
    assert ks._route("triton", x) == ks._OP
    xg = x.clone().requires_grad_()
    assert ks._route("cuda", xg) == ks._FUNCTION  # autograd records the call: the autograd.Function
    assert ks._route("cuda", x, xg) == ks._FUNCTION
    with torch.no_grad():
        assert ks._route("cuda", xg) == ks._BODY
    with torch.inference_mode():
        assert ks._route("cuda", x) == ks._BODY
    monkeypatch.setattr(ks, "DIRECT", False)
    assert ks._route("cuda", x) == ks._OP
    monkeypatch.setattr(ks, "DIRECT", True)

    class Sub(torch.Tensor):
        pass

    assert ks._route("cuda", x.as_subclass(Sub)) == ks._OP
    with torch.device("cpu"):  # a torch-function mode
        assert ks._route("cuda", x) == ks._OP
    with FakeTensorMode() as mode:
        assert ks._route("cuda", mode.from_tensor(x)) == ks._OP
    import torch.autograd.forward_ad as fwad

    with fwad.dual_level():
        assert ks._route("cuda", x) == ks._OP
    seen = []
    torch.func.vmap(lambda v: seen.append(ks._route("cuda", v)) or v)(x)
    assert seen == [ks._OP]
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert ks._route("cuda", x) == ks._OP


def test_launcher_packs_pointers_ints_and_doubles(monkeypatch):
    """The launch arguments reach ``cuLaunchKernel`` as pointers to a tensor's data pointer, ``int`` and
    ``double`` (read back at the call), one argument slot per thread, the grid / block / stream passed on."""
    import ctypes
    import threading

    calls = []

    def fake_launch(func, gx, gy, gz, bx, by, bz, smem, stream, params, extra):
        p = ctypes.cast(params, ctypes.POINTER(ctypes.c_void_p))
        calls.append(dict(func=func, grid=(gx, gy, gz), block=(bx, by, bz), smem=smem, stream=stream,
                          ptr=ctypes.c_uint64.from_address(p[0]).value, i=ctypes.c_int.from_address(p[1]).value,
                          d=ctypes.c_double.from_address(p[2]).value, i2=ctypes.c_int.from_address(p[3]).value))
        return 0

    monkeypatch.setattr(C._Launcher, "_launch", fake_launch)
    monkeypatch.setattr(C, "_raw_stream", lambda index: 1234 + index)

    class Kernel:
        func = 99

    launcher = C._Launcher(Kernel(), 1)
    a, b = torch.zeros(3), torch.ones(5)
    launcher(grid=(4, 2, 1), block=(128, 1, 1), args=[a, 7, 0.25, -3], shared_mem=512)
    launcher(grid=(1, 1, 1), block=(32, 1, 1), args=[b, 8, 1e-300, 2**31 - 1])
    t = threading.Thread(target=launcher, kwargs=dict(grid=(1, 1, 1), block=(32, 1, 1), args=[a, 9, -2.5, 0]))
    t.start()
    t.join()
    assert calls[0] == dict(func=99, grid=(4, 2, 1), block=(128, 1, 1), smem=512, stream=1235, ptr=a.data_ptr(), i=7,
                            d=0.25, i2=-3)
    assert (calls[1]["ptr"], calls[1]["i"], calls[1]["d"], calls[1]["i2"]) == (b.data_ptr(), 8, 1e-300, 2**31 - 1)
    assert (calls[2]["ptr"], calls[2]["i"], calls[2]["d"]) == (a.data_ptr(), 9, -2.5)
    assert len(launcher.slots) == 2  # this thread's and the other's
    with pytest.raises(Exception):  # noqa: B017 - a float where the kernel's first call had an int
        launcher(grid=(1, 1, 1), block=(32, 1, 1), args=[a, 1.5, 0.0, 0])


def test_launch_plans_are_cached_and_follow_config_variant_and_auto(monkeypatch):
    """Plans (tile, threads, shared memory, kernel key) are computed once per shape and recomputed after any
    change of CONFIG, VARIANT or AUTO (in place, as the bench and tests make them)."""
    monkeypatch.setattr(C, "_sms", lambda index: 132)
    setup = C._analysis_setup
    first = setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001)
    assert setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001) is first  # cached
    assert first[:2] == C.analysis_plan(1024, epi=C.EPI_AMP_PHASE, frames=32 * 2001)[:2]
    assert first == setup.uncached(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001)
    saved = dict(C.CONFIG)
    try:
        C.CONFIG["analysis"] = (4, 128)
        forced = setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001)
        assert forced[:2] == (4, 128) and forced[3] != first[3]
    finally:
        C.CONFIG.clear()
        C.CONFIG.update(saved)
    assert setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001) == first
    with C.variant(analysis=dict(warp=0, fast=0, lean=0)):
        block = setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001)
        assert dict(block[3][3])["warp"] == 0 and block[:2] == (8, 512)
    auto = dict(C.AUTO)
    try:
        C.AUTO[("analysis", 1024, C.EPI_AMP_PHASE)] = dict(warp=1, fast=1, lean=1)
        assert dict(setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001)[3][3])["lean"] == 1
    finally:
        C.AUTO.clear()
        C.AUTO.update(auto)
    assert setup(0, 1024, C.EPI_AMP_PHASE, 32 * 2001, 513 * 2001) == first
    # synthesis and the geometry answer
    assert C._synthesis_setup(0, 1024, 80, 320, C.MODE_INV)[:3] == (*C.synthesis_tile(1024, 80, 320, C.MODE_INV), 3)
    assert C.supports(1024, 80, 320) and not C.supports(1024, 8, 1024, synthesis=True)
    assert C.supports.uncached(1024, 8, 1024, synthesis=True) is False


def _op_path(monkeypatch):
    """Every call of the kernel module through its custom op (the host path before the direct one)."""
    from sigkit.kernels import spectral as ks

    monkeypatch.setattr(ks, "DIRECT", False)


@pytest.mark.parametrize("spec", [STFTSpec(400, 160), STFTSpec(1024, 80, 320), STFTSpec(2048, 512)], ids=str)
def test_plain_eager_calls_equal_the_custom_op_path(gpu, spec, monkeypatch):
    """The direct host path (op body, or the autograd.Function when autograd records the call) gives what the
    custom ops give: forward bit for bit, every op; gradients within float32 noise (atomic sums); a graph
    exactly when autograd needs one; float32 outputs under autocast; batch shapes kept."""
    from sigkit.kernels import spectral as ks

    x = _signal(3, 9000, gpu, seed=11).reshape(3, 1, 9000)
    fns = {
        "amp_phase": lambda v: amp_phase(v, spec, backend="cuda"),
        "power": lambda v: spectrogram(v, spec, backend="cuda"),
        "magnitude": lambda v: spectrogram(v, spec, 1.0, backend="cuda"),
        "db": lambda v: log_mel(v, spec, 16000, 80, mode="db", backend="cuda"),
        "whisper": lambda v: log_mel(v, spec, 16000, 80, mode="whisper", backend="cuda"),
        "natural_mag": lambda v: log_mel(v, spec, 22050, 80, power=1.0, mode="natural", backend="cuda"),
        "inverse": lambda v: (from_amp_phase(*amp_phase(v, spec, backend="reference"), spec, length=9000, backend="cuda"),),
    }

    def run(fn, v, grad):
        v = v.detach().clone().requires_grad_(grad)
        outs = fn(v)
        outs = outs if isinstance(outs, tuple) else (outs,)
        if not grad:
            return [o.detach() for o in outs], None, [o.grad_fn for o in outs]
        ws = [torch.randn(o.shape, generator=torch.Generator().manual_seed(2)).to(o.device) for o in outs]
        (gx,) = torch.autograd.grad(outs, (v,), ws)
        return [o.detach() for o in outs], gx, [o.grad_fn for o in outs]

    for name, fn in fns.items():
        calls = {"plain": 0}
        real = ks._route

        def counting(*a, real=real, calls=calls):
            r = real(*a)
            calls["plain"] += r != ks._OP
            return r

        with monkeypatch.context() as m:
            m.setattr(ks, "_route", counting)
            direct = [run(fn, x, grad) for grad in (False, True)]
        assert calls["plain"] > 0, name  # the direct path ran
        with monkeypatch.context() as m:
            _op_path(m)
            via_op = [run(fn, x, grad) for grad in (False, True)]
        for (o1, g1, fn1), (o2, g2, fn2) in zip(direct, via_op, strict=True):
            for a, b in zip(o1, o2, strict=True):
                assert a.shape == b.shape and a.shape[:2] == (3, 1) and a.dtype == torch.float32, name
                assert torch.equal(a, b), name
            assert all(f is None for f in fn1) == (g1 is None) and all(f is None for f in fn2) == (g2 is None), name
            if g1 is not None:
                assert float((g1 - g2).norm() / g2.norm()) < 1e-5, name
        with torch.no_grad():  # autograd not recording: no graph even with requires_grad
            outs = fn(x.detach().clone().requires_grad_())
            assert all(o.grad_fn is None for o in (outs if isinstance(outs, tuple) else (outs,))), name
        with torch.autocast("cuda", dtype=torch.bfloat16):
            outs = fn(x)
        for a, b in zip(outs if isinstance(outs, tuple) else (outs,), direct[0][0], strict=True):
            assert a.dtype == torch.float32, name
            if name == "inverse":  # its (reference) inputs were computed under autocast too
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            else:
                assert torch.equal(a, b), name


def test_filterbank_ranges_are_cached_per_filterbank_and_version(gpu):
    """A plain eager mel call keeps its filterbank's nonzero ranges; an in-place change of the filterbank (a
    new version) or another filterbank is seen by the next call; calls through the custom op never cache."""
    from sigkit.kernels import _spectral_cuda as kc
    from sigkit.kernels import spectral as ks

    from sigkit.spectral import mel_filterbank

    spec = STFTSpec(512, 128)
    x = _signal(2, 8000, gpu, seed=4)
    fb = mel_filterbank(16000, 512, 40, device=gpu).clone()
    kc._RANGES.clear()
    a = ks.log_mel(x, spec, fb, mode="db", impl="cuda")
    assert len(kc._RANGES) == 1
    assert torch.equal(ks.log_mel(x, spec, fb, mode="db", impl="cuda"), a) and len(kc._RANGES) == 1
    fb[:, :40] = 0.0  # in place: the low bins leave every filter
    b = ks.log_mel(x, spec, fb, mode="db", impl="cuda")
    ref = ks._MEL.op(x, fb, *ks._spec_args(spec), 2, ks.K.LOG_DB, 80.0, 1e-5, "cuda")  # the custom op, uncached
    assert torch.equal(b, ref) and not torch.equal(a, b)
    n = len(kc._RANGES)
    ks._MEL.op(x, fb.clone(), *ks._spec_args(spec), 2, ks.K.LOG_DB, 80.0, 1e-5, "cuda")
    assert len(kc._RANGES) == n
