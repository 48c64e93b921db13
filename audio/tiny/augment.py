"""Augmentations the paper compared: SpecAugment masking, mixup, time shift, gain, additive noise.

Waveform augmentations act on ``(B, T)`` batches, feature augmentations on ``(B, F, N)`` feature maps
(after the front end, before the tokens). Each is a function with an optional ``torch.Generator``
(same generator state, same draw) and, for use in a config, an ``nn.Module`` that applies it only in
training mode. Every item of a batch gets its own random draw.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from sigkit.errors import InputError


def _uniform(n: int, low: float, high: float, like: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(n, generator=generator, device="cpu", dtype=torch.float64)
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def _mask_axis(
    x: Tensor, axis: int, n_masks: int, max_width: int, generator: torch.Generator | None
) -> Tensor:
    """Zero ``n_masks`` random bands of width ``0..max_width`` along ``axis`` (1 = F, 2 = N) of (B, F, N)."""
    size = x.shape[axis]
    max_width = min(max_width, size)
    if n_masks <= 0 or max_width <= 0:
        return x
    batch = x.shape[0]
    keep = torch.ones(batch, size, dtype=torch.bool)
    idx = torch.arange(size)
    for _ in range(n_masks):
        width = torch.randint(0, max_width + 1, (batch,), generator=generator)
        start = (torch.rand(batch, generator=generator) * (size - width + 1)).long()
        keep &= ~((idx[None] >= start[:, None]) & (idx[None] < (start + width)[:, None]))
    keep = keep.to(x.device)
    shape = (batch, size, 1) if axis == 1 else (batch, 1, size)
    return x * keep.reshape(shape).to(x.dtype)


def spec_augment(
    features: Tensor,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_width: int = 10,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SpecAugment's frequency and time masking (Park et al. 2019) on ``(B, F, N)``: masked cells become 0.

    Each item gets ``freq_masks`` bands of ``0..freq_width`` features and ``time_masks`` bands of
    ``0..time_width`` frames, placed uniformly. With the front ends' per-clip normalisation 0 is the
    clip's mean.

    Returns:
        A new ``(B, F, N)`` tensor; the input is not modified.

    >>> x = torch.ones(1, 8, 10)
    >>> g = torch.Generator().manual_seed(1)
    >>> y = spec_augment(x, freq_masks=1, freq_width=8, time_masks=0, generator=g)
    >>> y.shape, bool(((y == 0) | (y == 1)).all())
    (torch.Size([1, 8, 10]), True)
    """
    if features.dim() != 3:
        raise InputError(f"spec_augment needs features (B, F, N), got shape {tuple(features.shape)}")
    if min(freq_masks, freq_width, time_masks, time_width) < 0:
        raise InputError("spec_augment: mask counts and widths must be >= 0")
    out = _mask_axis(features, 1, freq_masks, freq_width, generator)
    return _mask_axis(out, 2, time_masks, time_width, generator)


