"""Small vectorised DSP helpers shared by the synthesizers (numpy/scipy, float64)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d


def smooth(x: np.ndarray, n: float) -> np.ndarray:
    """Moving average of ``n`` samples applied twice (a triangular window), same length, centred."""
    n = max(1, int(n))
    if n == 1:
        return x
    return uniform_filter1d(uniform_filter1d(x, n, mode="nearest"), n, mode="nearest")


@lru_cache(maxsize=256)
def _sos(kind: str, freq, order: int, sr: int):
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def butter(x: np.ndarray, sr: int, kind: str, freq, order: int = 2) -> np.ndarray:
    """Butterworth ``lowpass``/``highpass``/``bandpass`` of ``x``; edges are clamped below Nyquist.

    A highpass (or a bandpass's lower edge) at or above 0.95 Nyquist returns zeros; a lowpass
    (or upper edge) above it is dropped, the filter being open there anyway.
    """
    top = 0.95 * sr / 2
    if kind == "bandpass":
        lo, hi = freq
        if lo >= top:
            return np.zeros_like(x)
        if hi >= top:
            kind, freq = "highpass", lo
        else:
            freq = (float(lo), float(hi))
    elif kind == "highpass" and freq >= top:
        return np.zeros_like(x)
    elif kind == "lowpass" and freq >= top:
        return x
    return signal.sosfilt(_sos(kind, freq if isinstance(freq, tuple) else float(freq), order, sr), x)


def unit_rms(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Scale ``x`` to RMS 1 (over ``mask`` where given); zeros stay zeros."""
    sel = x if mask is None else x[mask]
    rms = float(np.sqrt(np.mean(sel**2))) if sel.size else 0.0
    return x / rms if rms > 0 else x


def resonator_polys(freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
    """Denominators of cascades of 2-pole resonators, one cascade per row.

    ``freqs``, ``bws``: ``(B, K)`` in Hz. Resonances at or above 0.47 ``sr`` are left out (their pole pair
    becomes ``[1, 0, 0]``), so every row has order ``2K``. Returns ``(B, 2K + 1)`` with ``a[:, 0] = 1``.
    """
    keep = freqs < 0.47 * sr
    r = np.where(keep, np.exp(-np.pi * bws / sr), 0.0)
    c1 = -2 * r * np.cos(2 * np.pi * freqs / sr)
    c2 = r * r
    a = np.ones((freqs.shape[0], 1))
    for k in range(freqs.shape[1]):
        nxt = np.zeros((a.shape[0], a.shape[1] + 2))
        nxt[:, :-2] += a
        nxt[:, 1:-1] += a * c1[:, k : k + 1]
        nxt[:, 2:] += a * c2[:, k : k + 1]
        a = nxt
    return a


def timevarying_allpole(x: np.ndarray, freqs: np.ndarray, bws: np.ndarray, sr: int, block: int) -> np.ndarray:
    """Filter ``x`` through resonators whose frequencies change every ``block`` samples.

    ``freqs``/``bws``: ``(n_blocks, K)`` in Hz. Each block runs one ``lfilter`` of order ``2K``, unity gain
    at DC; the filter state handed to the next block is rebuilt from the last ``2K`` outputs (direct-form-I
    memory, valid for any coefficients), so coefficient changes do not click.
    """
    polys = resonator_polys(freqs, bws, sr)
    order = polys.shape[1] - 1
    # transposed-DF-II state of an all-pole filter from its past outputs:
    # zi[k] = -sum_{j>k} a[j] * y[k - j] = -sum_m a[k + 1 + m] * yrev[m],  yrev[m] = y[-1 - m]
    kk, mm = np.meshgrid(np.arange(order), np.arange(order), indexing="ij")
    valid = kk + 1 + mm <= order
    a_idx = np.where(valid, kk + 1 + mm, 0)
    y = np.empty_like(x)
    yrev = np.zeros(order)
    for i in range(polys.shape[0]):
        start = i * block
        if start >= len(x):
            break
        stop = min(start + block, len(x))
        a = polys[i]
        zi = -(np.where(valid, a[a_idx], 0.0) @ yrev)
        y[start:stop], _ = signal.lfilter(a.sum(keepdims=True), a, x[start:stop], zi=zi)
        tail = y[max(0, stop - order) : stop][::-1]
        yrev = np.concatenate([tail, yrev])[:order]
    return y
