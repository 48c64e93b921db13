"""Front ends: waveform batch ``(B, T)`` -> feature map ``(B, F, N)`` (F features per token column, N frames).

Three front ends, all on the spectral core and all parameter-free:

- :class:`LogMelFrontend` -- log-mel spectrogram (the paper's input to the tiny BERT);
- :class:`MFCCFrontend` -- MFCC (the baseline CNN's input, and a feature variant for the transformer);
- :class:`WaveChunkFrontend` -- the raw waveform cut into non-overlapping chunks of ``chunk`` samples
  (each chunk is one token, the paper's raw-audio variant).

Every front end normalises each clip on its own (``norm="clip"``: zero mean, unit standard deviation
over the whole feature map) so the model sees the same scale whatever the recording level, and tells
the feature shape a clip of ``T`` samples gives with :meth:`out_shape` -- the models size their learned
positions with it.
"""

from __future__ import annotations

import math

import torch  # noqa: F401  (the doctests use it)
from torch import Tensor, nn

from sigkit.errors import InputError
from sigkit.spectral import STFTSpec, log_mel, mfcc

NORMS = ("clip", "none")


def _as_batch(wave: Tensor) -> Tensor:
    """``(T,)``, ``(B, T)`` or ``(B, 1, T)`` -> ``(B, T)``."""
    if not isinstance(wave, Tensor) or not wave.is_floating_point():
        raise InputError(f"front end input must be a float tensor (B, T), got {type(wave).__name__}")
    if wave.dim() == 3 and wave.shape[1] == 1:
        wave = wave[:, 0]
    if wave.dim() == 1:
        wave = wave[None]
    if wave.dim() != 2:
        raise InputError(f"front end input must have shape (B, T) or (B, 1, T), got {tuple(wave.shape)}")
    return wave


def normalize_clip(features: Tensor, eps: float = 1e-5) -> Tensor:
    """Standardise each item of ``(B, F, N)`` over its ``F x N`` values (zero mean, unit std).

    >>> y = normalize_clip(torch.randn(2, 4, 5) * 3 + 1)
    >>> y.mean(dim=(1, 2)).abs().max() < 1e-5, (y.std(dim=(1, 2), correction=0) - 1).abs().max() < 1e-3
    (tensor(True), tensor(True))
    """
    mean = features.mean(dim=(-2, -1), keepdim=True)
    std = features.std(dim=(-2, -1), keepdim=True, correction=0)
    return (features - mean) / (std + eps)


