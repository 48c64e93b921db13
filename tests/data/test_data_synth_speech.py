"""sigkit.data.synth speech: determinism, energy up to Nyquist at 48 kHz, speakers, formants, pauses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sigkit.data.synth import VOWELS, make_speaker, speech_like, speech_like_with_text
from sigkit.data.synth._dsp import resonator_polys, timevarying_allpole
from sigkit.errors import InputError, SampleRateError


def _band_db(x: np.ndarray, sr: int, edges) -> np.ndarray:
    f, p = signal.welch(x.astype(np.float64), sr, nperseg=2048)
    return np.array(
        [
            10 * np.log10(p[(f >= a) & (f < b)].sum() + 1e-30)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )


class TestSpeechLike:
    def test_deterministic_by_seed(self):
        a = speech_like(1.0, 16000, seed=7)
        assert np.array_equal(a, speech_like(1.0, 16000, seed=7))
        assert not np.array_equal(a, speech_like(1.0, 16000, seed=8))
        _, text = speech_like_with_text(1.0, 16000, seed=7)
        assert text == speech_like_with_text(1.0, 16000, seed=7)[1] and text.endswith(".")

    @pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
    def test_shapes_and_levels(self, sr):
        x = speech_like(0.8, sr, seed=1)
        assert x.shape == (round(0.8 * sr),) and x.dtype == np.float32
        assert np.isfinite(x).all() and 0.3 <= np.abs(x).max() <= 0.91

    def test_energy_reaches_nyquist_at_48k(self):
        x = speech_like(3.0, 48000, seed=2)
        bands = _band_db(x, 48000, np.arange(0, 24001, 2000))
        assert bands[-2:].max() > bands.max() - 60  # 20-24 kHz within 60 dB of the strongest 2-kHz band
        floor = _band_db(1e-4 * np.random.default_rng(0).normal(size=x.size), 48000, [20000, 24000])[0]
        assert bands[-2:].max() > floor + 20  # real content, not the -80 dB noise floor
        assert bands[0] == bands.max()  # and it is still speech-shaped: most energy below 2 kHz

    def test_pauses_are_quiet(self):
        x = speech_like(3.0, 16000, seed=3).astype(np.float64)
        frames = x[: len(x) // 320 * 320].reshape(-1, 320)
        db = 10 * np.log10((frames**2).mean(1) + 1e-20)
        assert db.min() < db.max() - 50  # the leading/trailing silences and word gaps

    def test_speaker_identity_sets_pitch(self):
        def f0_peak(gender):
            spk = make_speaker("p300", gender)
            x = speech_like(2.0, 16000, seed=4, speaker=spk)
            f, p = signal.welch(x, 16000, nperseg=8192)
            band = (f > 60) & (f < 400)
            return f[band][np.argmax(p[band])], spk

        fm, m = f0_peak("M")
        ff, w = f0_peak("F")
        assert m.f0_mean < 150 < 160 < w.f0_mean and w.formant_scale > m.formant_scale
        assert fm < ff

    def test_make_speaker_deterministic(self):
        assert make_speaker("p225", seed=1) == make_speaker("p225", seed=1)
        assert make_speaker("p225", seed=1) != make_speaker("p226", seed=1)
        with pytest.raises(InputError, match="gender"):
            make_speaker("p225", "X")

    def test_errors(self):
        with pytest.raises(InputError, match="above the supported 48000 Hz"):
            speech_like(1.0, 96000)
        with pytest.raises(SampleRateError):
            speech_like(1.0, 16000.5)
        with pytest.raises(InputError, match="seconds must be >= 0.3"):
            speech_like(0.1, 16000)


class TestFormantFilter:
    def test_cascade_peaks_at_formants(self):
        sr = 16000
        f1, f2, f3 = VOWELS["a"]
        a = resonator_polys(np.array([[f1, f2, f3]]), np.array([[60.0, 80.0, 100.0]]), sr)[0]
        w, h = signal.freqz([a.sum()], a, worN=8192, fs=sr)
        mag = 20 * np.log10(np.abs(h))
        peaks, _ = signal.find_peaks(mag)
        found = w[peaks]
        for f in (f1, f2, f3):
            assert np.min(np.abs(found - f)) < 25
        assert abs(mag[0]) < 1e-9  # unity gain at DC

    def test_formants_above_nyquist_are_left_out(self):
        a = resonator_polys(np.array([[500.0, 7900.0]]), np.array([[60.0, 80.0]]), 16000)[0]
        assert a.shape == (5,) and a[3] == 0 and a[4] == 0

    def test_blockwise_filter_equals_lfilter_for_fixed_formants(self):
        sr, x = 16000, np.random.default_rng(0).normal(size=4000)
        f = np.tile([700.0, 1200.0, 2600.0], (40, 1))
        b = np.tile([70.0, 90.0, 120.0], (40, 1))
        a = resonator_polys(f[:1], b[:1], sr)[0]
        np.testing.assert_allclose(
            timevarying_allpole(x, f, b, sr, 100), signal.lfilter([a.sum()], a, x), rtol=0, atol=1e-9
        )

    def test_moving_formant_moves_the_peak(self):
        sr, n, block = 16000, 16000, 80
        x = np.random.default_rng(1).normal(size=n)
        f1 = np.linspace(400.0, 1600.0, n // block)[:, None]
        y = timevarying_allpole(x, f1, np.full_like(f1, 80.0), sr, block)
        f, _, s = signal.stft(y, sr, nperseg=512)
        early, late = np.abs(s[:, 3:8]).mean(1), np.abs(s[:, -8:-3]).mean(1)
        assert abs(f[np.argmax(early)] - 430) < 100 and abs(f[np.argmax(late)] - 1570) < 100
