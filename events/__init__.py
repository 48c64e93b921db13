"""sigkit.events: event-camera simulation with the physical pixel-bandwidth model, bias control,
representations, denoising, file formats, reconstruction losses and place recognition.

>>> import torch
>>> from sigkit.events import simulate, SimConfig
>>> ev = simulate(torch.ones(2, 4, 4) * torch.tensor([1.0, 2.0])[:, None, None], [0.0, 0.01], SimConfig())
>>> ev.t.dtype, ev.p.dtype                      # int64 microseconds, int8 +1/-1
(dtype('int64'), dtype('int8'))
"""
from .pixel import BandwidthFilter, PixelParams, dominant_cutoff_hz, photoreceptor_coeffs
from .presets import CAMERAS, PRESETS, make_config
from .simulate import SimConfig, Simulator, simulate
from .stream import Events, EventTensors

__all__ = ["Events", "EventTensors", "SimConfig", "Simulator", "simulate", "PixelParams", "BandwidthFilter",
           "photoreceptor_coeffs", "dominant_cutoff_hz", "make_config", "CAMERAS", "PRESETS"]
