"""A source-filter speech-like synthesizer whose energy reaches Nyquist at 48 kHz.

One utterance is a plan of syllables (optional consonant onset, a vowel, optional fricative coda) grouped
in words with pauses between some of them, rendered as:

* **voiced source**: a Rosenberg glottal pulse train (flow with an opening and a closing phase, open
  quotient per speaker), differentiated (lip radiation), on a smooth f0 contour (declination, a pitch
  accent per word, slow drift, small jitter);
* **vocal tract**: a cascade of five 2-pole resonators (F1-F5) whose frequencies glide between vowel
  targets (piecewise-linear between syllable centres, updated every 8 ms), scaled per speaker;
* **high band**: the glottal source high-passed above the formants (its -6 dB/octave harmonics reach
  Nyquist) and pitch-synchronous breath noise (aspiration), so voiced frames carry harmonic and noise
  energy up to the top of the band;
* **consonants**: fricatives (/s/ high-passed noise extending to Nyquist, /sh/ band noise, /f/ broadband,
  /h/ aspiration), plosive bursts after a closure, nasal-like voiced murmurs;
* **pauses**: silence at the ends and between some words, with a -80 dB noise floor.

Everything is vectorised with numpy/scipy (one ``lfilter`` per 8-ms block for the moving formants);
a 3-s utterance at 48 kHz takes about 60 ms on one CPU core.
Deterministic: the same ``seed`` and speaker give the same samples at a given rate.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from sigkit.data.synth._dsp import butter, smooth, timevarying_allpole, unit_rms
from sigkit.errors import InputError
from sigkit.io.resample import check_rate

__all__ = ["Speaker", "make_speaker", "speech_like", "speech_like_with_text", "VOWELS"]

# vowel -> (F1, F2, F3) in Hz for an adult male voice (Peterson & Barney-like averages)
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
    "ae": (660.0, 1720.0, 2410.0),
    "er": (490.0, 1350.0, 1690.0),
}
_VOWEL_LETTERS = {"a": "a", "e": "e", "i": "ee", "o": "o", "u": "oo", "ae": "a", "er": "ur"}
_FRICATIVES = ("s", "sh", "f", "h")
_PLOSIVES = ("p", "t", "k")
_NASALS = ("m", "n", "l")
_LETTERS = {
    "s": "s",
    "sh": "sh",
    "f": "f",
    "h": "h",
    "p": "p",
    "t": "t",
    "k": "k",
    "m": "m",
    "n": "n",
    "l": "l",
}
MAX_RATE = 48000


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker's identity.

    Attributes:
        id: name (``"p225"``).
        gender: ``"F"`` or ``"M"``.
        f0_mean: mean fundamental frequency in Hz.
        f0_range: pitch excursion of accents, in semitones.
        formant_scale: vocal-tract scaling of all formants (about 1.0 male, 1.15 female).
        open_quotient: fraction of each glottal period the glottis is open (0.4-0.75).
        breathiness: aspiration noise level relative to the voiced part (linear).
        high_band: level of the high-passed glottal source relative to the voiced part (linear).
    """

    id: str
    gender: str
    f0_mean: float
    f0_range: float
    formant_scale: float
    open_quotient: float
    breathiness: float
    high_band: float


def make_speaker(speaker_id: str, gender: str | None = None, seed: int = 0) -> Speaker:
    """A deterministic speaker for ``speaker_id`` (same id and seed -> same voice).

    Args:
        speaker_id: any name; it seeds the voice together with ``seed``.
        gender: ``"F"``/``"M"``, or ``None`` to draw one.
        seed: corpus seed.

    >>> make_speaker("p225", "F").gender, 160 < make_speaker("p225", "F").f0_mean < 260
    ('F', True)
    """
    rng = np.random.default_rng([zlib.crc32(str(speaker_id).encode()), seed, 17])
    if gender is None:
        gender = "F" if rng.random() < 0.5 else "M"
    gender = gender.upper()
    if gender not in ("F", "M"):
        raise InputError(f"speaker {speaker_id}: gender must be 'F' or 'M', got {gender!r}")
    female = gender == "F"
    return Speaker(
        id=str(speaker_id),
        gender=gender,
        f0_mean=float(rng.uniform(170, 250) if female else rng.uniform(90, 145)),
        f0_range=float(rng.uniform(2.0, 5.0)),
        formant_scale=float(rng.uniform(1.1, 1.22) if female else rng.uniform(0.94, 1.06)),
        open_quotient=float(rng.uniform(0.5, 0.72) if female else rng.uniform(0.42, 0.62)),
        breathiness=float(rng.uniform(0.03, 0.12) if female else rng.uniform(0.02, 0.08)),
        high_band=float(rng.uniform(0.04, 0.1)),
    )


