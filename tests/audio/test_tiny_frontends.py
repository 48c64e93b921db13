"""Front ends of sigkit.audio.tiny: shapes, numbers against the spectral core, normalisation, errors."""

from __future__ import annotations

import math

import pytest
import torch
from sigkit.audio.tiny.frontends import LogMelFrontend, MFCCFrontend, WaveChunkFrontend, normalize_clip

from sigkit.errors import InputError
from sigkit.spectral import STFTSpec, log_mel, mfcc


def _tone(freq: float, sr: int = 16000, seconds: float = 0.5, batch: int = 2) -> torch.Tensor:
    t = torch.arange(int(sr * seconds)) / sr
    return torch.stack([torch.sin(2 * math.pi * freq * (k + 1) * t) for k in range(batch)])


class TestLogMelFrontend:
    def test_shape_matches_out_shape(self):
        fe = LogMelFrontend(sr=16000, n_fft=512, hop=160, n_mels=32)
        for length in (4000, 8001, 16000):
            out = fe(torch.randn(3, length))
            assert out.shape == (3, *fe.out_shape(length))

    def test_unnormalised_equals_spectral_core_db(self):
        fe = LogMelFrontend(sr=16000, n_fft=512, hop=256, n_mels=40, top_db=80.0, norm="none")
        x = _tone(440.0)
        ref = log_mel(x, STFTSpec(512, 256), 16000, 40, mode="db", top_db=80.0)
        torch.testing.assert_close(fe(x), ref)

    def test_clip_norm_is_standardised_and_level_invariant(self):
        fe = LogMelFrontend(sr=16000, n_fft=512, hop=256, n_mels=40)
        x = _tone(300.0) + 0.01 * torch.randn(2, 8000)
        y = fe(x)
        torch.testing.assert_close(y.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(y.std(dim=(1, 2), correction=0), torch.ones(2), atol=1e-3, rtol=0)
        # a gain is a constant dB offset, which the per-clip normalisation removes
        torch.testing.assert_close(fe(4.0 * x), y, atol=1e-3, rtol=0)

    def test_tone_lands_in_the_right_mel_band(self):
        fe = LogMelFrontend(sr=16000, n_fft=1024, hop=512, n_mels=64, norm="none")
        low, high = fe(_tone(250.0, batch=1)), fe(_tone(4000.0, batch=1))
        assert low.mean(-1).argmax() < high.mean(-1).argmax()

    def test_accepts_b1t_and_t(self):
        fe = LogMelFrontend(sr=16000, n_fft=512, hop=256, n_mels=20)
        x = torch.randn(2, 4000)
        torch.testing.assert_close(fe(x[:, None]), fe(x))
        assert fe(x[0]).shape == (1, 20, fe.out_shape(4000)[1])

    def test_errors(self):
        fe = LogMelFrontend(sr=16000, n_fft=512, hop=256)
        with pytest.raises(InputError, match=r"shape \(B, T\)"):
            fe(torch.randn(2, 2, 2, 4000))
        with pytest.raises(InputError, match="float tensor"):
            fe(torch.zeros(2, 4000, dtype=torch.long))
        with pytest.raises(InputError, match="norm must be one of"):
            LogMelFrontend(norm="batch")


class TestMFCCFrontend:
    def test_equals_spectral_core_mfcc(self):
        fe = MFCCFrontend(sr=16000, n_fft=512, hop=256, n_mfcc=13, n_mels=40, norm="none")
        x = _tone(500.0)
        torch.testing.assert_close(fe(x), mfcc(x, STFTSpec(512, 256), 16000, 13, 40))
        assert fe(x).shape == (2, *fe.out_shape(x.shape[-1]))

    def test_normalised(self):
        y = MFCCFrontend(sr=16000, n_fft=512, hop=256, n_mfcc=20)(torch.randn(2, 8000))
        torch.testing.assert_close(y.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5, rtol=0)


class TestWaveChunkFrontend:
    def test_chunks_are_consecutive_samples(self):
        fe = WaveChunkFrontend(chunk=5, norm="none")
        x = torch.arange(23.0)[None]
        y = fe(x)
        assert y.shape == (1, 5, 5) and fe.out_shape(23) == (5, 5)
        torch.testing.assert_close(y[0, :, 2], torch.arange(10.0, 15.0))
        torch.testing.assert_close(y[0, :, 4], torch.tensor([20.0, 21.0, 22.0, 0.0, 0.0]))

    def test_clip_norm(self):
        y = WaveChunkFrontend(chunk=100)(3.0 * torch.randn(2, 1000) + 1.0)
        torch.testing.assert_close(y.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5, rtol=0)
        assert torch.allclose(normalize_clip(y), y, atol=1e-4)

    def test_bad_chunk(self):
        with pytest.raises(InputError, match="chunk must be a positive"):
            WaveChunkFrontend(chunk=0)
