"""Choice between the pure-torch reference and the fused kernels of :mod:`sigkit.kernels`.

Backends: ``"reference"`` (pure torch), ``"triton"`` (the Triton kernels), ``"cuda"`` (the CUDA C
kernels, a float32 shared-memory FFT compiled at run time by NVRTC through torch; geometries they do
not handle run the Triton kernels) and ``"auto"``. ``auto`` resolves, on CUDA tensors, through
:func:`auto_choice`, built from the measurements in ``docs/benchmarks.md`` ("Spectral kernels"): the
CUDA kernels for every op wherever they can run (they measured faster than torch's eager chain for every
op, one clip and batch 32); where they cannot (no NVRTC, i.e. ``torch.cuda._compile_kernel`` missing, or
an ``n_fft`` they do not cover) a per-op, per-shape rule for the Triton kernels
(:func:`auto_prefers_triton`); on every other device the reference. The environment variable
``SIGKIT_SPECTRAL_BACKEND`` (``reference``, ``triton`` or ``cuda``) overrides ``auto``, for debugging
and benchmarks. ``"triton"`` on a CPU tensor runs only under ``TRITON_INTERPRET=1``.
"""
from __future__ import annotations

import functools
import importlib
import os

import torch

from sigkit.errors import InputError

BACKENDS = ("auto", "reference", "triton", "cuda")
OPS = ("spectrogram", "amp_phase", "from_amp_phase", "mel_spectrogram", "log_mel")

# Frames per call (batch x frames) up to which the fused inverse STFT wins: it measured 1.6-2.0x the
# eager torch.istft chain for one 10 s clip (938-6001 frames) at every benchmark geometry, 0.5-1.0x
# at batch 32 (30-190 k frames). The same bound makes the forward amplitude/phase kernel (1.1x at
# batch 1 for n_fft >= 1024, 0.8-1.0x at batch 32) the choice for single clips.
SMALL_CALL_FRAMES = 8192
# Frames per call from which the fused Whisper-class log-mel (n_fft <= MEL_MAX_NFFT) wins: 1.3x the
# eager chain and 1.3x the compiled chain at 32 x 30 s (96 k frames), 1.0x for one 30 s clip.
MEL_MIN_FRAMES = 16384
MEL_MAX_NFFT = 400


