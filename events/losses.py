"""Deblur e-NeRF's reconstruction losses as torch functions (Low & Lee, ECCV 2024).

Supervision comes in per-pixel intervals between consecutive events ``[t_{j-1} + tau_ref, t_j]``
(:func:`event_intervals`); a renderer predicts log intensity ``L`` (with the bandwidth model, the
differencing-amplifier output) at the interval ends, and

* :func:`event_count_loss` compares the predicted change with the observed ``n_on C_on - n_off C_off``,
  both divided by ``C_mean = (C_on + C_off) / 2`` (Huber, delta 1: the Robust e-NeRF normalised loss);
* :func:`threshold_normalized_tv_loss` penalises ``|L(t_b) - L(t_a)| / C_mean`` over random
  sub-intervals *between* events (:func:`sample_tv_subintervals`), where the sensor saw no crossing.

Total in the paper: ``l_diff + lambda_tv l_tv`` with ``lambda_tv`` 1e-3 (synthetic) or 0.1 (real).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .stream import Events


def event_intervals(ev: Events) -> dict[str, np.ndarray]:
    """Per event with a predecessor at its pixel: ``x, y, t_start`` (previous event, us), ``t_end``,
    ``n_on``, ``n_off`` (counts of this event: one of them is 1).

    >>> ev = Events.from_arrays([0, 5, 9], [0, 0, 1], [0, 0, 0], [1, -1, 1], 1, 2)
    >>> iv = event_intervals(ev); iv["t_start"].tolist(), iv["t_end"].tolist(), iv["n_off"].tolist()
    ([0], [5], [1])
    """
    w = int(ev.x.max()) + 1 if len(ev) else 1
    pix = ev.y.astype(np.int64) * w + ev.x.astype(np.int64)
    order = np.lexsort((ev.t, pix))
    ps = pix[order]
    has_prev = np.r_[False, ps[1:] == ps[:-1]]
    cur = order[has_prev]
    prev = order[np.flatnonzero(has_prev) - 1]
    o = np.argsort(ev.t[cur], kind="stable")
    cur, prev = cur[o], prev[o]
    return {"x": ev.x[cur], "y": ev.y[cur], "t_start": ev.t[prev], "t_end": ev.t[cur],
            "n_on": (ev.p[cur] > 0).astype(np.int64), "n_off": (ev.p[cur] < 0).astype(np.int64)}


def event_count_loss(log_end: torch.Tensor, log_start: torch.Tensor, n_on: torch.Tensor, n_off: torch.Tensor,
                     c_on: torch.Tensor | float, c_off: torch.Tensor | float) -> torch.Tensor:
    """``mean Huber_1((L_end - L_start) / C_mean, (n_on C_on - n_off C_off) / C_mean)``.

    Args:
        log_end, log_start: ``(N,)`` predicted log intensity at the interval ends.
        n_on, n_off: ``(N,)`` observed event counts; c_on, c_off: thresholds (scalars or ``(N,)``, learnable).

    >>> z = torch.zeros(2); one = torch.ones(2)
    >>> float(event_count_loss(torch.tensor([0.25, -0.25]), z, torch.tensor([1., 0.]), torch.tensor([0., 1.]), 0.25, 0.25))
    0.0
    """
    c_on = torch.as_tensor(c_on, dtype=log_end.dtype, device=log_end.device)
    c_off = torch.as_tensor(c_off, dtype=log_end.dtype, device=log_end.device)
    c_mean = 0.5 * (c_on + c_off)
    observed = n_on.to(log_end.dtype) * c_on - n_off.to(log_end.dtype) * c_off
    return F.huber_loss((log_end - log_start) / c_mean, observed / c_mean, delta=1.0)


def threshold_normalized_tv_loss(log_b: torch.Tensor, log_a: torch.Tensor, c_on: torch.Tensor | float,
                                 c_off: torch.Tensor | float) -> torch.Tensor:
    """``mean |L(t_b) - L(t_a)| / C_mean`` over sub-intervals without events.

    >>> float(threshold_normalized_tv_loss(torch.tensor([0.1, -0.1]), torch.zeros(2), 0.2, 0.2))
    0.5
    """
    c_mean = 0.5 * (torch.as_tensor(c_on, dtype=log_b.dtype) + torch.as_tensor(c_off, dtype=log_b.dtype))
    return ((log_b - log_a) / c_mean).abs().mean()


def sample_tv_subintervals(t_start: torch.Tensor, t_end: torch.Tensor, refractory: float = 0.0,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``(t_a, t_b)`` inside ``[t_start + refractory, t_end]``: length fraction ~ Triangular(0, 1,
    mode 0) (short sub-intervals favoured), start uniform in the remaining slack.

    >>> ta, tb = sample_tv_subintervals(torch.zeros(1000), torch.ones(1000), generator=torch.Generator().manual_seed(0))
    >>> bool(((ta >= 0) & (tb <= 1) & (tb >= ta)).all()), round(float((tb - ta).mean()), 1)   # E[frac] = 1/3
    (True, 0.3)
    """
    lo = t_start + refractory
    span = (t_end - lo).clamp_min(0)
    u1 = torch.rand(t_start.shape, generator=generator, dtype=span.dtype, device=span.device)
    u2 = torch.rand(t_start.shape, generator=generator, dtype=span.dtype, device=span.device)
    frac = 1 - torch.sqrt(1 - u1)                       # inverse CDF of Triangular(0, 1, mode 0)
    length = frac * span
    ta = lo + u2 * (span - length)
    return ta, ta + length
