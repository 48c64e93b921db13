"""Mel filterbanks, mel spectrograms, log-mel conventions and MFCC against librosa and Whisper's formula."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sigkit.errors import InputError
from sigkit.spectral import (
    MFCC,
    LogMel,
    MelSpectrogram,
    STFTSpec,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    mfcc,
    power_to_db,
)

librosa = pytest.importorskip("librosa")


class TestMelFilterbank:
    @pytest.mark.parametrize("htk", [False, True])
    @pytest.mark.parametrize("norm", ["slaney", None])
    @pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax",
                             [(16000, 400, 80, 0.0, None), (22050, 1024, 80, 0.0, 8000.0),
                              (48000, 2048, 128, 20.0, 20000.0), (8000, 256, 40, 100.0, 3800.0)])
    def test_matches_librosa(self, sr, n_fft, n_mels, fmin, fmax, htk, norm):
        ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm, dtype=torch.float64)
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                                  dtype=np.float64)
        assert ours.shape == (n_mels, n_fft // 2 + 1)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)

    def test_scales_match_librosa(self):
        hz = np.array([0.0, 440.0, 999.0, 1000.0, 4000.0, 11025.0])
        for htk in (False, True):
            np.testing.assert_allclose(hz_to_mel(torch.tensor(hz), htk).numpy(), librosa.hz_to_mel(hz, htk=htk),
                                       rtol=1e-12)
            np.testing.assert_allclose(mel_to_hz(hz_to_mel(torch.tensor(hz), htk), htk).numpy(), hz, atol=1e-9)

    def test_cache_and_device(self, device):
        a = mel_filterbank(16000, 400, 80, device=device)
        assert a is mel_filterbank(16000, 400, 80, device=device) and a.device.type == device.type

    def test_exception(self):
        with pytest.raises(InputError, match="fmin < fmax"):
            mel_filterbank(16000, 400, 80, fmin=9000.0)
        with pytest.raises(InputError, match="norm"):
            mel_filterbank(16000, 400, 80, norm="l2")
        with pytest.raises(InputError, match="positive"):
            mel_filterbank(16000, 400, 0)


def _signal(n=16000, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64) / 16000
    return torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)


class TestMelSpectrogram:
    def test_matches_librosa(self):
        x = _signal()
        spec = STFTSpec(512, 160, 400, pad_mode="constant")
        ours = mel_spectrogram(x, spec, 16000, n_mels=64, fmax=7600.0)
        ref = librosa.feature.melspectrogram(y=x.numpy(), sr=16000, n_fft=512, hop_length=160, win_length=400,
                                             center=True, pad_mode="constant", n_mels=64, fmax=7600.0, power=2.0)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-7, atol=1e-9)

    def test_cardinality_and_module(self, device, dtype):
        x = torch.randn(2, 3, 16000, device=device, dtype=dtype)
        m = MelSpectrogram(16000, 400, 160, n_mels=80)(x)
        assert m.shape == (2, 3, 80, 101) and m.dtype == dtype

    def test_gradcheck(self):
        x = torch.randn(400, dtype=torch.float64, requires_grad=True)
        spec = STFTSpec(64, 16)
        assert torch.autograd.gradcheck(lambda t: mel_spectrogram(t, spec, 8000, n_mels=8), (x,), fast_mode=True)


class TestLogMel:
    def test_db_matches_librosa(self):
        x = _signal(seed=1)
        spec = STFTSpec(1024, 256, pad_mode="constant")
        ours = log_mel(x, spec, 16000, n_mels=80, mode="db", top_db=80.0)
        S = librosa.feature.melspectrogram(y=x.numpy(), sr=16000, n_fft=1024, hop_length=256, n_mels=80)
        np.testing.assert_allclose(ours.numpy(), librosa.power_to_db(S, top_db=80.0), rtol=0, atol=1e-6)

    def test_whisper_convention(self):
        # Whisper's log_mel_spectrogram written out: stft(400, 160, hann, center reflect), drop the last
        # frame, |.|^2, slaney mel (80), log10(clamp 1e-10), floor at max - 8, (x + 4) / 4.
        x = _signal(n=24000, seed=2).float()
        X = torch.stft(x, 400, 160, window=torch.hann_window(400), return_complex=True)
        mags = X[..., :-1].abs() ** 2
        fb = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)).float()
        ref = torch.clamp(fb @ mags, min=1e-10).log10()
        ref = (torch.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
        ours = log_mel(x, STFTSpec(400, 160), 16000, n_mels=80, mode="whisper")
        assert ours.shape == (80, 150)
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)

    def test_natural(self, dtype):
        x = torch.randn(2, 8000, dtype=dtype)
        spec = STFTSpec(1024, 256)
        ours = log_mel(x, spec, 22050, n_mels=80, power=1.0, mode="natural", eps=1e-5)
        ref = torch.log(torch.clamp(mel_spectrogram(x, spec, 22050, 80, power=1.0), min=1e-5))
        torch.testing.assert_close(ours, ref)

    def test_top_db_per_item(self):
        S = torch.stack([torch.full((4, 5), 1.0), torch.full((4, 5), 1e-6)])
        S[0, 0, 0] = 1e-12
        S[1, 0, 0] = 1e-20
        db = power_to_db(S, top_db=30.0)
        assert float(db[0, 0, 0]) == pytest.approx(-30.0) and float(db[1, 0, 0]) == pytest.approx(-90.0)

    def test_module_and_exception(self):
        assert LogMel(16000, 400, 160, mode="db")(torch.randn(16000)).shape == (80, 101)
        with pytest.raises(InputError, match="mode"):
            log_mel(torch.randn(16000), STFTSpec(400, 160), 16000, mode="log2")
        with pytest.raises(InputError, match="top_db"):
            power_to_db(torch.ones(2, 2), top_db=-1.0)

    def test_gradcheck(self):
        x = torch.randn(400, dtype=torch.float64, requires_grad=True)
        spec = STFTSpec(64, 16)
        for mode in ("natural", "db", "whisper"):
            assert torch.autograd.gradcheck(lambda t, mode=mode: log_mel(t, spec, 8000, n_mels=8, mode=mode), (x,), fast_mode=True)


class TestMFCC:
    def test_matches_librosa(self):
        x = _signal(seed=3)
        ours = mfcc(x, STFTSpec(2048, 512, pad_mode="constant"), 16000, n_mfcc=20, n_mels=128)
        ref = librosa.feature.mfcc(y=x.numpy(), sr=16000, n_mfcc=20)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)

    def test_module_and_exception(self):
        assert MFCC(16000, 512, 160, n_mfcc=13, n_mels=40)(torch.randn(2, 16000)).shape == (2, 13, 101)
        with pytest.raises(InputError, match="n_mfcc"):
            mfcc(torch.randn(16000), STFTSpec(512, 160), 16000, n_mfcc=50, n_mels=40)