class _Frontend(nn.Module):
    """Shared checks of the front ends (the normalisation choice)."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        if norm not in NORMS:
            raise InputError(f"front end norm must be one of {NORMS}, got {norm!r}")
        self.norm = norm

    def _finish(self, features: Tensor) -> Tensor:
        return normalize_clip(features) if self.norm == "clip" else features

    def out_shape(self, n_samples: int) -> tuple[int, int]:
        """``(F, N)`` of the feature map of a clip of ``n_samples`` samples."""
        raise NotImplementedError(f"{type(self).__name__} must implement out_shape() (base class of the front ends)")


class LogMelFrontend(_Frontend):
    """Log-mel spectrogram in dB (``librosa.power_to_db`` convention), ``(B, T) -> (B, n_mels, frames)``.

    Args:
        sr: sample rate of the input in Hz.
        n_fft, hop, win: STFT size, hop and window length in samples (``win`` defaults to ``n_fft``).
        n_mels: mel bands (the feature size ``F``).
        fmin, fmax: band edges in Hz (``fmax`` defaults to ``sr / 2``).
        top_db: dynamic range kept below each clip's peak, in dB.
        norm: ``"clip"`` standardises each clip, ``"none"`` returns dB values.

    >>> fe = LogMelFrontend(sr=16000, n_fft=512, hop=256, n_mels=40)
    >>> fe(torch.randn(2, 16000)).shape, fe.out_shape(16000)
    (torch.Size([2, 40, 63]), (40, 63))
    """

    def __init__(
        self,
        sr: int = 16000,
        n_fft: int = 1024,
        hop: int = 1024,
        win: int | None = None,
        n_mels: int = 40,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float = 80.0,
        norm: str = "clip",
    ) -> None:
        super().__init__(norm)
        self.sr, self.n_mels, self.fmin, self.fmax, self.top_db = sr, n_mels, fmin, fmax, top_db
        self.spec = STFTSpec(n_fft, hop, win)

    def forward(self, wave: Tensor) -> Tensor:
        feats = log_mel(
            _as_batch(wave),
            self.spec,
            self.sr,
            self.n_mels,
            self.fmin,
            self.fmax,
            mode="db",
            top_db=self.top_db,
        )
        return self._finish(feats)

    def out_shape(self, n_samples: int) -> tuple[int, int]:
        return self.n_mels, self.spec.n_frames(n_samples)


class MFCCFrontend(_Frontend):
    """MFCC (``librosa.feature.mfcc`` convention), ``(B, T) -> (B, n_mfcc, frames)``.

    Args:
        sr, n_fft, hop, win, fmin, fmax, top_db, norm: as :class:`LogMelFrontend`.
        n_mfcc: coefficients kept (the feature size ``F``).
        n_mels: mel bands the DCT is taken over.

    >>> fe = MFCCFrontend(sr=16000, n_fft=512, hop=256, n_mfcc=13, n_mels=40)
    >>> fe(torch.randn(2, 16000)).shape
    torch.Size([2, 13, 63])
    """

    def __init__(
        self,
        sr: int = 16000,
        n_fft: int = 1024,
        hop: int = 512,
        win: int | None = None,
        n_mfcc: int = 20,
        n_mels: int = 40,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float = 80.0,
        norm: str = "clip",
    ) -> None:
        super().__init__(norm)
        self.sr, self.n_mfcc, self.n_mels = sr, n_mfcc, n_mels
        self.fmin, self.fmax, self.top_db = fmin, fmax, top_db
        self.spec = STFTSpec(n_fft, hop, win)

    def forward(self, wave: Tensor) -> Tensor:
        feats = mfcc(
            _as_batch(wave),
            self.spec,
            self.sr,
            self.n_mfcc,
            self.n_mels,
            self.fmin,
            self.fmax,
            top_db=self.top_db,
        )
        return self._finish(feats)

    def out_shape(self, n_samples: int) -> tuple[int, int]:
        return self.n_mfcc, self.spec.n_frames(n_samples)


class WaveChunkFrontend(_Frontend):
    """The raw waveform as tokens: ``(B, T) -> (B, chunk, ceil(T / chunk))``, zero-padded at the end.

    Column ``n`` of the output holds samples ``n * chunk ... (n + 1) * chunk - 1``.

    Args:
        chunk: samples per token (the feature size ``F``).
        sr: the sample rate in Hz the model's input has (files are resampled to it).
        norm: ``"clip"`` standardises each clip (removes the recording level), ``"none"`` keeps samples.

    >>> fe = WaveChunkFrontend(chunk=4, norm="none")
    >>> fe(torch.arange(10.0)[None])[0, :, 0], fe.out_shape(10)
    (tensor([0., 1., 2., 3.]), (4, 3))
    """

    def __init__(self, chunk: int = 400, sr: int = 16000, norm: str = "clip") -> None:
        super().__init__(norm)
        if chunk <= 0:
            raise InputError(f"WaveChunkFrontend: chunk must be a positive number of samples, got {chunk}")
        self.chunk, self.sr = chunk, sr

    def forward(self, wave: Tensor) -> Tensor:
        wave = _as_batch(wave)
        n = math.ceil(wave.shape[-1] / self.chunk)
        wave = nn.functional.pad(wave, (0, n * self.chunk - wave.shape[-1]))
        return self._finish(wave.reshape(wave.shape[0], n, self.chunk).transpose(1, 2))

    def out_shape(self, n_samples: int) -> tuple[int, int]:
        return self.chunk, math.ceil(n_samples / self.chunk)