@dataclass
class _Segment:
    kind: str  # "sil", "vowel", "fric", "burst", "nasal"
    start: float  # s
    end: float  # s
    label: str


def _plan(rng: np.random.Generator, seconds: float) -> tuple[list[_Segment], list[str]]:
    """Syllables in words with pauses, filling ``seconds``. Returns segments and the words' spellings."""
    segs: list[_Segment] = []
    words: list[str] = []
    t = float(rng.uniform(0.04, 0.15))
    segs.append(_Segment("sil", 0.0, t, ""))
    tail = float(rng.uniform(0.06, 0.15))
    vowel_names = list(VOWELS)
    while t < seconds - tail - 0.25:
        spelling = ""
        for _ in range(int(rng.integers(1, 4))):
            r = rng.random()
            if r < 0.35:
                c = str(rng.choice(_FRICATIVES))
                d = rng.uniform(0.06, 0.14) if c != "h" else rng.uniform(0.03, 0.06)
                segs.append(_Segment("fric", t, t + d, c))
                t += d
            elif r < 0.6:
                c = str(rng.choice(_PLOSIVES))
                closure = rng.uniform(0.03, 0.06)
                segs.append(_Segment("sil", t, t + closure, ""))
                t += closure
                d = rng.uniform(0.012, 0.025)
                segs.append(_Segment("burst", t, t + d, c))
                t += d
            elif r < 0.8:
                c = str(rng.choice(_NASALS))
                d = rng.uniform(0.05, 0.09)
                segs.append(_Segment("nasal", t, t + d, c))
                t += d
            else:
                c = ""
            v = str(rng.choice(vowel_names))
            d = rng.uniform(0.08, 0.22)
            segs.append(_Segment("vowel", t, t + d, v))
            t += d
            spelling += _LETTERS.get(c, "") + _VOWEL_LETTERS[v]
            if rng.random() < 0.2:
                c = str(rng.choice(("s", "sh", "f")))
                d = rng.uniform(0.06, 0.12)
                segs.append(_Segment("fric", t, t + d, c))
                t += d
                spelling += _LETTERS[c]
        words.append(spelling)
        gap = rng.uniform(0.12, 0.35) if rng.random() < 0.3 else rng.uniform(0.0, 0.03)
        segs.append(_Segment("sil", t, t + gap, ""))
        t += gap
    segs.append(_Segment("sil", t, seconds, ""))
    return segs, words


CONTROL_RATE = 1000  # Hz: envelopes, gates and f0 are drawn at 1 ms resolution, then interpolated


def _gate(segs: list[_Segment], n: int, rate: float, kinds: tuple[str, ...], labels=None) -> np.ndarray:
    g = np.zeros(n)
    for s in segs:
        if s.kind in kinds and (labels is None or s.label in labels):
            g[int(s.start * rate) : int(s.end * rate)] = 1.0
    return g


def _upsample(ctrl: np.ndarray, n: int, sr: int) -> np.ndarray:
    """Control-rate signal -> ``n`` samples at ``sr`` by linear interpolation."""
    return np.interp(np.arange(n) * (CONTROL_RATE / sr), np.arange(len(ctrl)), ctrl)


def _f0_contour(rng, segs, n_words: int, nc: int, spk: Speaker) -> np.ndarray:
    """f0 in Hz at the control rate: declination, one accent per word, slow drift, jitter."""
    t = np.arange(nc) / CONTROL_RATE
    dur = nc / CONTROL_RATE
    semis = np.interp(t, [0, dur], [1.5, -2.0])
    knots = np.arange(0, dur + 0.25, 0.25)
    semis += np.interp(t, knots, rng.normal(0, 0.6, len(knots)))
    vowels = [s for s in segs if s.kind == "vowel"]
    if vowels:
        for i in rng.permutation(len(vowels))[: max(1, n_words)]:
            c = 0.5 * (vowels[i].start + vowels[i].end)
            semis += spk.f0_range * rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((t - c) / 0.09) ** 2)
    semis += 0.15 * rng.normal(0, 1, nc)
    f0 = spk.f0_mean * 2 ** (rng.normal(0, 1.0) / 12) * 2 ** (semis / 12)
    return np.clip(f0, 50, 500)


