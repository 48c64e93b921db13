"""Anti-wrapping phase function and AP-BWE's three phase losses."""
from __future__ import annotations

import math

import torch

from sigkit.errors import InputError


def anti_wrapping(x: torch.Tensor) -> torch.Tensor:
    """``|x - 2 pi round(x / 2 pi)|``: the distance of a phase difference to the nearest multiple of 2 pi.

    Values lie in ``[0, pi]``.

    Example:
        >>> anti_wrapping(torch.tensor([0.5, 2 * math.pi - 0.5, -7.0]))
        tensor([0.5000, 0.5000, 0.7168])
    """
    return torch.abs(x - 2.0 * math.pi * torch.round(x / (2.0 * math.pi)))


def phase_losses(
    phase_pred: torch.Tensor, phase_true: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AP-BWE's instantaneous phase (IP), group delay (GD) and instantaneous angular frequency (IAF) losses.

    Each is the mean over all bins of the anti-wrapped difference of, respectively, the phases, their
    differences along frequency and their differences along time.

    Args:
        phase_pred, phase_true: phases ``(..., F, frames)`` in radians.

    Returns:
        ``(ip, gd, iaf)``, three scalars.

    Example:
        >>> p = torch.rand(2, 5, 7) * 6 - 3
        >>> [round(float(v), 6) for v in phase_losses(p, p + 2 * math.pi)]
        [0.0, 0.0, 0.0]
    """
    if phase_pred.shape != phase_true.shape or phase_pred.dim() < 2:
        raise InputError(
            f"phase_losses: need equal shapes (..., F, frames), got {tuple(phase_pred.shape)} and {tuple(phase_true.shape)}"
        )
    ip = anti_wrapping(phase_true - phase_pred).mean()
    gd = anti_wrapping(torch.diff(phase_true, dim=-2) - torch.diff(phase_pred, dim=-2)).mean()
    iaf = anti_wrapping(torch.diff(phase_true, dim=-1) - torch.diff(phase_pred, dim=-1)).mean()
    return ip, gd, iaf
