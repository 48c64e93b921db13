"""Synthetic environmental sounds: twelve classes with distinct spectro-temporal shapes.

Each class is a small generative recipe with parameters drawn from the seed, named after the ESC-50
category it imitates (so the ESC-50 layout writer can use the real target numbers and names):

============== ====== ==========================================================================
category       target shape
============== ====== ==========================================================================
dog            0      2-6 barks: falling-pitch harmonic bursts through two formants, sharp attack
rain           10     dense Poisson drops (short high-passed clicks) over broadband hiss, stationary
crackling_fire 12     sparse heavy-tailed crackles over a low roar, bursty rate
chirping_birds 14     trills of fast 2-8 kHz frequency sweeps
wind           16     low-passed noise with slow gusts that also open the bandwidth
footsteps      25     steps every ~0.5 s: low heel thud followed by a mid-band scuff
door_wood_knock 30    groups of 2-4 knocks: damped wooden modes (150-900 Hz)
clock_tick     38     strictly periodic short clicks ringing at 2.5-5 kHz, tick/tock alternating
helicopter     40     noise chopped by a 10-20 Hz blade slap plus low blade harmonics
siren          42     harmonic tone sweeping sinusoidally (wail) between two pitches
engine         44     low pulse train at 25-60 Hz firing rate through low resonances, rumble
church_bells   46     struck inharmonic partials with long exponential decays
============== ====== ==========================================================================

Deterministic by seed; any rate up to 48 kHz (components above Nyquist are left out).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from sigkit.data.synth._dsp import butter, resonator_polys, smooth, unit_rms
from sigkit.errors import InputError
from sigkit.io.resample import check_rate

__all__ = ["ENV_CLASSES", "ESC50_TARGETS", "ESC10", "environmental"]

Recipe = Callable[[np.random.Generator, int, int], np.ndarray]


def _decay(m: int, sr: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(m) / (tau * sr))


def _add(out: np.ndarray, at: int, x: np.ndarray) -> None:
    if at >= len(out) or at + len(x) <= 0:
        return
    lo = max(0, at)
    hi = min(len(out), at + len(x))
    out[lo:hi] += x[lo - at : hi - at]


def _tone(freq: np.ndarray, sr: int, harmonics=(1.0,)) -> np.ndarray:
    """Sum of harmonics of a time-varying frequency (Hz per sample); harmonics above 0.45 sr are dropped."""
    phase = 2 * np.pi * np.cumsum(freq) / sr
    out = np.zeros_like(freq)
    for k, amp in enumerate(harmonics, start=1):
        out += amp * np.sin(k * phase) * (k * freq < 0.45 * sr)
    return out


def _resonate(x: np.ndarray, freqs, bws, sr: int) -> np.ndarray:
    a = resonator_polys(np.asarray([freqs], float), np.asarray([bws], float), sr)[0]
    return signal.lfilter([1.0], a, x)


def _dog(rng, n, sr):
    out = np.zeros(n)
    t = rng.uniform(0, 0.3) * n
    for _ in range(int(rng.integers(2, 7))):
        m = int(rng.uniform(0.1, 0.25) * sr)
        f0 = rng.uniform(450, 900) * np.linspace(1.0, rng.uniform(0.55, 0.75), m)
        src = _tone(f0, sr, (1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12))
        src += 0.3 * rng.normal(0, 1, m)
        body = _resonate(src, [rng.uniform(800, 1200), rng.uniform(1800, 2600)], [150, 250], sr)
        env = np.minimum(1, np.arange(m) / (0.01 * sr)) * _decay(m, sr, rng.uniform(0.05, 0.1))
        _add(out, int(t), unit_rms(body) * env)
        t = (t + m + rng.uniform(0.1, 0.6) * sr) % n
    return out


def _rain(rng, n, sr):
    rate = rng.uniform(300, 900)
    drops = np.zeros(n)
    k = rng.poisson(rate * n / sr)
    drops[rng.integers(0, n, k)] = rng.pareto(6.0, k) + 0.3
    kernel = butter(rng.normal(0, 1, int(0.003 * sr)), sr, "highpass", 2000.0, 2) * _decay(
        int(0.003 * sr), sr, 0.0008
    )
    clicks = signal.fftconvolve(drops, kernel)[:n]
    hiss = butter(butter(rng.normal(0, 1, n), sr, "highpass", 600.0, 2), sr, "lowpass", 9000.0, 1)
    return unit_rms(clicks) + rng.uniform(0.4, 0.8) * unit_rms(hiss)


def _fire(rng, n, sr):
    ctrl = smooth(rng.random(max(2, n // sr * 4 + 2)), 1)
    rate = 5 + 35 * np.interp(np.arange(n) / n, np.linspace(0, 1, len(ctrl)), ctrl) ** 2
    pops = (rng.random(n) < rate / sr) * (rng.pareto(1.5, n) + 0.5)
    kernel = rng.normal(0, 1, int(0.002 * sr)) * _decay(int(0.002 * sr), sr, 0.0006)
    crackle = signal.fftconvolve(pops, kernel)[:n]
    roar = butter(rng.normal(0, 1, n), sr, "lowpass", 300.0, 2)
    return unit_rms(crackle) + rng.uniform(0.3, 0.6) * unit_rms(roar)


def _birds(rng, n, sr):
    out = np.zeros(n)
    for _ in range(int(rng.integers(2, 6))):
        t = int(rng.uniform(0, 0.8) * n)
        f_lo, f_hi = rng.uniform(2000, 4000), rng.uniform(4500, 8000)
        up = rng.random() < 0.5
        for _ in range(int(rng.integers(3, 9))):
            m = int(rng.uniform(0.03, 0.12) * sr)
            sweep = np.linspace(f_lo, f_hi, m) if up else np.linspace(f_hi, f_lo, m)
            env = np.sin(np.pi * np.arange(m) / m) ** 2
            _add(out, t, _tone(sweep, sr, (1.0, 0.2)) * env)
            t += m + int(rng.uniform(0.03, 0.12) * sr)
    return out


def _wind(rng, n, sr):
    knots = max(2, int(n / sr * rng.uniform(0.5, 1.5)) + 2)
    gust = np.interp(np.arange(n) / n, np.linspace(0, 1, knots), rng.uniform(0.1, 1.0, knots))
    gust = smooth(gust, 0.1 * sr)
    low = butter(rng.normal(0, 1, n), sr, "lowpass", rng.uniform(250, 600), 2)
    bright = butter(rng.normal(0, 1, n), sr, "bandpass", (600.0, 2500.0), 1)
    return gust * unit_rms(low) + 0.4 * gust**2 * unit_rms(bright)


def _footsteps(rng, n, sr):
    out = np.zeros(n)
    period = rng.uniform(0.45, 0.65)
    t = rng.uniform(0, period)
    while t < n / sr:
        m = int(0.08 * sr)
        thud = butter(rng.normal(0, 1, m), sr, "lowpass", rng.uniform(200, 400), 2) * _decay(m, sr, 0.02)
        _add(out, int(t * sr), unit_rms(thud))
        ms = int(0.03 * sr)
        scuff = butter(rng.normal(0, 1, ms), sr, "bandpass", (1000.0, 4000.0), 2) * np.hanning(ms)
        _add(out, int((t + rng.uniform(0.04, 0.08)) * sr), 0.4 * unit_rms(scuff))
        t += period * rng.uniform(0.93, 1.07)
    return out


def _knock(rng, n, sr):
    out = np.zeros(n)
    modes = rng.uniform(150, 900, 4)
    taus = rng.uniform(0.02, 0.06, 4)
    for _ in range(int(rng.integers(1, 4))):
        t = rng.uniform(0, 0.8) * n / sr
        for _ in range(int(rng.integers(2, 5))):
            m = int(0.2 * sr)
            k = sum(
                _decay(m, sr, tau) * np.sin(2 * np.pi * f * np.arange(m) / sr + rng.uniform(0, 6.28))
                for f, tau in zip(modes, taus, strict=True)
            )
            k[: int(0.001 * sr)] += rng.normal(0, 2, int(0.001 * sr))
            _add(out, int(t * sr), k * rng.uniform(0.7, 1.0))
            t += rng.uniform(0.12, 0.22)
    return out


def _clock(rng, n, sr):
    out = np.zeros(n)
    period = float(rng.choice([0.5, 1.0]))
    ring = [rng.uniform(2500, 5000), rng.uniform(2500, 5000)]
    t, i = rng.uniform(0, period), 0
    while t < n / sr:
        m = int(0.012 * sr)
        click = np.zeros(m)
        click[: max(1, int(0.0005 * sr))] = 1.0
        tick = _resonate(click, [min(ring[i % 2], 0.4 * sr)], [300], sr) * _decay(m, sr, 0.003)
        _add(out, int(t * sr), tick / (np.abs(tick).max() + 1e-12))
        t += period
        i += 1
    return out


def _helicopter(rng, n, sr):
    rate = rng.uniform(10, 20)
    phase = (np.arange(n) * rate / sr) % 1.0
    slap = np.exp(-phase / 0.08)
    chopped = butter(rng.normal(0, 1, n), sr, "bandpass", (200.0, 3000.0), 1) * slap
    blades = _tone(np.full(n, rate * 2), sr, (1.0, 0.8, 0.6, 0.5, 0.4, 0.3))
    return unit_rms(chopped) + 0.5 * unit_rms(blades)


def _siren(rng, n, sr):
    fc, dev, period = rng.uniform(700, 1000), rng.uniform(250, 500), rng.uniform(1.0, 3.0)
    t = np.arange(n) / sr
    f = fc + dev * np.sin(2 * np.pi * t / period + rng.uniform(0, 6.28))
    return _tone(f, sr, (1.0, 0.5, 0.33, 0.25, 0.2)) + 0.02 * rng.normal(0, 1, n)


def _engine(rng, n, sr):
    rate = rng.uniform(25, 60)
    knots = max(2, int(n / sr) + 2)
    wobble = 1 + 0.03 * np.interp(np.arange(n) / n, np.linspace(0, 1, knots), rng.normal(0, 1, knots))
    phase = np.cumsum(rate * wobble / sr) % 1.0
    pulses = np.exp(-phase / 0.15)
    body = _resonate(pulses - pulses.mean(), [rng.uniform(120, 200), rng.uniform(350, 500)], [60, 120], sr)
    rumble = butter(rng.normal(0, 1, n), sr, "lowpass", 200.0, 2)
    return unit_rms(butter(body, sr, "lowpass", 1000.0, 2)) + 0.3 * unit_rms(rumble)


def _bells(rng, n, sr):
    out = np.zeros(n)
    f0 = rng.uniform(300, 600)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.52, 3.0, 4.1])
    t = rng.uniform(0, 0.3) * n / sr
    for _ in range(int(rng.integers(1, 4))):
        m = n - int(t * sr)
        if m <= 0:
            break
        k = np.zeros(m)
        for r, amp in zip(ratios, rng.uniform(0.3, 1.0, len(ratios)), strict=True):
            if f0 * r < 0.45 * sr:
                k += (
                    amp
                    * np.sin(2 * np.pi * f0 * r * np.arange(m) / sr)
                    * _decay(m, sr, rng.uniform(1.5, 4.0) / r**0.5)
                )
        _add(out, int(t * sr), k)
        t += rng.uniform(1.0, 2.0)
    return out


# name -> (ESC-50 target, in ESC-10, recipe), in ESC-50 target order
_RECIPES: dict[str, tuple[int, bool, Recipe]] = {
    "dog": (0, True, _dog),
    "rain": (10, True, _rain),
    "crackling_fire": (12, True, _fire),
    "chirping_birds": (14, False, _birds),
    "wind": (16, False, _wind),
    "footsteps": (25, False, _footsteps),
    "door_wood_knock": (30, False, _knock),
    "clock_tick": (38, True, _clock),
    "helicopter": (40, True, _helicopter),
    "siren": (42, False, _siren),
    "engine": (44, False, _engine),
    "church_bells": (46, False, _bells),
}
ENV_CLASSES: tuple[str, ...] = tuple(_RECIPES)
"""The class names; a dataset's label is the index in this tuple."""
ESC50_TARGETS: dict[str, int] = {k: v[0] for k, v in _RECIPES.items()}
"""ESC-50 target number of each class."""
ESC10: frozenset[str] = frozenset(k for k, v in _RECIPES.items() if v[1])
"""Classes that belong to ESC-10."""


