"""STFT, inverse STFT and the AP-BWE amplitude/phase representation (pure-torch reference + dispatch).

The reference of every op is ``torch.stft``/``torch.istft`` with the same arguments, so results are
identical to torch's by construction. On CUDA, ops that have a fused kernel (``spectrogram``,
``amp_phase``, ``from_amp_phase``) dispatch to :mod:`sigkit.kernels` (see :mod:`sigkit.spectral._backend`).
"""
from __future__ import annotations

import torch

from sigkit.errors import InputError
from sigkit.spectral import _backend
from sigkit.spectral.spec import STFTSpec


def _check_wave(x: torch.Tensor, spec: STFTSpec, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (..., T), got {type(x).__name__}")
    if x.dim() < 1:
        raise InputError(f"{name} must have shape (..., T), got a scalar")
    if x.is_complex():
        raise InputError(f"{name} must be a real waveform, got a complex tensor")
    length = x.shape[-1]
    if spec.center and spec.pad_mode == "reflect" and length <= spec.n_fft // 2:
        raise InputError(
            f"{name} has {length} samples, too short for reflect padding of n_fft={spec.n_fft} "
            f"(needs more than {spec.n_fft // 2}); pad the signal or use pad_mode='constant'"
        )
    if not spec.center and length < spec.n_fft:
        raise InputError(f"{name} has {length} samples, fewer than n_fft={spec.n_fft} with center=False")


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # bf16/fp16 inputs are transformed in float32, as the kernels do.
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def stft(x: torch.Tensor, spec: STFTSpec) -> torch.Tensor:
    """Complex one-sided STFT, identical to ``torch.stft`` with the same arguments.

    Args:
        x: waveform ``(..., T)``, real.
        spec: the transform's parameters.

    Returns:
        Complex spectrum ``(..., n_fft // 2 + 1, frames)``.

    Example:
        >>> X = stft(torch.randn(2, 8000), STFTSpec(1024, 80, 320))
        >>> X.shape, X.dtype
        (torch.Size([2, 513, 101]), torch.complex64)
    """
    _check_wave(x, spec)
    x = x.to(_compute_dtype(x))
    batch_shape = x.shape[:-1]
    X = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft=spec.n_fft,
        hop_length=spec.hop,
        win_length=spec.win,
        window=spec.window_tensor(x.device, x.dtype),
        center=spec.center,
        pad_mode=spec.pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return X.reshape(*batch_shape, *X.shape[-2:])


def istft(X: torch.Tensor, spec: STFTSpec, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`stft` (overlap-add with window-envelope normalisation), identical to ``torch.istft``.

    Args:
        X: complex spectrum ``(..., n_fft // 2 + 1, frames)``.
        spec: the transform's parameters.
        length: output length in samples; default ``hop * (frames - 1)`` (with ``center``).

    Returns:
        Waveform ``(..., T)``.

    Example:
        >>> spec = STFTSpec(512, 128)
        >>> x = torch.randn(3, 4000, dtype=torch.float64)
        >>> torch.allclose(istft(stft(x, spec), spec, length=4000), x)
        True
    """
    if not isinstance(X, torch.Tensor) or not X.is_complex() or X.dim() < 2:
        raise InputError("istft expects a complex tensor of shape (..., n_fft // 2 + 1, frames)")
    if X.shape[-2] != spec.n_bins:
        raise InputError(f"istft: spectrum has {X.shape[-2]} bins but spec.n_fft={spec.n_fft} needs {spec.n_bins}")
    batch_shape = X.shape[:-2]
    real_dtype = torch.float64 if X.dtype == torch.complex128 else torch.float32
    y = torch.istft(
        X.reshape(-1, *X.shape[-2:]),
        n_fft=spec.n_fft,
        hop_length=spec.hop,
        win_length=spec.win,
        window=spec.window_tensor(X.device, real_dtype),
        center=spec.center,
        normalized=False,
        onesided=True,
        length=length,
    )
    return y.reshape(*batch_shape, y.shape[-1])


def spectrogram(x: torch.Tensor, spec: STFTSpec, power: float = 2.0, backend: str = "auto") -> torch.Tensor:
    """Magnitude (``power=1``) or power (``power=2``) spectrogram ``|STFT(x)| ** power``.

    Args:
        x: waveform ``(..., T)``.
        spec: the transform's parameters.
        power: exponent of the magnitude; 1 and 2 have fused kernels on CUDA.
        backend: ``"auto"``, ``"reference"``, ``"triton"`` or ``"cuda"`` (see :mod:`sigkit.spectral._backend`).

    Returns:
        Real tensor ``(..., n_fft // 2 + 1, frames)``.

    Example:
        >>> S = spectrogram(torch.randn(8000), STFTSpec(512, 128), power=2.0)
        >>> S.shape
        torch.Size([257, 63])
    """
    _check_wave(x, spec)
    if power <= 0:
        raise InputError(f"spectrogram: power must be positive, got {power}")
    impl = _backend.resolve(backend, x, op="spectrogram", spec=spec) if power in (1.0, 2.0) else "reference"
    if impl != "reference":
        return _backend.kernels().spectrogram(x, spec, power=power, impl=impl)
    mag = stft(x, spec).abs()
    return mag.square() if power == 2.0 else mag if power == 1.0 else mag.pow(power)


def amp_phase(
    x: torch.Tensor, spec: STFTSpec, eps: float = 1e-4, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """AP-BWE's representation: natural log-amplitude ``log(|X| + eps)`` and wrapped phase ``angle(X)``.

    This is exactly the official AP-BWE ``amp_pha_stft`` (hann window of ``win`` samples, centred,
    reflect padding), so official models fed with it give their published outputs.

    Args:
        x: waveform ``(..., T)``.
        spec: the transform's parameters (AP-BWE uses ``STFTSpec(1024, 80, 320)``).
        eps: offset added to the magnitude before the log.
        backend: ``"auto"``, ``"reference"``, ``"triton"`` or ``"cuda"``.

    Returns:
        ``(log_amp, phase)``, each ``(..., n_fft // 2 + 1, frames)``; phase in radians in ``(-pi, pi]``.

    Example:
        >>> log_amp, phase = amp_phase(torch.randn(2, 8000), STFTSpec(1024, 80, 320))
        >>> log_amp.shape, phase.shape
        (torch.Size([2, 513, 101]), torch.Size([2, 513, 101]))
    """
    _check_wave(x, spec)
    impl = _backend.resolve(backend, x, op="amp_phase", spec=spec)
    if impl != "reference":
        return _backend.kernels().amp_phase(x, spec, eps=eps, impl=impl)
    X = stft(x, spec)
    return torch.log(X.abs() + eps), torch.angle(X)


def from_amp_phase(
    log_amp: torch.Tensor,
    phase: torch.Tensor,
    spec: STFTSpec,
    length: int | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Waveform from log-amplitude and phase: ``istft(exp(log_amp) * exp(i * phase))``.

    As in the official AP-BWE ``amp_pha_istft``, the ``eps`` of :func:`amp_phase` is *not*
    subtracted, so ``from_amp_phase(*amp_phase(x))`` differs from ``x`` by a term of the order of
    ``eps`` (the inverse STFT of a spectrum of magnitude ``eps``); official models rely on this.

    Args:
        log_amp: natural log-amplitude ``(..., n_fft // 2 + 1, frames)``.
        phase: phase in radians, same shape.
        spec: the transform's parameters.
        length: output length in samples (default ``hop * (frames - 1)``).
        backend: ``"auto"``, ``"reference"``, ``"triton"`` or ``"cuda"``.

    Returns:
        Waveform ``(..., T)``.

    Example:
        >>> spec = STFTSpec(1024, 80, 320)
        >>> x = torch.randn(8000, dtype=torch.float64)
        >>> y = from_amp_phase(*amp_phase(x, spec, eps=1e-4), spec, length=8000)
        >>> bool((y - x).abs().max() < 1e-2)
        True
    """
    if log_amp.shape != phase.shape:
        raise InputError(f"from_amp_phase: log_amp {tuple(log_amp.shape)} and phase {tuple(phase.shape)} differ")
    if log_amp.dim() < 2 or log_amp.shape[-2] != spec.n_bins:
        raise InputError(f"from_amp_phase: expected (..., {spec.n_bins}, frames), got {tuple(log_amp.shape)}")
    impl = _backend.resolve(backend, log_amp, phase, op="from_amp_phase", spec=spec)
    if impl != "reference":
        return _backend.kernels().from_amp_phase(log_amp, phase, spec, length=length, impl=impl)
    dtype = _compute_dtype(log_amp)
    X = torch.polar(torch.exp(log_amp.to(dtype)), phase.to(dtype))
    return istft(X, spec, length=length)
