"""Small synthetic scenes (no data needed): a textured wall sliding past the sensor, with an optional
illumination step.  Used by the controller test, ``sigkit events control``, the README and the benchmark.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def sliding_texture(height: int, width: int, duration: float, fps: float, speed_px_s: float = 30.0,
                    step_time: float | None = None, step_factor: float = 1.0, base: float = 1.0,
                    dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, np.ndarray]:
    """A smooth periodic texture moving right at ``speed_px_s``; its light is multiplied by
    ``step_factor`` from ``step_time`` on.

    Returns:
        ``(frames, timestamps)``: ``(T, H, W)`` linear intensity in about ``base * [0.05, 1]`` and ``(T,)`` s.

    >>> fr, ts = sliding_texture(4, 6, 0.1, 100, step_time=0.05, step_factor=0.01)
    >>> fr.shape, float(ts[-1]), round(float(fr[-1].mean() / fr[0].mean()), 2)
    (torch.Size([11, 4, 6]), 0.1, 0.01)
    """
    ts = np.arange(int(round(duration * fps)) + 1) / fps
    yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    frames = []
    for t in ts:
        x = xx + speed_px_s * t
        tex = (0.5 + 0.2 * torch.sin(2 * math.pi * x / 16) + 0.15 * torch.sin(2 * math.pi * (x / 7 + yy / 11))
               + 0.1 * torch.cos(2 * math.pi * (0.3 * x - yy) / 9))
        gain = step_factor if step_time is not None and t >= step_time else 1.0
        frames.append(base * gain * tex)
    return torch.stack(frames).to(dtype), ts