def environmental(category: str | int, seconds: float = 5.0, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """Synthesize one environmental clip.

    Args:
        category: a name from :data:`ENV_CLASSES` or its index.
        seconds: clip length in seconds (ESC-50: 5.0).
        sr: sample rate in Hz, up to 48000 (ESC-50: 44100).
        seed: draws the clip's parameters and noise.

    Returns:
        ``(round(seconds * sr),)`` float32, peak between 0.3 and 0.9, with a -80 dB noise floor.

    >>> x = environmental("siren", seconds=0.5, sr=8000, seed=1)
    >>> x.shape, bool((x == environmental(9, seconds=0.5, sr=8000, seed=1)).all())
    ((4000,), True)
    """
    if isinstance(category, (int, np.integer)) and not isinstance(category, bool):
        if not 0 <= int(category) < len(ENV_CLASSES):
            raise InputError(f"environmental: class index {category} out of range 0..{len(ENV_CLASSES) - 1}")
        category = ENV_CLASSES[int(category)]
    if category not in _RECIPES:
        raise InputError(f"environmental: unknown class {category!r}; choose from {', '.join(ENV_CLASSES)}")
    sr = check_rate(sr, "sr")
    if sr > 48000:
        raise InputError(f"environmental: sr {sr} Hz is above the supported 48000 Hz")
    if not seconds or seconds < 0.25:
        raise InputError(f"environmental: seconds must be >= 0.25, got {seconds}")
    n = int(round(seconds * sr))
    rng = np.random.default_rng([seed, ESC50_TARGETS[category], 0xE5C])
    x = _RECIPES[category][2](rng, n, sr)
    x = x / (np.max(np.abs(x)) + 1e-12) * rng.uniform(0.3, 0.9)
    x = x + 1e-4 * rng.normal(0, 1, n)
    return x.astype(np.float32)
