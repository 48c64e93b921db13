"""STFT, iSTFT, spectrogram and the AP-BWE amplitude/phase representation (reference backend)."""
from __future__ import annotations

import math

import pytest
import torch

from sigkit.errors import InputError, SigkitError
from sigkit.spectral import (
    ISTFT,
    STFT,
    AmpPhase,
    FromAmpPhase,
    STFTSpec,
    amp_phase,
    from_amp_phase,
    istft,
    spectrogram,
    stft,
)

SPECS = [
    STFTSpec(1024, 80, 320),  # AP-BWE: win < n_fft, zero-padded window
    STFTSpec(512, 128),
    STFTSpec(400, 160, window="hamming", pad_mode="constant"),
    STFTSpec(256, 64, 200, window="blackman", center=False),
    STFTSpec(64, 16, 33, window="rect"),  # odd window inside an even n_fft
]


def _ulp_tol(x: torch.Tensor) -> dict:
    """assert_close tolerances for "the same computation as torch": bit for bit on CPU (the same FFT library and
    operation order), a few units in the last place on CUDA (cuFFT plans and fused kernels order sums differently)."""
    if x.device.type == "cpu":
        return dict(rtol=0, atol=0)
    return dict(rtol=1e-5, atol=1e-5) if x.dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)


def _torch_stft(x, s: STFTSpec):
    win = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window}
    kw = dict(dtype=x.dtype, device=x.device)
    w = torch.ones(s.win, **kw) if s.window == "rect" else win[s.window](s.win, **kw)
    return torch.stft(x, s.n_fft, s.hop, s.win, w, center=s.center, pad_mode=s.pad_mode, return_complex=True)


class TestSTFT:
    @pytest.mark.parametrize("spec", SPECS, ids=str)
    def test_smoke_matches_torch(self, spec, device, dtype):
        x = torch.randn(3, 2501, device=device, dtype=dtype)  # odd length
        got = stft(x, spec)
        # bit-identical on CPU; cuFFT may pick another plan for another batch layout, so a float tolerance there
        tol = dict(rtol=0, atol=0) if device.type == "cpu" else dict(rtol=1e-5, atol=1e-5 * float(got.abs().max()))
        torch.testing.assert_close(got, _torch_stft(x, spec), **tol)

    def test_cardinality_batch_dims(self, device, dtype):
        spec = STFTSpec(512, 128)
        x = torch.randn(2, 3, 4, 3001, device=device, dtype=dtype)
        X = stft(x, spec)
        assert X.shape == (2, 3, 4, 257, spec.n_frames(3001))
        torch.testing.assert_close(X[1, 2, 3], stft(x[1, 2, 3], spec))
        assert stft(x[0, 0, 0], spec).shape == (257, spec.n_frames(3001))

    def test_frames_formula(self):
        for spec in SPECS:
            for n in (1000, 1001, 2047):
                assert stft(torch.randn(n), spec).shape[-1] == spec.n_frames(n)

    def test_exception(self):
        with pytest.raises(InputError, match="too short for reflect padding"):
            stft(torch.randn(100), STFTSpec(1024, 80, 320))
        with pytest.raises(InputError, match="complex"):
            stft(torch.randn(2000, dtype=torch.complex64), STFTSpec(512, 128))
        with pytest.raises(InputError, match="longer than n_fft"):
            STFTSpec(256, 64, 512)
        with pytest.raises(InputError, match="unknown window"):
            STFTSpec(256, 64, window="kaiser")
        with pytest.raises(InputError, match="positive integer"):
            STFTSpec(256, 0)
        with pytest.raises(SigkitError, match="fewer than n_fft"):
            stft(torch.randn(100), STFTSpec(256, 64, center=False))
        # constant padding accepts signals shorter than n_fft // 2
        assert stft(torch.randn(100), STFTSpec(1024, 80, 320, pad_mode="constant")).shape == (513, 2)

    def test_spec_hashable_and_window_cache(self):
        a, b = STFTSpec(1024, 80, 320), STFTSpec(1024, 80, 320)
        assert a == b and hash(a) == hash(b) and len({a, b}) == 1
        assert a.window_tensor() is b.window_tensor()
        w = a.padded_window(dtype=torch.float64)
        assert w.shape == (1024,) and w[:352].abs().sum() == 0 and w[352 + 320 :].abs().sum() == 0

    def test_half_precision_input_computes_in_float32(self):
        x = torch.randn(4000)
        X = stft(x.to(torch.bfloat16), STFTSpec(512, 128))
        assert X.dtype == torch.complex64
        torch.testing.assert_close(X, stft(x.to(torch.bfloat16).float(), STFTSpec(512, 128)))

    def test_module(self, device):
        x = torch.randn(2, 4000, device=device)
        torch.testing.assert_close(STFT(512, 128)(x), stft(x, STFTSpec(512, 128)))

    def test_gradcheck(self, device):
        x = torch.randn(1, 200, device=device, dtype=torch.float64, requires_grad=True)
        spec = STFTSpec(64, 16, 48)
        # on CUDA the overlap-add of the frames' gradient uses atomic adds: sums in a varying order
        nondet = 0.0 if device.type == "cpu" else 1e-12
        assert torch.autograd.gradcheck(lambda t: torch.view_as_real(stft(t, spec)), (x,), fast_mode=True, nondet_tol=nondet)

    def test_compile(self):
        spec = STFTSpec(256, 64)
        x = torch.randn(2, 2000)
        fn = torch.compile(lambda t: spectrogram(t, spec, backend="reference"), backend="eager", fullgraph=True)
        torch.testing.assert_close(fn(x), spectrogram(x, spec, backend="reference"))


