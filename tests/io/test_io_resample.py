"""sigkit.io.resample: parity with torchaudio, a sine's frequency kept, soxr quality, rate errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sigkit.errors import InputError, SampleRateError
from sigkit.io import check_rate, resample


def _sine(freq: float, sr: int, n: int, dtype=torch.float64) -> torch.Tensor:
    return torch.sin(2 * math.pi * freq * torch.arange(n, dtype=dtype) / sr)


def _peak_hz(x: torch.Tensor, sr: int) -> float:
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1], dtype=x.dtype)).abs()
    return float(spec.argmax()) * sr / x.shape[-1]


class TestResample:
    @pytest.mark.parametrize("sr_in,sr_out", [(48000, 16000), (16000, 48000), (44100, 16000), (8000, 22050)])
    def test_sinc_is_torchaudio_default(self, sr_in, sr_out, dtype):
        import torchaudio.functional as taf

        x = torch.randn(2, 3, 997, dtype=dtype, generator=torch.Generator().manual_seed(0))
        y = resample(x, sr_in, sr_out)
        assert y.shape == (2, 3, math.ceil(997 * sr_out / sr_in)) and y.dtype == dtype
        torch.testing.assert_close(
            y,
            taf.resample(
                x, sr_in, sr_out, lowpass_filter_width=6, rolloff=0.99, resampling_method="sinc_interp_hann"
            ),
            rtol=0,
            atol=0,
        )

    @pytest.mark.parametrize("method", ["sinc", "soxr"])
    @pytest.mark.parametrize("sr_in,sr_out", [(48000, 16000), (16000, 44100)])
    def test_sine_frequency_preserved(self, method, sr_in, sr_out):
        x = _sine(1000.0, sr_in, sr_in)  # 1 s, 1 kHz
        y = resample(x, sr_in, sr_out, method=method)
        assert y.shape[-1] == sr_out
        assert abs(_peak_hz(y, sr_out) - 1000.0) <= 1.0
        # amplitude kept away from the edges
        mid = y[sr_out // 10 : -sr_out // 10]
        assert abs(float(mid.abs().max()) - 1.0) < 0.01

    def test_soxr_matches_soxr_package_and_is_cleaner_near_cutoff(self):
        import soxr

        x = _sine(7500.0, 48000, 48000)  # 7.5 kHz: inside the sinc filter's transition band at 16 kHz
        y = resample(x, 48000, 16000, method="soxr")
        ref = torch.from_numpy(soxr.resample(x.numpy(), 48000, 16000, quality="HQ"))
        n = min(len(ref), len(y))
        torch.testing.assert_close(y[:n], ref[:n], rtol=0, atol=1e-12)
        sinc = resample(x, 48000, 16000)
        # sinc (rolloff 0.99 * 8 kHz = 7.92 kHz, width 6) attenuates 7.5 kHz more than soxr HQ does
        assert float(y[2000:-2000].abs().max()) > float(sinc[2000:-2000].abs().max())

    def test_soxr_keeps_batch_dims_device_dtype(self):
        x = torch.randn(2, 3, 100, dtype=torch.float32)
        y = resample(x, 8000, 12000, method="soxr")
        assert y.shape == (2, 3, 150) and y.dtype == torch.float32
        for i in range(2):
            for j in range(3):
                torch.testing.assert_close(y[i, j], resample(x[i, j], 8000, 12000, method="soxr"))

    def test_same_rate_is_identity(self):
        x = torch.randn(5)
        assert resample(x, 16000, 16000.0) is x

    def test_sinc_gradient(self):
        x = torch.randn(12, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda v: resample(v, 4, 3), (x,))

    @pytest.mark.parametrize("bad", [0, -16000, 44100.5, float("nan"), float("inf"), "16000", True, None])
    def test_bad_rates(self, bad):
        with pytest.raises(SampleRateError, match="sr_out"):
            resample(torch.zeros(10), 16000, bad)

    def test_non_integer_message_suggests_rounding(self):
        with pytest.raises(SampleRateError, match=r"44100\.5 Hz is not a whole number of Hz.*e\.g\. 44100"):
            check_rate(44100.5)

    def test_bad_method_and_tensor(self):
        with pytest.raises(InputError, match="unknown resample method 'kaiser'"):
            resample(torch.zeros(10), 8000, 16000, method="kaiser")
        with pytest.raises(InputError, match="float tensor"):
            resample(torch.zeros(10, dtype=torch.int16), 8000, 16000)
        with pytest.raises(InputError, match="float tensor"):
            resample(np.zeros(10), 8000, 16000)

    def test_numpy_integer_rates_accepted(self):
        assert check_rate(np.int64(8000)) == 8000 and check_rate(np.float32(8000.0)) == 8000
