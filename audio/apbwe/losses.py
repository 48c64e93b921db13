"""AP-BWE's losses, with the official code's weights.

Generator: ``45 L_A + 100 (L_IP + L_GD + L_IAF) + 90 L_C + 90 L_S + L_adv + L_FM`` where

- ``L_A``: MSE between target and generated natural log-amplitudes (full band);
- ``L_IP, L_GD, L_IAF``: anti-wrapping phase losses (:func:`sigkit.spectral.phase_losses`);
- ``L_C``: MSE between target and generated complex spectra (real/imag, linear magnitude);
- ``L_S``: STFT consistency, MSE between the generated complex spectrum and the STFT of its iSTFT;
- ``L_adv = L_MPD + 0.1 (L_MRAD + L_MRPD)`` (hinge), ``L_FM`` the same mix of L1 feature matching.

Discriminators: ``L_D = L_MPD + 0.1 (L_MRAD + L_MRPD)`` (hinge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from sigkit.audio.apbwe.model import complex_from_amp_phase  # noqa: F401  (re-exported)
from torch import Tensor

from sigkit.spectral import phase_losses


@dataclass(frozen=True)
class LossWeights:
    """Weights of AP-BWE's generator and discriminator terms (defaults: the official code)."""

    amplitude: float = 45.0
    phase: float = 100.0
    complex: float = 90.0
    consistency: float = 90.0
    mpd: float = 1.0
    mrd: float = 0.1  # MRAD and MRPD, adversarial and feature matching alike


def hinge_discriminator_loss(real: Sequence[Tensor], fake: Sequence[Tensor]) -> Tensor:
    """``sum_k mean(relu(1 - D_k(y))) + mean(relu(1 + D_k(y_hat)))`` over sub-discriminators ``k``.

    >>> hinge_discriminator_loss([torch.tensor([2.0, 0.5])], [torch.tensor([-2.0, 0.0])])
    tensor(0.7500)
    """
    return sum(torch.relu(1 - r).mean() + torch.relu(1 + g).mean() for r, g in zip(real, fake, strict=False))


def hinge_generator_loss(fake: Sequence[Tensor]) -> Tensor:
    """``sum_k mean(relu(1 - D_k(y_hat)))``.

    >>> hinge_generator_loss([torch.tensor([0.0, 2.0]), torch.tensor([-1.0])])
    tensor(2.5000)
    """
    return sum(torch.relu(1 - g).mean() for g in fake)


def feature_matching_loss(
    fmaps_real: Sequence[Sequence[Tensor]], fmaps_fake: Sequence[Sequence[Tensor]]
) -> Tensor:
    """``sum_k sum_l mean|f_real - f_fake|`` (L1, weight 1, as HiFi-GAN and AP-BWE).

    >>> feature_matching_loss([[torch.zeros(3), torch.ones(2)]], [[torch.ones(3), torch.ones(2)]])
    tensor(1.)
    """
    pairs = (
        (r, g) for dr, dg in zip(fmaps_real, fmaps_fake, strict=True) for r, g in zip(dr, dg, strict=True)
    )
    return sum(torch.mean(torch.abs(r - g)) for r, g in pairs)


def reconstruction_losses(
    log_amp: Tensor,
    phase: Tensor,
    com: Tensor,
    log_amp_g: Tensor,
    phase_g: Tensor,
    com_g: Tensor,
    com_g_hat: Tensor,
) -> dict[str, Tensor]:
    """AP-BWE's unweighted spectral losses.

    Args:
        log_amp, phase: target log-amplitude and phase ``(B, F, T)``.
        com: target complex spectrum ``(B, F, T, 2)`` (real, imag) built from them.
        log_amp_g, phase_g, com_g: the generator's outputs, same shapes.
        com_g_hat: the complex spectrum ``(B, F, T, 2)`` of the STFT of the generated waveform.

    Returns:
        ``{"amplitude", "ip", "gd", "iaf", "complex", "consistency"}``, scalars.

    >>> a = torch.zeros(1, 4, 3); p = torch.zeros(1, 4, 3); c = torch.zeros(1, 4, 3, 2)
    >>> out = reconstruction_losses(a, p, c, a + 1, p + 0.5, c, c + 2)
    >>> {k: round(float(v), 4) for k, v in out.items()}
    {'amplitude': 1.0, 'ip': 0.5, 'gd': 0.0, 'iaf': 0.0, 'complex': 0.0, 'consistency': 4.0}
    """
    ip, gd, iaf = phase_losses(phase_g, phase)
    return {
        "amplitude": F.mse_loss(log_amp_g, log_amp),
        "ip": ip,
        "gd": gd,
        "iaf": iaf,
        "complex": F.mse_loss(com_g, com),
        "consistency": F.mse_loss(com_g, com_g_hat),
    }


def weighted_reconstruction(terms: dict[str, Tensor], w: LossWeights = LossWeights()) -> Tensor:
    """``45 L_A + 100 (L_IP + L_GD + L_IAF) + 90 L_C + 90 L_S`` with the weights of ``w``.

    >>> t = {k: torch.tensor(1.0) for k in ("amplitude", "ip", "gd", "iaf", "complex", "consistency")}
    >>> weighted_reconstruction(t)
    tensor(525.)
    """
    return (
        w.amplitude * terms["amplitude"]
        + w.phase * (terms["ip"] + terms["gd"] + terms["iaf"])
        + w.complex * terms["complex"]
        + w.consistency * terms["consistency"]
    )