class TestISTFT:
    @pytest.mark.parametrize("spec", [s for s in SPECS if s.center], ids=str)
    def test_round_trip(self, spec, device, dtype):
        x = torch.randn(2, 3000, device=device, dtype=dtype)
        y = istft(stft(x, spec), spec, length=3000)
        err = (y - x).abs().max() / x.abs().max()
        assert err < (1e-5 if dtype == torch.float32 else 1e-12)

    def test_matches_torch(self, device, dtype):
        spec = STFTSpec(1024, 80, 320)
        X = stft(torch.randn(2, 5000, device=device, dtype=dtype), spec)
        w = torch.hann_window(320, dtype=dtype, device=device)
        ref = torch.istft(X, 1024, 80, 320, w, center=True, length=5000)
        torch.testing.assert_close(istft(X, spec, length=5000), ref, **_ulp_tol(ref))

    def test_cardinality(self):
        spec = STFTSpec(512, 128)
        X = stft(torch.randn(2, 3, 3001), spec)
        assert istft(X, spec).shape == (2, 3, 128 * (X.shape[-1] - 1))
        assert ISTFT(512, 128)(X, length=3001).shape == (2, 3, 3001)

    def test_exception(self):
        with pytest.raises(InputError, match="complex"):
            istft(torch.randn(257, 10), STFTSpec(512, 128))
        with pytest.raises(InputError, match="bins"):
            istft(torch.zeros(256, 10, dtype=torch.complex64), STFTSpec(512, 128))

    def test_gradcheck(self):
        spec = STFTSpec(64, 16, 48)
        X = torch.randn(33, 9, dtype=torch.complex128, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: istft(t, spec, length=128), (X,), fast_mode=True)


class TestSpectrogram:
    def test_values(self, device, dtype):
        spec = STFTSpec(512, 128)
        x = torch.randn(2, 3000, device=device, dtype=dtype)
        X = _torch_stft(x, spec)
        # the reference backend (on CUDA, backend="auto" runs the fused kernels: tests/kernels checks those)
        # |X|^2 is re^2 + im^2 here, abs()^2 in torch: on CUDA they round differently (3e-6 relative seen on an H200)
        rtol = dict(rtol=1e-5, atol=1e-5) if device.type == "cuda" and dtype == torch.float32 else {}
        torch.testing.assert_close(spectrogram(x, spec, power=2.0, backend="reference"), X.abs() ** 2, **rtol)
        torch.testing.assert_close(spectrogram(x, spec, power=1.0, backend="reference"), X.abs())
        torch.testing.assert_close(spectrogram(x, spec, power=0.5), X.abs() ** 0.5)

    def test_sine_peak_bin(self):
        sr, f = 16000, 1000.0
        t = torch.arange(sr) / sr
        S = spectrogram(torch.sin(2 * math.pi * f * t), STFTSpec(512, 128))
        assert int(S.mean(-1).argmax()) == round(f * 512 / sr)

    def test_exception(self):
        with pytest.raises(InputError, match="power"):
            spectrogram(torch.randn(3000), STFTSpec(512, 128), power=0)
        with pytest.raises(InputError, match="backend"):
            spectrogram(torch.randn(3000), STFTSpec(512, 128), backend="cuda")

    def test_float64_always_takes_the_reference(self):
        # there are no float64 kernels: even backend="triton" (which needs CUDA for float32) runs the reference
        x = torch.randn(3000, dtype=torch.float64)
        spec = STFTSpec(512, 128)
        torch.testing.assert_close(spectrogram(x, spec, backend="triton"), spectrogram(x, spec, backend="reference"))
        with pytest.raises(InputError, match="CUDA tensor"):
            spectrogram(x.float(), spec, backend="triton")

    def test_env_override(self, monkeypatch):
        monkeypatch.setenv("SIGKIT_SPECTRAL_BACKEND", "nonsense")
        with pytest.raises(InputError, match="SIGKIT_SPECTRAL_BACKEND"):
            spectrogram(torch.randn(3000), STFTSpec(512, 128))
        monkeypatch.setenv("SIGKIT_SPECTRAL_BACKEND", "reference")
        assert spectrogram(torch.randn(3000), STFTSpec(512, 128)).shape == (257, 24)

    def test_gradcheck(self):
        x = torch.randn(200, dtype=torch.float64, requires_grad=True)
        spec = STFTSpec(64, 16, 48)
        assert torch.autograd.gradcheck(lambda t: spectrogram(t, spec, power=2.0, backend="reference"), (x,), fast_mode=True)
        assert torch.autograd.gradcheck(lambda t: spectrogram(t, spec, power=1.0, backend="reference"), (x,), fast_mode=True)


