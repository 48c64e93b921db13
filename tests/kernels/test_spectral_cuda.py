"""The CUDA C spectral kernels (``sigkit.kernels._spectral_cuda``).

On CPU (CI): every kernel variant compiles with NVRTC for sm_90 without spilling registers (a broken
source or a spilling tile fails here), and the FFT planning / geometry rules. With ``--device cuda``:
the kernels against the float64 reference at the benchmark geometries (n_fft 256-4096, Whisper's 400,
AP-BWE's 1024/80/320), with issue 3's tolerances. The small-size cases of every op (forward,
inverse, backward, compile, autocast) run in ``kernels_spectral_cases.py`` with ``impl="cuda"``.
"""
from __future__ import annotations

import math

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


VARIANTS = [(n, kind, code) for n in (48, 400, 1024, 4096)
            for kind, code in [("analysis", e) for e in range(6)] + [("synthesis", m) for m in range(3)]]


@pytest.mark.skipif(not _nvrtc_loads(), reason="libnvrtc not loadable")
@pytest.mark.parametrize("n_fft,kind,code", VARIANTS, ids=[f"{n}-{k}-{c}" for n, k, c in VARIANTS])
def test_every_variant_compiles_for_sm90_without_spills(n_fft, kind, code):
    hop, win = n_fft // 4, n_fft
    if kind == "analysis":
        tt, nt = C.analysis_tile(n_fft, mel=code == C.EPI_MEL)
        report = C.compile_offline("analysis", "stft_analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=code, POWER=2,
                                   LOG=3 if code == C.EPI_MEL else 0)
    else:
        tt, nt = C.synthesis_tile(n_fft, hop, win)
        report = C.compile_offline("synthesis", "stft_synthesis", n_fft=n_fft, tt=tt, nt=nt,
                                   extra=C.extra_frames(hop, win), MODE=code)
    assert "Used" in report and "registers" in report
    assert "0 bytes spill stores" in report and "0 bytes spill loads" in report, report


@pytest.mark.skipif(not _nvrtc_loads(), reason="libnvrtc not loadable")
def test_util_kernels_compile_and_errors_are_reported(monkeypatch):
    for name in ("mel_ranges", "floor_scale", "env_scale", "pad_adjoint"):
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


@pytest.mark.parametrize("spec", GEOMS, ids=[str(s) for s in GEOMS])
def test_cuda_kernels_against_float64_reference(gpu, spec):
    x = _signal(3, 12000, gpu)
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
    y = from_amp_phase(la, ph, spec, length=x.shape[-1], backend="cuda")
    y_r = from_amp_phase(la_r, ph_r, spec, length=x.shape[-1], backend="reference")
    assert float((y.double() - y_r).norm() / y_r.norm()) < 1e-5


@pytest.mark.parametrize("spec", GEOMS[1:4], ids=[str(s) for s in GEOMS[1:4]])
def test_cuda_backward_against_float64_reference(gpu, spec):
    # autograd runs the backward on its own thread: the first backward of a geometry compiles and
    # loads its kernels there (it once failed with "invalid device context")
    x = _signal(2, 8000, gpu, seed=3)
    w = torch.randn(2, spec.n_bins, 1 + 8000 // spec.hop, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)

    def grad(fn, v):
        v = v.detach().requires_grad_()
        la, ph = fn(v)
        ((la * w.to(v.device, la.dtype)).sum() + (ph * w.to(v.device, ph.dtype)).sum()).backward()
        return v.grad.double()

    gk = grad(lambda v: amp_phase(v, spec, backend="cuda"), x)
    gr = grad(lambda v: amp_phase(v, spec, backend="reference"), x.double())
    assert float((gk - gr).norm() / gr.norm()) < 1e-3
    v = x.detach().requires_grad_()
    log_mel(v, spec, 16000, 80, mode="db", backend="cuda").sum().backward()
    v64 = x.double().requires_grad_()
    log_mel(v64, spec, 16000, 80, mode="db", backend="reference").sum().backward()
    assert float((v.grad.double() - v64.grad).norm() / v64.grad.norm()) < 1e-4
