"""The STFT's parameters as one frozen value, and the cached windows built from it."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from sigkit.errors import InputError
from sigkit.kernels.device_cache import device_constant

WINDOWS = ("hann", "hamming", "blackman", "rect")
PAD_MODES = ("reflect", "constant")


@dataclass(frozen=True)
class STFTSpec:
    """Parameters of a short-time Fourier transform, in samples.

    Args:
        n_fft: FFT size; the transform has ``n_fft // 2 + 1`` one-sided bins.
        hop: hop between frames, in samples.
        win: window length, ``win <= n_fft``; a shorter window is zero-padded to ``n_fft`` on both
            sides (centred), exactly as ``torch.stft`` does.
        window: ``"hann"`` (periodic, as ``torch.hann_window`` and librosa's ``"hann"``), ``"hamming"``,
            ``"blackman"`` or ``"rect"`` (all ones).
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred at sample ``t * hop``.
        pad_mode: ``"reflect"`` (torch's default) or ``"constant"`` (zeros; librosa's default since 0.10).

    The number of frames of a signal of ``T`` samples is ``1 + T // hop`` when ``center`` is set and
    ``1 + (T - n_fft) // hop`` otherwise.

    Example:
        >>> spec = STFTSpec(n_fft=1024, hop=80, win=320)
        >>> spec.n_bins, spec.n_frames(8000)
        (513, 101)
    """

    n_fft: int
    hop: int
    win: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "reflect"

    def __post_init__(self) -> None:
        if self.win is None:
            object.__setattr__(self, "win", self.n_fft)
        for name in ("n_fft", "hop", "win"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"STFTSpec.{name} must be a positive integer, got {value!r}")
        if self.win > self.n_fft:
            raise InputError(f"STFTSpec: win={self.win} is longer than n_fft={self.n_fft}; use win <= n_fft")
        if self.window not in WINDOWS:
            raise InputError(f"STFTSpec: unknown window {self.window!r}; choose one of {WINDOWS}")
        if self.pad_mode not in PAD_MODES:
            raise InputError(f"STFTSpec: unknown pad_mode {self.pad_mode!r}; choose one of {PAD_MODES}")

    @property
    def n_bins(self) -> int:
        """Number of one-sided frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_frames(self, length: int) -> int:
        """Number of frames for a signal of ``length`` samples."""
        if self.center:
            return 1 + length // self.hop
        return 1 + (length - self.n_fft) // self.hop

    def window_tensor(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The ``(win,)`` window on ``device`` in ``dtype``, cached per (spec, device, dtype)."""
        return _window(self.window, self.win, torch.device(device), dtype)

    def __str__(self) -> str:
        return f"STFTSpec({self.n_fft}/{self.hop}/{self.win} {self.window} center={self.center} {self.pad_mode})"

    def padded_window(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The ``(n_fft,)`` window: :meth:`window_tensor` zero-padded and centred as ``torch.stft`` does."""
        return _padded_window(self.window, self.win, self.n_fft, torch.device(device), dtype)


def _window(kind: str, win: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Built directly in ``dtype`` (not cast from float64) so that results equal torch.stft's with
    # ``torch.hann_window(win)`` bit for bit; cached capture-safe (a first call may come inside a CUDA graph).
    return device_constant(("window", kind, win, dtype), lambda: _window_host(kind, win, dtype), device)


def _window_host(kind: str, win: int, dtype: torch.dtype) -> torch.Tensor:
    if kind == "rect":
        return torch.ones(win, dtype=dtype)
    return getattr(torch, f"{kind}_window")(win, periodic=True, dtype=dtype)


def _padded_window(kind: str, win: int, n_fft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    left = (n_fft - win) // 2
    return device_constant(
        ("padded_window", kind, win, n_fft, dtype),
        lambda: torch.nn.functional.pad(_window_host(kind, win, dtype), (left, n_fft - win - left)),
        device,
    )
