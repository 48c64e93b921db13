"""Waveform metrics: LSD, SNR and APD exactly as AP-BWE's official ``cal_metrics.py``, and SI-SDR.

All take ``(..., T)`` tensors and return one value per leading index, shape ``(...)``. Like the
official evaluation, ``pred`` and ``target`` are first cut to their common length along ``T``.
Average the result yourself (the official script averages per-utterance values over the test set).
"""

from __future__ import annotations

import math

import torch

from sigkit.errors import InputError

__all__ = ["lsd", "snr", "si_sdr", "apd"]


def _pair(pred: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (torch.is_tensor(pred) and torch.is_tensor(target)):
        raise InputError(f"{name}: pred and target must be tensors (..., T)")
    if pred.ndim == 0 or target.ndim == 0:
        raise InputError(f"{name}: pred and target must have a time axis (..., T), got 0-d tensors")
    if pred.shape[:-1] != target.shape[:-1]:
        raise InputError(
            f"{name}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ before the "
            "time axis; they must be (..., T) with the same leading shape"
        )
    n = min(pred.shape[-1], target.shape[-1])
    if n == 0:
        raise InputError(f"{name}: zero-length signal")
    return pred[..., :n], target[..., :n]


def _stft_2048(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``torch.stft`` as the official script calls it (hann, center=True, reflect). ``(N, F, frames)``."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.shape[-1] <= n_fft // 2:
        raise InputError(
            f"signal of {flat.shape[-1]} samples is too short for an STFT with n_fft={n_fft} "
            f"(reflect padding needs more than {n_fft // 2})"
        )
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    return torch.stft(flat, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)


def lsd(pred: torch.Tensor, target: torch.Tensor, n_fft: int = 2048, hop: int = 512) -> torch.Tensor:
    """Log-spectral distance as AP-BWE's evaluation defines it (``cal_metrics.py``, ``cal_lsd``).

    ``S = log10(clamp(|STFT(x)|^2, 1e-8))`` with ``torch.stft(n_fft=2048, hop=512, hann(2048), center=True,
    reflect)``; ``LSD = mean_frames sqrt(mean_freq (S_pred - S_target)^2)``. Full band, silence included.

    Args:
        pred: ``(..., T)`` generated waveform at the target rate.
        target: ``(..., T')`` reference waveform; both are cut to ``min(T, T')``.
        n_fft, hop: STFT size and hop in samples (official: 2048, 512).

    Returns:
        ``(...)`` LSD per signal (unitless, log10 power; 0 for identical signals).

    >>> import torch
    >>> x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    >>> lsd(x, x).tolist()
    [0.0, 0.0]
    >>> round(float(lsd(x, 0.1 * x)[0]), 3)  # a 20 dB gain difference is 2 in log10 power (bins < 1e-8 clamp)
    2.0
    """
    pred, target = _pair(pred, target, "lsd")
    sp = torch.log10(_stft_2048(pred, n_fft, hop).abs().square().clamp(min=1e-8))
    st = torch.log10(_stft_2048(target, n_fft, hop).abs().square().clamp(min=1e-8))
    return (sp - st).square().mean(dim=-2).sqrt().mean(dim=-1).reshape(pred.shape[:-1])


def snr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SNR in dB as AP-BWE's evaluation defines it: ``20 log10(|y| / max(|y - y_hat|, 1e-8))``.

    Args:
        pred: ``(..., T)`` estimate ``y_hat``; target: ``(..., T')`` reference ``y`` (cut to common length).

    Returns:
        ``(...)`` SNR in dB (finite even for identical signals: the error norm is clamped at 1e-8).

    >>> import torch
    >>> y = torch.ones(1, 100)
    >>> [round(v, 3) for v in snr(y + 0.1, y).tolist()]
    [20.0]
    """
    pred, target = _pair(pred, target, "snr")
    return 20 * torch.log10(target.norm(dim=-1) / (pred - target).norm(dim=-1).clamp(min=1e-8))


def si_sdr(
    pred: torch.Tensor, target: torch.Tensor, zero_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """Scale-invariant SDR in dB (Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019).

    ``s = a * target`` with ``a = <pred, target> / |target|^2``; ``SI-SDR = 10 log10(|s|^2 / |pred - s|^2)``.
    With ``zero_mean`` (the paper's convention) both signals have their mean removed first.

    Args:
        pred: ``(..., T)``; target: ``(..., T')``; cut to the common length.
        zero_mean: subtract each signal's mean.
        eps: guards the divisions (silent target or perfect estimate).

    Returns:
        ``(...)`` SI-SDR in dB; unchanged when ``pred`` is multiplied by any positive scale.

    >>> import torch
    >>> t = torch.sin(torch.arange(1000.0))
    >>> noisy = t + 0.1 * torch.cos(torch.arange(1000.0))
    >>> round(float(si_sdr(noisy, t)), 2) == round(float(si_sdr(5 * noisy, t)), 2)
    True
    """
    pred, target = _pair(pred, target, "si_sdr")
    if zero_mean:
        pred = pred - pred.mean(dim=-1, keepdim=True)
        target = target - target.mean(dim=-1, keepdim=True)
    alpha = (pred * target).sum(dim=-1, keepdim=True) / (target.square().sum(dim=-1, keepdim=True) + eps)
    scaled = alpha * target
    noise = pred - scaled
    return 10 * torch.log10((scaled.square().sum(dim=-1) + eps) / (noise.square().sum(dim=-1) + eps))


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return x - torch.round(x / (2 * math.pi)) * 2 * math.pi


def _neighbour_diff(phase: torch.Tensor, dim: int) -> torch.Tensor:
    """``out[j] = phase[j-1] - phase[j]``, ``out[0] = -phase[0]``: the official difference matrix."""
    shifted = torch.cat(
        [torch.zeros_like(phase.narrow(dim, 0, 1)), phase.narrow(dim, 0, phase.shape[dim] - 1)], dim
    )
    return shifted - phase


def apd(
    pred: torch.Tensor, target: torch.Tensor, n_fft: int = 2048, hop: int = 512
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anti-wrapping phase distances (IP, GD, IAF) as AP-BWE's ``cal_metrics.py`` (``cal_apd``) computes them.

    On the same 2048/512 STFT phase: IP is the wrapped phase error, GD the wrapped error of the
    differences between neighbouring frequency bins, IAF between neighbouring frames (the official
    difference matrices also keep the first bin/frame's ``-phase[0]``, reproduced here). Each is squared,
    averaged over axis 1 of the official tensors and square-rooted, then averaged: RMS over frequency for
    IP and IAF, but RMS over **frames** for GD (the official script transposes before its GD matrix
    product); this function reproduces that.

    Args:
        pred, target: ``(..., T)`` waveforms (cut to the common length).

    Returns:
        ``(ip, gd, iaf)`` each ``(...)`` in radians.

    >>> import torch
    >>> x = torch.randn(4000)
    >>> [float(v) for v in apd(x, x)]
    [0.0, 0.0, 0.0]
    """
    pred, target = _pair(pred, target, "apd")
    pp = torch.angle(_stft_2048(pred, n_fft, hop))
    pt = torch.angle(_stft_2048(target, n_fft, hop))
    lead = pred.shape[:-1]
    ip = _wrap(pp - pt).square().mean(dim=1).sqrt().mean(dim=-1)
    gd = _wrap(_neighbour_diff(pt, 1) - _neighbour_diff(pp, 1)).square().mean(dim=2).sqrt().mean(dim=-1)
    iaf = _wrap(_neighbour_diff(pt, 2) - _neighbour_diff(pp, 2)).square().mean(dim=1).sqrt().mean(dim=-1)
    return ip.reshape(lead), gd.reshape(lead), iaf.reshape(lead)