def mixup(
    x: Tensor, targets: Tensor, alpha: float = 0.2, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Mixup (Zhang et al. 2018): each item is blended with another of the batch, and so is its target.

    ``x_i' = lam_i x_i + (1 - lam_i) x_p(i)`` with ``lam_i ~ Beta(alpha, alpha)`` and ``p`` a random
    permutation; targets mix with the same weights.

    Args:
        x: any ``(B, ...)`` batch (waveforms or features).
        targets: class probabilities ``(B, C)`` (one-hot for hard labels).
        alpha: Beta distribution parameter (> 0).

    Returns:
        ``(x_mixed, targets_mixed)`` with the input shapes; target rows still sum to 1.

    >>> x, t = torch.eye(4), torch.eye(4)
    >>> xm, tm = mixup(x, t, alpha=0.4, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(xm, tm), torch.allclose(tm.sum(1), torch.ones(4))
    (True, True)
    """
    if alpha <= 0:
        raise InputError(f"mixup: alpha must be positive, got {alpha}")
    if targets.dim() != 2 or targets.shape[0] != x.shape[0]:
        raise InputError(f"mixup: targets must be (B, C) with B={x.shape[0]}, got {tuple(targets.shape)}")
    batch = x.shape[0]
    # numpy's Beta sampler, seeded from the torch generator so the draw is reproducible
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size=batch)).to(x.device, x.dtype)
    perm = torch.randperm(batch, generator=generator).to(x.device)
    lam_x = lam.reshape(batch, *([1] * (x.dim() - 1)))
    mixed = lam_x * x + (1 - lam_x) * x[perm]
    lam_t = lam.to(targets.dtype)[:, None]
    return mixed, lam_t * targets + (1 - lam_t) * targets[perm]


def time_shift(wave: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Roll each waveform of ``(B, T)`` circularly by its own random shift in ``[-max_shift, max_shift]``.

    >>> w = torch.arange(6.0).repeat(3, 1)
    >>> y = time_shift(w, 2, generator=torch.Generator().manual_seed(0))
    >>> bool((y.sort(dim=1).values == w).all())
    True
    """
    if wave.dim() != 2:
        raise InputError(f"time_shift needs waveforms (B, T), got shape {tuple(wave.shape)}")
    if max_shift < 0:
        raise InputError(f"time_shift: max_shift must be >= 0 samples, got {max_shift}")
    batch, length = wave.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (batch,), generator=generator)
    idx = (torch.arange(length)[None] - shifts[:, None]) % length
    return torch.gather(wave, 1, idx.to(wave.device))


def random_gain(
    wave: Tensor, min_db: float = -6.0, max_db: float = 6.0, generator: torch.Generator | None = None
) -> Tensor:
    """Scale each waveform of ``(B, T)`` by its own gain drawn uniformly in ``[min_db, max_db]`` dB.

    >>> y = random_gain(torch.ones(2, 4), 6.0, 6.0)
    >>> round(float(y[0, 0]), 4)
    1.9953
    """
    if wave.dim() != 2:
        raise InputError(f"random_gain needs waveforms (B, T), got shape {tuple(wave.shape)}")
    if min_db > max_db:
        raise InputError(f"random_gain: min_db {min_db} is above max_db {max_db}")
    gain_db = _uniform(wave.shape[0], min_db, max_db, wave, generator)
    return wave * (10.0 ** (gain_db / 20.0))[:, None]


def add_noise(
    wave: Tensor, snr_db: float | tuple[float, float], generator: torch.Generator | None = None
) -> Tensor:
    """Add white Gaussian noise at a signal-to-noise ratio (dB) to each waveform of ``(B, T)``.

    The noise of item ``b`` is scaled so that ``10 log10(mean(x_b^2) / mean(n_b^2))`` equals its SNR
    exactly; ``snr_db`` is one value or a ``(low, high)`` range each item draws from uniformly. Silent
    items stay silent.

    >>> x = torch.sin(torch.linspace(0, 100, 8000))[None]
    >>> n = add_noise(x, 10.0, generator=torch.Generator().manual_seed(0)) - x
    >>> round(float(10 * torch.log10(x.pow(2).mean() / n.pow(2).mean())), 3)
    10.0
    """
    if wave.dim() != 2:
        raise InputError(f"add_noise needs waveforms (B, T), got shape {tuple(wave.shape)}")
    low, high = (snr_db, snr_db) if isinstance(snr_db, (int, float)) else tuple(snr_db)
    if low > high:
        raise InputError(f"add_noise: SNR range ({low}, {high}) dB has low above high")
    noise = torch.randn(wave.shape, generator=generator, dtype=torch.float64).to(wave.device, wave.dtype)
    snr = _uniform(wave.shape[0], low, high, wave, generator)
    p_sig = wave.pow(2).mean(dim=1)
    p_noise = noise.pow(2).mean(dim=1).clamp_min(1e-20)
    scale = torch.sqrt(p_sig / (p_noise * 10.0 ** (snr / 10.0)))
    return wave + scale[:, None] * noise


class SpecAugment(nn.Module):
    """:func:`spec_augment` in training mode, identity in eval mode. ``(B, F, N) -> (B, F, N)``.

    >>> aug = SpecAugment(freq_masks=1, freq_width=2, time_masks=1, time_width=2).eval()
    >>> bool((aug(torch.ones(1, 4, 6)) == 1).all())
    True
    """

    def __init__(
        self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 10
    ) -> None:
        super().__init__()
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def forward(self, features: Tensor) -> Tensor:
        if not self.training:
            return features
        return spec_augment(features, self.freq_masks, self.freq_width, self.time_masks, self.time_width)


class WaveAugment(nn.Module):
    """Random time shift, gain and additive noise on ``(B, T)`` waveforms, in training mode only.

    Args:
        max_shift: largest circular shift in samples (0 turns it off).
        gain_db: ``(min_db, max_db)`` gain range, or ``None`` for no gain change.
        snr_db: ``(low, high)`` SNR range of added white noise in dB, or ``None`` for no noise.
        p_noise: probability that an item gets noise.

    >>> aug = WaveAugment(max_shift=100, gain_db=(-6.0, 6.0), snr_db=(10.0, 30.0))
    >>> aug(torch.randn(4, 1000)).shape
    torch.Size([4, 1000])
    """

    def __init__(
        self,
        max_shift: int = 0,
        gain_db: tuple[float, float] | None = None,
        snr_db: tuple[float, float] | None = None,
        p_noise: float = 0.5,
    ) -> None:
        super().__init__()
        if not 0.0 <= p_noise <= 1.0:
            raise InputError(f"WaveAugment: p_noise must be in [0, 1], got {p_noise}")
        self.max_shift, self.gain_db, self.snr_db, self.p_noise = max_shift, gain_db, snr_db, p_noise

    def forward(self, wave: Tensor) -> Tensor:
        if not self.training:
            return wave
        if self.max_shift > 0:
            wave = time_shift(wave, self.max_shift)
        if self.gain_db is not None:
            wave = random_gain(wave, *self.gain_db)
        if self.snr_db is not None and self.p_noise > 0:
            noisy = add_noise(wave, tuple(self.snr_db))
            pick = torch.rand(wave.shape[0], device=wave.device) < self.p_noise
            wave = torch.where(pick[:, None], noisy, wave)
        return wave