def _frames(spec, n: int) -> int:
    pad = spec.n_fft // 2 if spec.center else 0
    return max(0, 1 + (n + 2 * pad - spec.n_fft) // spec.hop)


def auto_prefers_triton(op: str, spec, x: torch.Tensor) -> bool:
    """Whether ``backend="auto"`` runs ``op`` on the fused kernel for input ``x`` (a CUDA tensor).

    The rule, from the H200 benchmark of 2026-11-27 (``bench/spectral.py``; torch 2.11):

    * ``amp_phase``: with autograd (``x.requires_grad`` under grad mode) for ``n_fft >= 1024`` (forward
      + fused backward 1.2-1.4x at batch 1, 1.7x at batch 32 for AP-BWE's 1024/80/320); without, for
      calls of at most :data:`SMALL_CALL_FRAMES` frames and ``n_fft >= 1024`` (1.1x).
    * ``from_amp_phase``: calls of at most :data:`SMALL_CALL_FRAMES` frames (1.6-2.0x).
    * ``log_mel`` / ``mel_spectrogram``: forward-only calls with ``n_fft <= 400`` and at least
      :data:`MEL_MIN_FRAMES` frames (Whisper's front end, 1.3x); the fused backward measured 0.8x.
    * ``spectrogram``: never (0.6-0.9x).

    ``x`` is the waveform, or the log-amplitude ``(..., F, frames)`` for ``from_amp_phase``.

    Example:
        >>> from sigkit.spectral import STFTSpec
        >>> auto_prefers_triton("from_amp_phase", STFTSpec(1024, 80, 320), torch.zeros(1, 513, 2001))
        True
        >>> auto_prefers_triton("spectrogram", STFTSpec(512, 128), torch.zeros(32, 160000))
        False
    """
    if op not in OPS:
        raise InputError(f"unknown spectral op {op!r}; one of {OPS}")
    grad = x.requires_grad and torch.is_grad_enabled()
    if op == "from_amp_phase":
        batch = x.numel() // max(1, x.shape[-1] * x.shape[-2]) if x.dim() >= 2 else 1
        return batch * x.shape[-1] <= SMALL_CALL_FRAMES
    batch = x.numel() // max(1, x.shape[-1])
    frames = batch * _frames(spec, x.shape[-1])
    if op == "amp_phase":
        return spec.n_fft >= 1024 and (grad or frames <= SMALL_CALL_FRAMES)
    if op in ("log_mel", "mel_spectrogram"):
        return not grad and spec.n_fft <= MEL_MAX_NFFT and frames >= MEL_MIN_FRAMES
    return False


def cuda_supported(op: str, spec) -> bool:
    """Whether the CUDA C kernels can run ``op`` at ``spec`` here (NVRTC present, geometry handled)."""
    if cuda_unavailable_reason() is not None:
        return False
    from sigkit.kernels import _spectral_cuda

    return _spectral_cuda.supports(spec.n_fft, spec.hop, spec.win, synthesis=op == "from_amp_phase")


def auto_choice(op: str, spec, x: torch.Tensor) -> str:
    """``"cuda"``, ``"triton"`` or ``"reference"``: what ``backend="auto"`` runs for ``op`` on ``x`` (a CUDA tensor).

    The CUDA C kernels wherever they can run (:func:`cuda_supported`), for every op, size and mode: since the
    host path of a CUDA call was cut to ~30-60 us (plain eager calls skip the custom op), they measured faster
    than the eager torch chain everywhere (H200, 2026-11-27, ``bench/spectral.py``, docs/benchmarks.md
    "host path"): one 10 s clip (Whisper 30 s) 2.0-3.7x in wall time for every forward op and the inverse,
    1.6-1.9x forward + backward; batch 32 2.4-6.9x in device time. Elsewhere (no NVRTC in this torch, an
    ``n_fft`` they do not cover) the Triton rule :func:`auto_prefers_triton`, as before the CUDA kernels existed.

    Example:
        >>> from sigkit.spectral import STFTSpec
        >>> # n_fft 154 (half 7 x 11) has no CUDA C kernel: the Triton rule, which leaves spectrograms to torch
        >>> auto_choice("spectrogram", STFTSpec(154, 40), torch.zeros(32, 160000))
        'reference'
    """
    if op not in OPS:
        raise InputError(f"unknown spectral op {op!r}; one of {OPS}")
    if cuda_supported(op, spec):
        return "cuda"
    return "triton" if auto_prefers_triton(op, spec, x) else "reference"


@functools.lru_cache(maxsize=1)
def _kernels():
    """The kernel module, or None when Triton or the kernels are not importable."""
    try:
        return importlib.import_module("sigkit.kernels.spectral")
    except ImportError:
        return None


def kernels_available() -> bool:
    """True when :mod:`sigkit.kernels.spectral` imports (Triton installed)."""
    return _kernels() is not None


def resolve(backend: str, x: torch.Tensor, *others: torch.Tensor, op: str, spec) -> str:
    """The implementation an op called with ``backend`` on ``x`` (and ``others``) runs:
    ``"reference"``, ``"triton"`` or ``"cuda"`` (the last two are ``impl`` of :mod:`sigkit.kernels.spectral`).

    The kernels compute in float32, so float64 inputs always take the reference, whatever ``backend``.
    ``op`` (one of :data:`OPS`) and ``spec`` (the op's ``STFTSpec``) feed the ``auto`` policy
    (:func:`auto_choice`).

    Example:
        >>> from sigkit.spectral import STFTSpec
        >>> resolve("auto", torch.zeros(1, 16000), op="amp_phase", spec=STFTSpec(1024, 80, 320))  # CPU
        'reference'
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = os.environ.get("SIGKIT_SPECTRAL_BACKEND", "auto").strip().lower() or "auto"
        if backend not in BACKENDS:
            raise InputError(
                f"SIGKIT_SPECTRAL_BACKEND={backend!r} is not one of {BACKENDS}; unset it or pick one"
            )
    if backend == "reference" or any(t.dtype == torch.float64 for t in (x, *others)):
        return "reference"
    if backend == "auto":
        if not (x.is_cuda and kernels_available()):
            return "reference"
        return auto_choice(op, spec, x)
    if not kernels_available():
        raise InputError(f"backend={backend!r} needs Triton and sigkit.kernels.spectral; install triton or use 'reference'")
    if backend == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise InputError(f"backend='cuda' is unavailable: {reason}; use 'triton' or 'reference'")
        if not x.is_cuda:
            raise InputError("backend='cuda' needs a CUDA tensor")
        return "cuda"
    if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise InputError("backend='triton' needs a CUDA tensor (or TRITON_INTERPRET=1 on CPU)")
    return "triton"


def cuda_unavailable_reason() -> str | None:
    """Why ``backend="cuda"`` cannot run here (no NVRTC in this torch, no GPU), or None."""
    try:
        from sigkit.kernels import _spectral_cuda
    except ImportError as e:  # pragma: no cover - the module imports only torch
        return str(e)
    return _spectral_cuda.unavailable_reason()


def kernels():
    """The kernel module (call only after :func:`resolve` chose ``"triton"`` or ``"cuda"``)."""
    return _kernels()
