"""Dense tensors from events: event frames, voxel grids (DSEC and n_bins conventions) and time surfaces.

Every function takes an :class:`~sigkit.events.stream.Events` and returns a torch tensor; polarity
is kept (signed sums or separate channels), unlike Tonic's voxel grid on boolean polarities.
"""
from __future__ import annotations

import numpy as np
import torch

from sigkit.errors import InputError

from .stream import Events


def _size(ev: Events, height, width) -> tuple[int, int]:
    h, w = (height, width) if height is not None else ev.sensor_size
    if h is None or w is None or h <= 0 or w <= 0:
        raise InputError("sensor size unknown: pass height and width (the Events carry none)")
    return int(h), int(w)


def event_frame(ev: Events, height: int | None = None, width: int | None = None, mode: str = "count") -> torch.Tensor:
    """Accumulate events into an image.

    Args:
        mode: ``"count"`` -> ``(2, H, W)`` counts, channel 0 OFF, 1 ON (Tonic's order);
            ``"signed"`` -> ``(H, W)`` sum of polarities (+1/-1).
    Returns:
        float32 tensor.

    >>> ev = Events.from_arrays([0, 1, 2], [0, 0, 1], [0, 0, 0], [1, 1, -1], 1, 2)
    >>> event_frame(ev, mode="signed").tolist(), event_frame(ev)[1].tolist()
    ([[2.0, -1.0]], [[2.0, 0.0]])
    """
    h, w = _size(ev, height, width)
    idx = torch.as_tensor(ev.y.astype(np.int64) * w + ev.x.astype(np.int64))
    if mode == "signed":
        out = torch.zeros(h * w)
        out.index_add_(0, idx, torch.as_tensor(ev.p, dtype=torch.float32))
        return out.view(h, w)
    if mode == "count":
        out = torch.zeros(2 * h * w)
        out.index_add_(0, idx + torch.as_tensor((ev.p > 0).astype(np.int64)) * h * w, torch.ones(len(ev)))
        return out.view(2, h, w)
    raise InputError(f"event_frame: unknown mode {mode!r}; use 'count' or 'signed'")


def event_frames(ev: Events, window_us: int, height: int | None = None, width: int | None = None,
                 mode: str = "count", t_start: int | None = None, t_end: int | None = None) -> torch.Tensor:
    """Event frames over consecutive fixed windows: ``(N, 2, H, W)`` (count) or ``(N, H, W)`` (signed).

    >>> ev = Events.from_arrays([0, 10, 25], [0, 0, 0], [0, 0, 0], [1, 1, 1], 1, 1)
    >>> event_frames(ev, 10, mode="signed").flatten().tolist()
    [1.0, 1.0, 1.0]
    """
    if window_us <= 0:
        raise InputError(f"window_us must be > 0; got {window_us}")
    t0 = int(ev.t[0]) if t_start is None and len(ev) else (t_start or 0)
    t1 = int(ev.t[-1]) + 1 if t_end is None and len(ev) else (t_end or t0)
    n = max(0, -(-(t1 - t0) // window_us))
    return torch.stack([event_frame(ev.slice_time(t0 + i * window_us, t0 + (i + 1) * window_us), height, width, mode)
                        for i in range(n)]) if n else torch.zeros(0)


def voxel_grid(ev: Events, n_bins: int, height: int | None = None, width: int | None = None,
               convention: str = "dsec", normalize: bool = False) -> torch.Tensor:
    """Voxel grid ``(n_bins, H, W)``: each event adds its polarity (+1/-1) to the two nearest time bins,
    bilinearly in time.

    Args:
        convention: ``"dsec"``: ``t_n = (C - 1)(t - t0) / (t_last - t0)`` (first event in bin 0, last
            in bin C-1; DSEC's ``VoxelGrid``); ``"n_bins"``: ``t_n = C (t - t0) / (t_last - t0)`` (Zhu
            et al. / Tonic; the last event lands at C and falls outside).
        normalize: DSEC's option: standardise the non-zero entries (mean 0, std 1).

    >>> ev = Events.from_arrays([0, 50, 100], [0, 0, 0], [0, 0, 0], [1, -1, 1], 1, 1)
    >>> voxel_grid(ev, 3).flatten().tolist(), voxel_grid(ev, 3, convention="n_bins").flatten().tolist()
    ([1.0, -1.0, 1.0], [1.0, -0.5, -0.5])
    """
    if n_bins < 1:
        raise InputError(f"n_bins must be >= 1; got {n_bins}")
    h, w = _size(ev, height, width)
    grid = torch.zeros(n_bins * h * w, dtype=torch.float64)
    if len(ev):
        t = ev.t.astype(np.float64)
        span = max(t[-1] - t[0], 1.0)
        scale = {"dsec": n_bins - 1, "n_bins": n_bins}.get(convention)
        if scale is None:
            raise InputError(f"voxel_grid: unknown convention {convention!r}; use 'dsec' or 'n_bins'")
        tn = torch.as_tensor(scale * (t - t[0]) / span)
        pix = torch.as_tensor(ev.y.astype(np.int64) * w + ev.x.astype(np.int64))
        pol = torch.as_tensor(ev.p, dtype=torch.float64)
        b0 = torch.floor(tn)
        for b, wt in ((b0, 1 - (tn - b0)), (b0 + 1, tn - b0)):
            ok = (b >= 0) & (b < n_bins) & (wt > 0)
            grid.index_add_(0, (b[ok].long() * h * w + pix[ok]), (pol * wt)[ok])
    grid = grid.view(n_bins, h, w).float()
    if normalize:
        nz = grid != 0
        if nz.sum() > 1:
            m, s = grid[nz].mean(), grid[nz].std()
            grid[nz] = (grid[nz] - m) / (s if s > 0 else 1)
    return grid


def time_surface(ev: Events, t_ref: int | None = None, tau_us: float = 50_000.0, height: int | None = None,
                 width: int | None = None) -> torch.Tensor:
    """Exponential time surface ``(2, H, W)`` at time ``t_ref`` (default: last event): per polarity
    channel (0 OFF, 1 ON), ``exp(-(t_ref - t_last(x, y)) / tau)`` of the pixel's latest event before
    ``t_ref``, 0 where none.

    >>> ev = Events.from_arrays([0, 100], [0, 1], [0, 0], [1, 1], 1, 2)
    >>> [round(v, 4) for v in time_surface(ev, tau_us=100.0)[1, 0].tolist()]
    [0.3679, 1.0]
    """
    h, w = _size(ev, height, width)
    if tau_us <= 0:
        raise InputError(f"tau_us must be > 0; got {tau_us}")
    t_ref = int(ev.t[-1]) if t_ref is None and len(ev) else int(t_ref or 0)
    sel = ev.slice_time(-(2**62), t_ref + 1)
    last = np.full(2 * h * w, -np.inf)
    key = (sel.p > 0).astype(np.int64) * h * w + sel.y.astype(np.int64) * w + sel.x.astype(np.int64)
    np.maximum.at(last, key, sel.t.astype(np.float64))
    return torch.as_tensor(np.exp(-(t_ref - last) / tau_us), dtype=torch.float32).view(2, h, w)
