"""Camera and noise presets: ``make_config(camera="davis346", preset="noisy")``.

A *camera* fixes the sensor size and the pixel's physical constants; a *preset* fixes thresholds
and noise.  Sources (``/work/shared/research/events.md``): DVS128 nominal biases from improved
ESIM's ``blender.conf``; DVS128 fast biases from Deblur e-NeRF's ``eds_to_esim.py``; v2e's
``--dvs_params clean|noisy``.  No published physical constants exist for the DAVIS346 pixel, so the
``davis346`` camera uses the DVS128 nominal pixel at 346x260 (the DAVIS pixel descends from it).
"""
from __future__ import annotations

from dataclasses import replace

from sigkit.errors import ConfigError

from .simulate import SimConfig

_NOMINAL = dict(ip_to_it_fa=2000.0, dark_current_fa=4.0, amplifier_gain=140.0, back_gate_coeff=0.7,
                thermal_voltage_mv=25.0, photodiode_cap_ff=35.0, miller_cap_ff=0.6,
                output_time_const_us=1815.0, sf_cutoff_hz=3122.0, diff_cutoff_hz=16000.0)
_FAST = dict(_NOMINAL, output_time_const_us=25.0, sf_cutoff_hz=16400.0, diff_cutoff_hz=82000.0)

#: camera name -> (height, width, SimConfig fields)
CAMERAS: dict[str, tuple[int, int, dict]] = {
    "dvs128": (128, 128, dict(_NOMINAL, threshold_on=0.25, threshold_off=0.25)),
    "dvs128_fast": (128, 128, dict(_FAST, threshold_on=0.269, threshold_off=0.25, refractory=40.5e-6)),
    "davis346": (260, 346, dict(_NOMINAL, threshold_on=0.25, threshold_off=0.25)),
    "gen3": (480, 640, dict(_FAST, threshold_on=0.269, threshold_off=0.25, refractory=40.5e-6)),
}

#: preset name -> SimConfig fields (applied after the camera's)
PRESETS: dict[str, dict] = {
    "nominal": dict(),
    "ideal": dict(bandwidth_model=False, threshold_sigma=0.0, leak_rate=0.0, shot_rate=0.0, refractory=0.0),
    "clean": dict(threshold_on=0.2, threshold_off=0.2, threshold_sigma=0.02, leak_rate=0.0, shot_rate=0.0),
    "noisy": dict(threshold_on=0.2, threshold_off=0.2, threshold_sigma=0.05, leak_rate=0.1,
                  leak_rate_cov_decades=0.1, shot_rate=5.0),
}


def make_config(camera: str = "davis346", preset: str = "nominal", **overrides) -> tuple[SimConfig, tuple[int, int]]:
    """A :class:`SimConfig` and the sensor size ``(height, width)`` for a camera and a preset.

    Args:
        camera: one of :data:`CAMERAS`.
        preset: one of :data:`PRESETS`.
        overrides: any :class:`SimConfig` field, applied last.

    >>> cfg, size = make_config("davis346", "noisy")
    >>> size, cfg.shot_rate, cfg.threshold_on, cfg.output_time_const_us
    ((260, 346), 5.0, 0.2, 1815.0)
    """
    if camera not in CAMERAS:
        raise ConfigError(f"unknown camera {camera!r}; choose one of {sorted(CAMERAS)}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    h, w, cam = CAMERAS[camera]
    fields = {**cam, **PRESETS[preset], **overrides}
    try:
        cfg = replace(SimConfig(), **fields)
    except TypeError as err:
        raise ConfigError(f"make_config: {err}; valid fields are those of SimConfig") from None
    cfg.validate()
    return cfg, (h, w)