class TestAmpPhase:
    spec = STFTSpec(1024, 80, 320)

    def test_official_definition(self, device, dtype):
        # AP-BWE's amp_pha_stft: torch.stft with hann(win), center, reflect; log(|X| + 1e-4); angle(X).
        x = torch.randn(2, 8000, device=device, dtype=dtype)
        X = torch.stft(x, 1024, 80, 320, torch.hann_window(320, dtype=dtype, device=device), center=True,
                       pad_mode="reflect", normalized=False, return_complex=True)
        log_amp, phase = amp_phase(x, self.spec, backend="reference")
        if device.type == "cpu":  # the same pocketfft calls in the same order: bit for bit
            torch.testing.assert_close(log_amp, torch.log(X.abs() + 1e-4), rtol=0, atol=0)
            torch.testing.assert_close(phase, torch.angle(X), rtol=0, atol=0)
        else:  # cuFFT through torch.stft vs our framing: rounding differs; phase is ill-posed where |X| ~ 0
            tol = 1e-4 if dtype == torch.float32 else 1e-10
            torch.testing.assert_close(log_amp, torch.log(X.abs() + 1e-4), rtol=0, atol=tol)
            strong = X.abs() > 1e-3 * X.abs().amax(dim=(-2, -1), keepdim=True)
            wrapped = torch.remainder(phase - torch.angle(X) + math.pi, 2 * math.pi) - math.pi
            assert wrapped[strong].abs().max() < tol
        assert phase.abs().max() <= math.pi

    def test_round_trip_differs_by_about_eps(self, dtype):
        x = torch.randn(3, 8000, dtype=dtype)
        exact = from_amp_phase(*amp_phase(x, self.spec, eps=0.0), self.spec, length=8000)
        assert (exact - x).abs().max() < (1e-5 if dtype == torch.float32 else 1e-10)
        approx = from_amp_phase(*amp_phase(x, self.spec, eps=1e-4), self.spec, length=8000)
        diff = (approx - x).abs().max()
        # the eps is not subtracted on the way back (official behaviour): an error of the order of eps
        assert 1e-6 < diff < 1e-2

    def test_cardinality(self):
        log_amp, phase = AmpPhase()(torch.randn(2, 3, 8001))
        assert log_amp.shape == phase.shape == (2, 3, 513, 101)
        assert FromAmpPhase()(log_amp, phase, length=8001).shape == (2, 3, 8001)

    def test_exception(self):
        with pytest.raises(InputError, match="differ"):
            from_amp_phase(torch.zeros(513, 10), torch.zeros(513, 11), self.spec)
        with pytest.raises(InputError, match="513"):
            from_amp_phase(torch.zeros(512, 10), torch.zeros(512, 10), self.spec)

    def test_gradcheck(self):
        # Bins whose spectrum is exactly real have a phase that jumps between +-pi with the rounding sign of
        # a zero imaginary part: DC and Nyquist always, and with reflect padding every bin of the first frame
        # (a symmetric frame). So the phase is checked on interior bins with constant padding.
        spec = STFTSpec(64, 16, 32, pad_mode="constant")
        x = torch.randn(300, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda t: (lambda la, ph: (la, ph[1:-1]))(*amp_phase(t, spec, backend="reference")), (x,), fast_mode=True
        )
        la, ph = (t.detach().requires_grad_() for t in amp_phase(x.detach(), spec))
        assert torch.autograd.gradcheck(lambda a, p: from_amp_phase(a, p, spec, length=300, backend="reference"),
                                        (la, ph), fast_mode=True)
