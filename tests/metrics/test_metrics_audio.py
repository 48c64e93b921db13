"""sigkit.metrics audio: LSD/SNR/APD against direct implementations of AP-BWE's formulas, SI-SDR."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sigkit.errors import InputError
from sigkit.metrics import apd, lsd, si_sdr, snr


def _np_stft(x: np.ndarray, n_fft=2048, hop=512) -> np.ndarray:
    """torch.stft(center=True, reflect, periodic hann) written out in numpy. (F, frames)."""
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    xp = np.pad(x, n_fft // 2, mode="reflect")
    frames = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.fft.rfft(xp[idx] * win, axis=-1).T


def _np_lsd(pred: np.ndarray, target: np.ndarray) -> float:
    sp = np.log10(np.maximum(np.abs(_np_stft(pred)) ** 2, 1e-8))
    st = np.log10(np.maximum(np.abs(_np_stft(target)) ** 2, 1e-8))
    return float(np.mean(np.sqrt(np.mean((sp - st) ** 2, axis=0))))


def _signals(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


class TestLSD:
    def test_identical_is_zero(self, dtype):
        x = _signals((3, 5000), dtype=dtype)
        assert torch.equal(lsd(x, x), torch.zeros(3, dtype=dtype))

    def test_parity_with_numpy_official_formula(self):
        t = _signals((6000,), seed=1)
        p = t + 0.3 * _signals((6000,), seed=2)
        p[:1000] = 0.0  # silent stretch hits the 1e-8 clamp
        assert abs(float(lsd(p, t)) - _np_lsd(p.numpy(), t.numpy())) < 1e-10

    def test_float32_close_to_float64(self):
        t, p = _signals((2, 7000), 3), _signals((2, 7000), 4)
        torch.testing.assert_close(lsd(p.float(), t.float()).double(), lsd(p, t), rtol=1e-5, atol=1e-5)

    def test_gain_gives_known_value(self):
        x = _signals((4096,), 5)
        # |0.1 X|^2 = 0.01 |X|^2: log10 differs by exactly 2 everywhere (no bin near the clamp)
        assert abs(float(lsd(0.1 * x, x)) - 2.0) < 1e-9

    def test_batch_dims_and_truncation(self):
        t, p = _signals((2, 3, 5000), 6), _signals((2, 3, 5200), 7)
        out = lsd(p, t)
        assert out.shape == (2, 3)
        assert abs(float(out[1, 2]) - _np_lsd(p[1, 2, :5000].numpy(), t[1, 2].numpy())) < 1e-10

    def test_errors(self):
        with pytest.raises(InputError, match="too short"):
            lsd(torch.zeros(500), torch.zeros(500))
        with pytest.raises(InputError, match="differ before the time axis"):
            lsd(torch.zeros(2, 5000), torch.zeros(3, 5000))


class TestSNR:
    def test_known_noise(self):
        y = _signals((2, 8000), 1)
        n = _signals((2, 8000), 2)
        n = n / n.norm(dim=-1, keepdim=True) * y.norm(dim=-1, keepdim=True) * 10 ** (-15 / 20)
        torch.testing.assert_close(snr(y + n, y), torch.full((2,), 15.0, dtype=torch.float64))

    def test_identical_is_clamped_like_official(self):
        y = torch.ones(1, 100, dtype=torch.float64)
        torch.testing.assert_close(snr(y, y), torch.tensor([20 * math.log10(10 / 1e-8)], dtype=torch.float64))

    def test_truncates_to_common_length(self):
        y = _signals((900,), 3)
        assert float(snr(torch.cat([y, torch.ones(50, dtype=y.dtype)]), y)) > 150


class TestSISDR:
    def test_scale_invariance(self, dtype):
        t = _signals((3, 4000), 1, dtype)
        p = t + 0.2 * _signals((3, 4000), 2, dtype)
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-9)
        for scale in (0.01, 7.0):  # eps=0: exact invariance (the default eps=1e-8 perturbs it slightly)
            torch.testing.assert_close(si_sdr(scale * p, t, eps=0.0), si_sdr(p, t, eps=0.0), **tol)

    def test_known_value_with_orthogonal_noise(self):
        n = 1000
        t = torch.sin(2 * math.pi * 5 * torch.arange(n, dtype=torch.float64) / n)
        e = torch.cos(2 * math.pi * 5 * torch.arange(n, dtype=torch.float64) / n)  # orthogonal, zero mean
        got = si_sdr(2.0 * t + 0.1 * e, t)
        torch.testing.assert_close(got, torch.tensor(20 * math.log10(2.0 / 0.1), dtype=torch.float64))

    @pytest.mark.parametrize("zero_mean", [True, False])
    def test_parity_with_torchmetrics(self, zero_mean):
        from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio as tm

        t = _signals((4, 3000), 4) + 0.5
        p = t + 0.3 * _signals((4, 3000), 5)
        torch.testing.assert_close(
            si_sdr(p, t, zero_mean=zero_mean), tm(p, t, zero_mean=zero_mean), rtol=1e-6, atol=1e-6
        )

    def test_gradient(self):
        t = _signals((64,), 6)
        p = (t + _signals((64,), 7)).requires_grad_()
        assert torch.autograd.gradcheck(lambda v: si_sdr(v, t), (p,))


def _official_apd(pred: torch.Tensor, target: torch.Tensor):
    """AP-BWE cal_apd written with its difference matrices, for (1, T) inputs."""

    def phase(x):
        return torch.angle(
            torch.stft(x, 2048, 512, window=torch.hann_window(2048, dtype=x.dtype), return_complex=True)
        )

    def wrap(x):
        return x - torch.round(x / (2 * np.pi)) * 2 * np.pi

    pp, pt = phase(pred), phase(target)
    nf, nt = pp.shape[1], pp.shape[2]
    gdm = (torch.triu(torch.ones(nf, nf), 1) - torch.triu(torch.ones(nf, nf), 2) - torch.eye(nf)).to(pp.dtype)
    iafm = (torch.triu(torch.ones(nt, nt), 1) - torch.triu(torch.ones(nt, nt), 2) - torch.eye(nt)).to(
        pp.dtype
    )
    gd_r, gd_g = pt.permute(0, 2, 1) @ gdm, pp.permute(0, 2, 1) @ gdm
    iaf_r, iaf_g = pt @ iafm, pp @ iafm
    ip = wrap(pp - pt).square().mean(dim=1).sqrt().mean()
    gd = wrap(gd_r - gd_g).square().mean(dim=1).sqrt().mean()
    iaf = wrap(iaf_r - iaf_g).square().mean(dim=1).sqrt().mean()
    return ip, gd, iaf


class TestAPD:
    def test_parity_with_official_matrix_form(self):
        t = _signals((1, 6000), 1)
        p = t + 0.5 * _signals((1, 6000), 2)
        for got, ref in zip(apd(p, t), _official_apd(p, t), strict=True):
            assert got.shape == (1,)
            assert abs(float(got[0]) - float(ref)) < 1e-10

    def test_identical_is_zero_and_batched(self):
        x = _signals((2, 3, 4000), 3)
        for v in apd(x, x):
            assert v.shape == (2, 3) and torch.equal(v, torch.zeros(2, 3, dtype=x.dtype))


def test_audio_metrics_on_device_match_cpu(device, dtype):
    """The same numbers on the ``--device`` under test (cuda on the GPU machine) as on the CPU."""
    t = _signals((2, 6000), 8, dtype)
    p = t + 0.3 * _signals((2, 6000), 9, dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-9)
    for fn in (lsd, snr, si_sdr):
        got = fn(p.to(device), t.to(device))
        assert got.device.type == device.type
        torch.testing.assert_close(got.cpu(), fn(p, t), **tol)
    for got, ref in zip(apd(p.to(device), t.to(device)), apd(p, t), strict=True):
        torch.testing.assert_close(got.cpu(), ref, **tol)
