"""``nn.Module`` wrappers: each stores its arguments and calls the function of the same name."""
from __future__ import annotations

import torch
from torch import nn

from sigkit.spectral.mel import log_mel, mel_spectrogram, mfcc
from sigkit.spectral.spec import STFTSpec
from sigkit.spectral.transforms import amp_phase, from_amp_phase, istft, spectrogram, stft


def _spec(n_fft: int, hop: int, win: int | None, window: str, center: bool, pad_mode: str) -> STFTSpec:
    return STFTSpec(n_fft, hop, win, window, center, pad_mode)


class STFT(nn.Module):
    """Module form of :func:`sigkit.spectral.stft`: ``(..., T)`` -> complex ``(..., F, frames)``.

    Example:
        >>> STFT(512, 128)(torch.randn(2, 4000)).shape
        torch.Size([2, 257, 32])
    """

    def __init__(self, n_fft: int, hop: int, win: int | None = None, window: str = "hann",
                 center: bool = True, pad_mode: str = "reflect") -> None:
        super().__init__()
        self.spec = _spec(n_fft, hop, win, window, center, pad_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stft(x, self.spec)


class ISTFT(STFT):
    """Module form of :func:`sigkit.spectral.istft`: complex ``(..., F, frames)`` -> ``(..., T)``.

    Example:
        >>> ISTFT(512, 128)(torch.zeros(257, 32, dtype=torch.complex64)).shape
        torch.Size([3968])
    """

    def forward(self, X: torch.Tensor, length: int | None = None) -> torch.Tensor:
        return istft(X, self.spec, length=length)


class Spectrogram(STFT):
    """Module form of :func:`sigkit.spectral.spectrogram`: ``(..., T)`` -> ``(..., F, frames)``.

    Example:
        >>> Spectrogram(512, 128, power=1.0)(torch.randn(4000)).shape
        torch.Size([257, 32])
    """

    def __init__(self, n_fft: int, hop: int, win: int | None = None, window: str = "hann", center: bool = True,
                 pad_mode: str = "reflect", power: float = 2.0, backend: str = "auto") -> None:
        super().__init__(n_fft, hop, win, window, center, pad_mode)
        self.power, self.backend = power, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spectrogram(x, self.spec, power=self.power, backend=self.backend)


class AmpPhase(STFT):
    """Module form of :func:`sigkit.spectral.amp_phase`: ``(..., T)`` -> ``(log_amp, phase)``.

    Example:
        >>> log_amp, phase = AmpPhase(1024, 80, 320)(torch.randn(8000))
        >>> log_amp.shape
        torch.Size([513, 101])
    """

    def __init__(self, n_fft: int = 1024, hop: int = 80, win: int | None = 320, window: str = "hann",
                 center: bool = True, pad_mode: str = "reflect", eps: float = 1e-4, backend: str = "auto") -> None:
        super().__init__(n_fft, hop, win, window, center, pad_mode)
        self.eps, self.backend = eps, backend

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return amp_phase(x, self.spec, eps=self.eps, backend=self.backend)


class FromAmpPhase(AmpPhase):
    """Module form of :func:`sigkit.spectral.from_amp_phase`: ``(log_amp, phase)`` -> ``(..., T)``.

    Example:
        >>> FromAmpPhase(1024, 80, 320)(torch.zeros(513, 101), torch.zeros(513, 101)).shape
        torch.Size([8000])
    """

    def forward(self, log_amp: torch.Tensor, phase: torch.Tensor, length: int | None = None) -> torch.Tensor:
        return from_amp_phase(log_amp, phase, self.spec, length=length, backend=self.backend)


class MelSpectrogram(nn.Module):
    """Module form of :func:`sigkit.spectral.mel_spectrogram`: ``(..., T)`` -> ``(..., n_mels, frames)``.

    Example:
        >>> MelSpectrogram(16000, 400, 160, n_mels=80)(torch.randn(16000)).shape
        torch.Size([80, 101])
    """

    def __init__(self, sr: float, n_fft: int, hop: int, win: int | None = None, n_mels: int = 128,
                 fmin: float = 0.0, fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
                 power: float = 2.0, window: str = "hann", center: bool = True, pad_mode: str = "reflect",
                 backend: str = "auto") -> None:
        super().__init__()
        self.spec = _spec(n_fft, hop, win, window, center, pad_mode)
        self.sr, self.n_mels, self.fmin, self.fmax, self.htk, self.norm = sr, n_mels, fmin, fmax, htk, norm
        self.power, self.backend = power, backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mel_spectrogram(x, self.spec, self.sr, self.n_mels, self.fmin, self.fmax, self.htk, self.norm,
                               self.power, backend=self.backend)


class LogMel(MelSpectrogram):
    """Module form of :func:`sigkit.spectral.log_mel` (``mode`` "natural", "db" or "whisper").

    Example:
        >>> LogMel(16000, 400, 160, n_mels=80, mode="whisper")(torch.randn(16000)).shape
        torch.Size([80, 100])
    """

    def __init__(self, sr: float, n_fft: int, hop: int, win: int | None = None, n_mels: int = 80,
                 fmin: float = 0.0, fmax: float | None = None, htk: bool = False, norm: str | None = "slaney",
                 power: float = 2.0, mode: str = "natural", top_db: float | None = 80.0, eps: float = 1e-5,
                 window: str = "hann", center: bool = True, pad_mode: str = "reflect", backend: str = "auto") -> None:
        super().__init__(sr, n_fft, hop, win, n_mels, fmin, fmax, htk, norm, power, window, center, pad_mode, backend)
        self.mode, self.top_db, self.eps = mode, top_db, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return log_mel(x, self.spec, self.sr, self.n_mels, self.fmin, self.fmax, self.htk, self.norm, self.power,
                       mode=self.mode, top_db=self.top_db, eps=self.eps, backend=self.backend)


class MFCC(MelSpectrogram):
    """Module form of :func:`sigkit.spectral.mfcc`: ``(..., T)`` -> ``(..., n_mfcc, frames)``.

    Example:
        >>> MFCC(16000, 512, 160, n_mfcc=13, n_mels=40)(torch.randn(16000)).shape
        torch.Size([13, 101])
    """

    def __init__(self, sr: float, n_fft: int, hop: int, win: int | None = None, n_mfcc: int = 20,
                 n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None, htk: bool = False,
                 norm: str | None = "slaney", top_db: float | None = 80.0, window: str = "hann",
                 center: bool = True, pad_mode: str = "reflect", backend: str = "auto") -> None:
        super().__init__(sr, n_fft, hop, win, n_mels, fmin, fmax, htk, norm, 2.0, window, center, pad_mode, backend)
        self.n_mfcc, self.top_db = n_mfcc, top_db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mfcc(x, self.spec, self.sr, self.n_mfcc, self.n_mels, self.fmin, self.fmax, self.htk, self.norm,
                    self.top_db, backend=self.backend)
