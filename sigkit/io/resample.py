"""Sample-rate conversion: torchaudio's windowed-sinc resampler (AP-BWE's filter) or soxr (high quality)."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from sigkit.errors import InputError, SampleRateError

__all__ = ["resample", "check_rate", "RESAMPLE_METHODS"]

RESAMPLE_METHODS = ("sinc", "soxr")


def check_rate(sr, name: str = "sample rate") -> int:
    """Return ``sr`` as an ``int`` if it is a positive whole number of Hz, else raise SampleRateError.

    >>> check_rate(16000.0)
    16000
    """
    if isinstance(sr, bool) or not isinstance(sr, (Real, np.integer, np.floating)):
        raise SampleRateError(f"{name} must be a positive whole number of Hz, got {sr!r}")
    value = float(sr)
    if not math.isfinite(value) or value <= 0:
        raise SampleRateError(f"{name} must be a positive whole number of Hz, got {sr!r}")
    if not value.is_integer():
        raise SampleRateError(
            f"{name} {sr!r} Hz is not a whole number of Hz; resampling needs integer rates — round it "
            f"(e.g. {round(value)})"
        )
    return int(value)


def resample(wave: torch.Tensor, sr_in: int, sr_out: int, method: str = "sinc") -> torch.Tensor:
    """Resample ``(..., T)`` from ``sr_in`` to ``sr_out`` Hz.

    ``method="sinc"`` is ``torchaudio.functional.resample`` with its default arguments (Hann-windowed sinc,
    ``lowpass_filter_width=6``, ``rolloff=0.99``): exactly the filter the official AP-BWE pipeline uses to
    make its narrowband inputs and targets. It runs on the tensor's device and is differentiable.

    ``method="soxr"`` is libsoxr at "HQ" quality (what ``librosa.resample(res_type="soxr_hq")`` uses),
    computed on the CPU in float64 and returned on the input's device and dtype; its output is trimmed or
    zero-padded to the same length as the sinc method's, ``ceil(T * sr_out / sr_in)``.

    Args:
        wave: float tensor ``(..., T)``.
        sr_in: input rate in Hz (positive whole number).
        sr_out: output rate in Hz (positive whole number).
        method: ``"sinc"`` or ``"soxr"``.

    Returns:
        ``(..., ceil(T * sr_out / sr_in))``; the input itself when the rates are equal.

    Raises:
        SampleRateError: a rate that is not a positive whole number.
        InputError: unknown method or a non-float tensor.

    >>> import torch
    >>> resample(torch.zeros(2, 3, 441), 44100, 16000).shape
    torch.Size([2, 3, 160])
    >>> resample(torch.zeros(160), 16000, 48000, method="soxr").shape
    torch.Size([480])
    """
    sr_in, sr_out = check_rate(sr_in, "sr_in"), check_rate(sr_out, "sr_out")
    if method not in RESAMPLE_METHODS:
        raise InputError(f"unknown resample method {method!r}; use one of {', '.join(RESAMPLE_METHODS)}")
    if not torch.is_tensor(wave) or not wave.is_floating_point():
        raise InputError(
            f"resample needs a float tensor (..., T), got {type(wave).__name__}"
            f"{'' if not torch.is_tensor(wave) else ' of dtype ' + str(wave.dtype)}"
        )
    if sr_in == sr_out:
        return wave
    if method == "sinc":
        import torchaudio.functional as taf

        return taf.resample(wave, sr_in, sr_out)
    import soxr

    length = math.ceil(wave.shape[-1] * sr_out / sr_in)
    flat = wave.detach().reshape(-1, wave.shape[-1]).to("cpu", torch.float64).numpy()
    out = soxr.resample(np.ascontiguousarray(flat.T), sr_in, sr_out, quality="HQ").T
    if out.ndim == 1:
        out = out[None]
    if out.shape[-1] >= length:
        out = out[:, :length]
    else:
        out = np.pad(out, ((0, 0), (0, length - out.shape[-1])))
    result = torch.from_numpy(np.ascontiguousarray(out)).to(device=wave.device, dtype=wave.dtype)
    return result.reshape(*wave.shape[:-1], length)