def _rosenberg_derivative(f0: np.ndarray, sr: int, oq: float) -> tuple[np.ndarray, np.ndarray]:
    """Differentiated Rosenberg glottal flow on the per-sample f0 contour, and the open-phase indicator."""
    phase = np.cumsum(f0 / sr)
    p = phase - np.floor(phase)
    tp, tn = 0.66 * oq, 0.34 * oq
    flow = np.zeros_like(p)
    rise, fall = p < tp, (p >= tp) & (p < tp + tn)
    flow[rise] = 0.5 * (1 - np.cos(np.pi * p[rise] / tp))
    flow[fall] = np.cos(0.5 * np.pi * (p[fall] - tp) / tn)
    d = np.diff(flow, prepend=flow[0]) * (sr / f0)  # derivative per unit of period: level independent of sr
    return d, (p < tp + tn).astype(float)


def _formant_tracks(
    segs, n_blocks: int, block: int, sr: int, spk: Speaker, rng
) -> tuple[np.ndarray, np.ndarray]:
    """F1-F5 (Hz) per block: piecewise-linear between the targets at vowel/nasal centres."""
    centres, targets = [], []
    for s in segs:
        if s.kind == "vowel":
            f = np.array([*VOWELS[s.label], 3400.0, 4300.0])
        elif s.kind == "nasal":
            f = np.array([260.0, 1150.0, 2450.0, 3400.0, 4300.0])
        else:
            continue
        centres.append(0.5 * (s.start + s.end))
        targets.append(f * spk.formant_scale * rng.normal(1.0, 0.04, 5))
    tb = (np.arange(n_blocks) + 0.5) * block / sr
    if centres:
        tg = np.array(targets)
        freqs = np.stack([np.interp(tb, centres, tg[:, k]) for k in range(5)], axis=1)
    else:
        freqs = np.tile(np.array([500.0, 1500.0, 2500.0, 3400.0, 4300.0]) * spk.formant_scale, (n_blocks, 1))
    bws = np.broadcast_to(np.array([70.0, 90.0, 120.0, 180.0, 250.0]), freqs.shape)
    return freqs, bws


# fricative / burst colours: (chain of butterworth stages, level)
_FRIC_SHAPES = {
    "s": ([("highpass", 4000.0, 4), ("lowpass", 10000.0, 1)], 0.6),
    "sh": ([("bandpass", (2000.0, 6500.0), 2)], 0.5),
    "f": ([("highpass", 800.0, 1), ("lowpass", 6000.0, 1)], 0.25),
    "h": ([("highpass", 400.0, 1), ("lowpass", 3000.0, 1)], 0.15),
    "p": ([("lowpass", 1500.0, 2)], 0.8),
    "t": ([("highpass", 3500.0, 2), ("lowpass", 12000.0, 1)], 0.8),
    "k": ([("bandpass", (1500.0, 4000.0), 2)], 0.8),
}


def _coloured(noise: np.ndarray, sr: int, label: str) -> np.ndarray:
    for kind, freq, order in _FRIC_SHAPES[label][0]:
        noise = butter(noise, sr, kind, freq, order)
    return noise


def _consonants(rng, segs, n: int, sr: int) -> np.ndarray:
    """Fricatives and plosive bursts, each segment's noise coloured on its own (plus a 20 ms pre-roll)."""
    out = np.zeros(n)
    pre = int(0.02 * sr)
    ramp = max(1, int(0.008 * sr))
    for s in segs:
        if s.kind not in ("fric", "burst"):
            continue
        i0, i1 = int(s.start * sr), min(n, int(s.end * sr))
        if i1 <= i0:
            continue
        col = _coloured(rng.normal(0, 1, pre + i1 - i0), sr, s.label)[pre:]
        col = unit_rms(col)
        m = i1 - i0
        if s.kind == "fric":
            env = np.minimum(1.0, np.minimum(np.arange(1, m + 1), np.arange(m, 0, -1)) / ramp)
        else:
            env = np.exp(-np.arange(m) / (0.004 * sr))
        out[i0:i1] += _FRIC_SHAPES[s.label][1] * env * col
    return out


