"""Mel filterbanks (librosa's, slaney and htk scales), mel spectrograms, log-mel and MFCC."""
from __future__ import annotations

import functools
import math

import torch

from sigkit.errors import InputError
from sigkit.kernels.device_cache import device_constant
from sigkit.spectral import _backend
from sigkit.spectral.spec import STFTSpec
from sigkit.spectral.transforms import _check_wave, spectrogram

LOG_MODES = ("natural", "db", "whisper")

# Slaney's auditory-toolbox scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False).
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor, htk: bool = False) -> torch.Tensor:
    """Frequencies in Hz to mels on the htk (``2595 log10(1 + f/700)``) or slaney scale."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    if htk:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    linear = hz / _F_SP
    log_part = _MIN_LOG_MEL + torch.log(torch.clamp(hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(hz >= _MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mel: torch.Tensor, htk: bool = False) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return torch.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


@functools.lru_cache(maxsize=64)
def _mel_filterbank64(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None):
    fft_freqs = torch.linspace(0.0, sr / 2.0, n_fft // 2 + 1, dtype=torch.float64)
    mel_pts = torch.linspace(float(hz_to_mel(fmin, htk)), float(hz_to_mel(fmax, htk)), n_mels + 2, dtype=torch.float64)
    mel_f = mel_to_hz(mel_pts, htk)
    fdiff = torch.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def _mel_filterbank_cached(sr, n_fft, n_mels, fmin, fmax, htk, norm, device, dtype):
    key = ("mel_filterbank", sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype)
    return device_constant(key, lambda: _mel_filterbank64(sr, n_fft, n_mels, fmin, fmax, htk, norm).to(dtype), device)


def mel_filterbank(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Triangular mel filterbank equal to ``librosa.filters.mel`` (computed in float64, then cast).

    Args:
        sr: sample rate in Hz.
        n_fft: FFT size; the bank has ``n_fft // 2 + 1`` columns.
        n_mels: number of mel bands.
        fmin, fmax: band edges in Hz (``fmax`` defaults to ``sr / 2``).
        htk: the HTK formula instead of Slaney's scale.
        norm: ``"slaney"`` (area normalisation) or ``None``.

    Returns:
        ``(n_mels, n_fft // 2 + 1)`` weights; cached per arguments, device and dtype (do not modify).

    Example:
        >>> mel_filterbank(16000, 400, n_mels=80).shape
        torch.Size([80, 201])
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    if sr <= 0 or n_fft <= 0 or n_mels <= 0:
        raise InputError(f"mel_filterbank: sr, n_fft and n_mels must be positive, got {sr}, {n_fft}, {n_mels}")
    if not 0.0 <= fmin < fmax <= sr / 2.0 + 1e-9:
        raise InputError(f"mel_filterbank: need 0 <= fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    if norm not in ("slaney", None):
        raise InputError(f"mel_filterbank: norm must be 'slaney' or None, got {norm!r}")
    return _mel_filterbank_cached(
        float(sr), int(n_fft), int(n_mels), float(fmin), fmax, bool(htk), norm, torch.device(device), dtype
    )


def mel_spectrogram(
    x: torch.Tensor,
    spec: STFTSpec,
    sr: float,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    power: float = 2.0,
    backend: str = "auto",
) -> torch.Tensor:
    """Mel spectrogram ``fb @ |STFT(x)| ** power``.

    Args:
        x: waveform ``(..., T)``.
        spec: STFT parameters; sr: sample rate in Hz; the other arguments as :func:`mel_filterbank`.
        power: 2 for power (librosa's and torchaudio's default), 1 for magnitude.
        backend: ``"auto"``, ``"reference"``, ``"triton"`` or ``"cuda"`` (fused STFT + mel projection on CUDA).

    Returns:
        ``(..., n_mels, frames)``.

    Example:
        >>> mel_spectrogram(torch.randn(16000), STFTSpec(400, 160), sr=16000, n_mels=80).shape
        torch.Size([80, 101])
    """
    _check_wave(x, spec)
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    fb = mel_filterbank(sr, spec.n_fft, n_mels, fmin, fmax, htk, norm, x.device, dtype)
    impl = _backend.resolve(backend, x, op="mel_spectrogram", spec=spec) if power in (1.0, 2.0) else "reference"
    if impl != "reference":
        return _backend.kernels().mel_spectrogram(x, spec, fb, power=power, impl=impl)
    return torch.matmul(fb, spectrogram(x, spec, power=power, backend="reference"))


def power_to_db(S: torch.Tensor, amin: float = 1e-10, top_db: float | None = 80.0) -> torch.Tensor:
    """``10 log10(max(S, amin))``, floored at ``top_db`` below each item's maximum (over the last two dims).

    Matches ``librosa.power_to_db(S, ref=1.0, amin, top_db)`` item by item.

    Example:
        >>> power_to_db(torch.tensor([[1.0, 1e-12]]), top_db=None)
        tensor([[   0., -100.]])
    """
    db = 10.0 * torch.log10(torch.clamp(S, min=amin))
    if top_db is not None:
        if top_db < 0:
            raise InputError(f"top_db must be non-negative, got {top_db}")
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def _log_mel_from_mel(mel: torch.Tensor, mode: str, top_db: float | None, eps: float) -> torch.Tensor:
    if mode == "natural":
        return torch.log(torch.clamp(mel, min=eps))
    if mode == "db":
        return power_to_db(mel, amin=1e-10, top_db=top_db)
    log_spec = torch.log10(torch.clamp(mel, min=1e-10))
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
    return (log_spec + 4.0) / 4.0


def log_mel(
    x: torch.Tensor,
    spec: STFTSpec,
    sr: float,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    power: float = 2.0,
    mode: str = "natural",
    top_db: float | None = 80.0,
    eps: float = 1e-5,
    backend: str = "auto",
) -> torch.Tensor:
    """Log-mel spectrogram in one of three conventions.

    - ``"natural"``: ``log(max(mel, eps))`` (HiFi-GAN/Vocos style; use ``power=1`` for their magnitude mel).
    - ``"db"``: :func:`power_to_db` with ``top_db`` (librosa's ``power_to_db(melspectrogram(...))``).
    - ``"whisper"``: OpenAI Whisper's ``log_mel_spectrogram``: the last STFT frame dropped,
      ``log10(max(mel, 1e-10))`` floored 8 below each item's maximum, then ``(x + 4) / 4``. Use
      ``STFTSpec(400, 160)``, ``sr=16000``, ``n_mels=80`` (128 for large-v3), ``power=2``.

    Args:
        x: waveform ``(..., T)``; other arguments as :func:`mel_spectrogram`.

    Returns:
        ``(..., n_mels, frames)`` (``frames - 1`` for ``"whisper"``).

    Example:
        >>> log_mel(torch.randn(16000), STFTSpec(400, 160), 16000, mode="whisper").shape
        torch.Size([80, 100])
    """
    if mode not in LOG_MODES:
        raise InputError(f"log_mel: mode must be one of {LOG_MODES}, got {mode!r}")
    if mode == "natural" and eps <= 0:
        raise InputError(f"log_mel: eps must be positive, got {eps}")
    impl = _backend.resolve(backend, x, op="log_mel", spec=spec) if power in (1.0, 2.0) else "reference"
    if impl != "reference":
        _check_wave(x, spec)
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        fb = mel_filterbank(sr, spec.n_fft, n_mels, fmin, fmax, htk, norm, x.device, dtype)
        return _backend.kernels().log_mel(x, spec, fb, power=power, mode=mode, top_db=top_db, eps=eps, impl=impl)
    mel = mel_spectrogram(x, spec, sr, n_mels, fmin, fmax, htk, norm, power, backend="reference")
    if mode == "whisper":
        mel = mel[..., :-1]
    return _log_mel_from_mel(mel, mode, top_db, eps)


def _dct_matrix(n_mfcc: int, n_mels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return device_constant(("dct", n_mfcc, n_mels, dtype), lambda: _dct_matrix_host(n_mfcc, n_mels).to(dtype), device)


def _dct_matrix_host(n_mfcc: int, n_mels: int) -> torch.Tensor:
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis


def mfcc(
    x: torch.Tensor,
    spec: STFTSpec,
    sr: float,
    n_mfcc: int = 20,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    top_db: float | None = 80.0,
    backend: str = "auto",
) -> torch.Tensor:
    """MFCC as ``librosa.feature.mfcc``: orthonormal DCT-II of the dB power mel spectrogram.

    Args:
        x: waveform ``(..., T)``; n_mfcc: coefficients kept; other arguments as :func:`mel_spectrogram`.

    Returns:
        ``(..., n_mfcc, frames)``.

    Example:
        >>> mfcc(torch.randn(16000), STFTSpec(512, 160), 16000, n_mfcc=13, n_mels=40).shape
        torch.Size([13, 101])
    """
    if not 0 < n_mfcc <= n_mels:
        raise InputError(f"mfcc: need 0 < n_mfcc <= n_mels, got n_mfcc={n_mfcc}, n_mels={n_mels}")
    db = log_mel(x, spec, sr, n_mels, fmin, fmax, htk, norm, 2.0, mode="db", top_db=top_db, backend=backend)
    return torch.matmul(_dct_matrix(n_mfcc, n_mels, db.device, db.dtype), db)
