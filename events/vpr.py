"""Visual place recognition with event frames (the protocol of Nair, Milford, Fischer, IROS 2024).

1. event frames over fixed windows (66 ms), kept when 1% < active pixels < 100%;
2. resize by 0.25 (area averaging), patch-normalise 8 x 8 patches (zero mean, unit std; a flat
   patch gets std 0.1 as in the authors' code), flatten;
3. distance = sum of absolute differences (SAD) between query and reference descriptors;
4. Recall@N: a query is correct if one of its N nearest references lies within ``tolerance`` of the
   query's ground-truth position (5 m in the paper).

Deviation: the authors also drop stationary frames and frames with outlying event counts and
histogram-equalise each channel; here a frame is the per-pixel event count of both polarities.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sigkit.errors import InputError

from .representations import event_frames
from .stream import Events


def patch_normalize(img: torch.Tensor, patch: int = 8) -> torch.Tensor:
    """Zero-mean, unit-std normalisation of each non-overlapping ``patch x patch`` block of ``(..., H, W)``
    (H and W cropped to multiples of ``patch``); blocks with std 0 are divided by 0.1.

    >>> x = patch_normalize(torch.arange(16.0).view(4, 4), 2)
    >>> [round(v, 3) for v in x[:2, :2].flatten().tolist()]
    [-1.05, -0.63, 0.63, 1.05]
    """
    *lead, h, w = img.shape
    h2, w2 = h - h % patch, w - w % patch
    if h2 == 0 or w2 == 0:
        raise InputError(f"image {h}x{w} is smaller than one {patch}x{patch} patch; use a smaller patch or scale")
    x = img[..., :h2, :w2].reshape(*lead, h2 // patch, patch, w2 // patch, patch).transpose(-3, -2)
    m = x.mean(dim=(-1, -2), keepdim=True)
    s = x.std(dim=(-1, -2), keepdim=True)
    s = torch.where(s > 0, s, torch.full_like(s, 0.1))
    return ((x - m) / s).transpose(-3, -2).reshape(*lead, h2, w2)


def descriptors(ev: Events, window_us: int = 66_000, scale: float = 0.25, patch: int = 8,
                min_active: float = 0.01, max_active: float = 1.0, height: int | None = None,
                width: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Descriptors of consecutive windows.

    Returns:
        ``(D, t_mid)``: ``(N, d)`` float32 descriptors of the kept windows and their mid times (us).
    """
    frames = event_frames(ev, window_us, height, width, mode="count").sum(1)       # (N, H, W)
    if frames.numel() == 0:
        return torch.zeros(0, 0), np.zeros(0, np.int64)
    active = (frames > 0).float().mean(dim=(1, 2))
    keep = (active > min_active) & (active < max_active)
    t0 = int(ev.t[0])
    t_mid = t0 + (np.arange(frames.shape[0]) + 0.5) * window_us
    frames = frames[keep]
    if frames.shape[0] == 0:
        return torch.zeros(0, 0), np.zeros(0, np.int64)
    h, w = frames.shape[-2:]
    small = F.interpolate(frames[:, None], size=(max(1, int(h * scale)), max(1, int(w * scale))), mode="area")[:, 0]
    return patch_normalize(small, patch).flatten(1), t_mid[keep.numpy()].astype(np.int64)


def sad_matrix(query: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``(Nq, Nr)`` sums of absolute differences.

    >>> sad_matrix(torch.tensor([[0., 1.]]), torch.tensor([[0., 0.], [1., 1.]])).tolist()
    [[1.0, 1.0]]
    """
    return torch.cdist(query[None].double(), ref[None].double(), p=1)[0]


def recall_at_n(dist: torch.Tensor, query_pos: np.ndarray, ref_pos: np.ndarray, ns=(1, 5, 10, 20, 50, 100),
                tolerance: float = 5.0) -> dict[int, float]:
    """Recall@N from a ``(Nq, Nr)`` distance matrix and positions (``(N,)`` or ``(N, D)``, same units as
    ``tolerance``).

    >>> d = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])
    >>> recall_at_n(d, np.array([0.0, 10.0]), np.array([0.0, 20.0, 10.0]), ns=(1, 2), tolerance=1.0)
    {1: 0.5, 2: 1.0}
    """
    qp = np.asarray(query_pos, np.float64).reshape(len(query_pos), -1)
    rp = np.asarray(ref_pos, np.float64).reshape(len(ref_pos), -1)
    if dist.shape != (len(qp), len(rp)):
        raise InputError(f"distance matrix {tuple(dist.shape)} does not match {len(qp)} queries x {len(rp)} references")
    geo = np.linalg.norm(qp[:, None] - rp[None], axis=-1)
    rank = torch.argsort(dist, dim=1).numpy()
    good = np.take_along_axis(geo, rank, 1) <= tolerance
    return {n: float(good[:, :n].any(1).mean()) for n in ns}


def positions_at(t_us: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Nearest ground-truth pose ``(x, y, ...)`` for each time; ``poses`` rows are ``(t_us, x, y, ...)``."""
    poses = np.asarray(poses, np.float64)
    i = np.clip(np.searchsorted(poses[:, 0], t_us), 1, len(poses) - 1)
    left_closer = (t_us - poses[i - 1, 0]) <= (poses[i, 0] - t_us)
    return poses[np.where(left_closer, i - 1, i), 1:]


def evaluate(ref: Events, query: Events, ref_poses: np.ndarray, query_poses: np.ndarray, window_us: int = 66_000,
             scale: float = 0.25, patch: int = 8, tolerance: float = 5.0, ns=(1, 5, 10, 20, 50, 100)) -> dict[int, float]:
    """The whole protocol over a reference and a query traversal; returns ``{N: Recall@N}``."""
    dr, tr = descriptors(ref, window_us, scale, patch)
    dq, tq = descriptors(query, window_us, scale, patch)
    if len(tr) == 0 or len(tq) == 0:
        raise InputError("no event frame passed the activity filter (1% < active < 100%) in one traversal")
    return recall_at_n(sad_matrix(dq, dr), positions_at(tq, query_poses), positions_at(tr, ref_poses), ns, tolerance)