def _render(seconds: float, sr: int, seed: int, speaker: Speaker | None) -> tuple[np.ndarray, str]:
    sr = check_rate(sr, "sr")
    if sr > MAX_RATE:
        raise InputError(
            f"speech_like: sr {sr} Hz is above the supported {MAX_RATE} Hz; synthesize at "
            f"{MAX_RATE} and resample"
        )
    if not seconds or seconds < 0.3:
        raise InputError(f"speech_like: seconds must be >= 0.3, got {seconds}")
    rng = np.random.default_rng([seed, 0x5EEC])
    spk = speaker or make_speaker(f"spk{seed}", seed=seed)
    n = int(round(seconds * sr))
    nc = int(math.ceil(seconds * CONTROL_RATE)) + 1
    segs, words = _plan(rng, seconds)

    # control-rate envelopes
    f0 = _upsample(_f0_contour(rng, segs, len(words), nc, spk), n, sr)
    voicing_c = smooth(
        _gate(segs, nc, CONTROL_RATE, ("vowel",)) + 0.5 * _gate(segs, nc, CONTROL_RATE, ("nasal",)), 12
    )
    knots = np.arange(0, seconds + 0.4, 0.4)
    loud_c = 2 ** smooth(np.interp(np.arange(nc) / CONTROL_RATE, knots, rng.normal(0, 0.5, len(knots))), 20)
    voicing = _upsample(voicing_c, n, sr)
    loud = _upsample(loud_c, n, sr)

    # voiced part: glottal source -> moving formants, plus high band and pitch-synchronous breath
    source, open_phase = _rosenberg_derivative(f0, sr, spk.open_quotient)
    excitation = source * voicing
    block = max(1, int(0.008 * sr))
    freqs, bws = _formant_tracks(segs, math.ceil(n / block), block, sr, spk, rng)
    voiced_mask = voicing > 0.5
    voiced = unit_rms(timevarying_allpole(excitation, freqs, bws, sr, block), voiced_mask)
    high = unit_rms(butter(excitation, sr, "highpass", 4500.0 * spk.formant_scale, 2), voiced_mask)
    breath = butter(butter(rng.normal(0, 1, n), sr, "highpass", 1200.0, 1), sr, "lowpass", 5000.0, 1)
    breath = unit_rms(breath * open_phase * voicing, voiced_mask)

    wave = (voiced + spk.high_band * high + spk.breathiness * breath) * voicing + _consonants(
        rng, segs, n, sr
    )
    wave *= loud
    wave /= np.max(np.abs(wave)) + 1e-12
    wave *= rng.uniform(0.3, 0.9)
    wave += 1e-4 * rng.normal(0, 1, n)  # -80 dB floor: pauses are quiet, not digital zero
    text = " ".join(words).capitalize() + "."
    return wave.astype(np.float32), text


def speech_like(
    seconds: float = 3.0, sr: int = 48000, seed: int = 0, speaker: Speaker | None = None
) -> np.ndarray:
    """Synthesize one speech-like utterance.

    Args:
        seconds: length in seconds (>= 0.3).
        sr: sample rate in Hz, at most 48000.
        seed: makes the utterance (plan, f0, noise); the same seed, speaker and rate give the same samples.
        speaker: the voice (:func:`make_speaker`); ``None`` draws one from ``seed``.

    Returns:
        ``(round(seconds * sr),)`` float32 waveform, peak between 0.3 and 0.9.

    >>> x = speech_like(1.0, 16000, seed=3)
    >>> x.shape, x.dtype, bool((x == speech_like(1.0, 16000, seed=3)).all())
    ((16000,), dtype('float32'), True)
    """
    return _render(seconds, sr, seed, speaker)[0]


def speech_like_with_text(
    seconds: float = 3.0, sr: int = 48000, seed: int = 0, speaker: Speaker | None = None
) -> tuple[np.ndarray, str]:
    """As :func:`speech_like`, also returning a pseudo-transcript (one made-up word per synthesized word).

    >>> wave, text = speech_like_with_text(1.0, 8000, seed=1)
    >>> text.endswith(".") and len(wave) == 8000
    True
    """
    return _render(seconds, sr, seed, speaker)
