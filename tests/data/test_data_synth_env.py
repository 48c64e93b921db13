"""sigkit.data.synth environmental: twelve distinguishable classes, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sigkit.data.synth import ENV_CLASSES, ESC10, ESC50_TARGETS, environmental
from sigkit.errors import InputError

SR = 16000


def _features(x: np.ndarray) -> np.ndarray:
    """Mean spectrum in 16 log-spaced bands (dB, peak-normalised) + frame-energy spread and flux."""
    f, _, s = signal.stft(x, SR, nperseg=512, noverlap=256)
    p = np.abs(s) ** 2 + 1e-12
    edges = np.geomspace(50, SR / 2, 17)
    bands = np.stack([p[(f >= a) & (f < b)].sum(0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    spec = 10 * np.log10(bands.mean(1))
    e = 10 * np.log10(p.sum(0))
    return np.concatenate([(spec - spec.max()) / 10, [e.std() / 10, np.abs(np.diff(e)).mean() / 10]])


def test_at_least_ten_classes_with_esc50_targets():
    assert len(ENV_CLASSES) >= 10 and len(set(ENV_CLASSES)) == len(ENV_CLASSES)
    assert ESC50_TARGETS["dog"] == 0 and ESC50_TARGETS["siren"] == 42 and ESC50_TARGETS["church_bells"] == 46
    assert all(0 <= t < 50 for t in ESC50_TARGETS.values())
    assert ESC10 == {"dog", "rain", "crackling_fire", "clock_tick", "helicopter"}


@pytest.mark.parametrize("category", ENV_CLASSES)
def test_deterministic_shape_level(category):
    x = environmental(category, 0.5, SR, seed=3)
    assert x.shape == (8000,) and x.dtype == np.float32 and np.isfinite(x).all()
    assert 0.3 <= np.abs(x).max() <= 0.91
    assert np.array_equal(x, environmental(category, 0.5, SR, seed=3))
    assert not np.array_equal(x, environmental(category, 0.5, SR, seed=4))


def test_classes_are_distinguishable_by_their_mean_spectra():
    """Leave-one-out nearest-centroid on 5 one-second clips per class must get >= 90% right."""
    feats = {
        c: np.stack([_features(environmental(c, 1.0, SR, seed=s)) for s in range(5)]) for c in ENV_CLASSES
    }
    correct = 0
    for c in ENV_CLASSES:
        for i in range(5):
            cents = {d: (np.delete(feats[d], i, 0) if d == c else feats[d]).mean(0) for d in ENV_CLASSES}
            correct += min(cents, key=lambda d: np.linalg.norm(feats[c][i] - cents[d])) == c
    assert correct / (5 * len(ENV_CLASSES)) >= 0.9
    # and every pair of class centroids is apart
    cents = np.stack([feats[c].mean(0) for c in ENV_CLASSES])
    dist = np.linalg.norm(cents[:, None] - cents[None], axis=-1) + np.eye(len(cents)) * 1e9
    assert dist.min() > 0.3


def test_low_rate_and_index_access():
    assert np.array_equal(environmental(0, 0.5, 8000, seed=1), environmental("dog", 0.5, 8000, seed=1))
    x = environmental("chirping_birds", 1.0, 8000, seed=2)  # sweeps above 3.6 kHz are left out, not aliased
    assert np.isfinite(x).all()


def test_errors():
    with pytest.raises(InputError, match="unknown class 'cat'"):
        environmental("cat")
    with pytest.raises(InputError, match="out of range"):
        environmental(len(ENV_CLASSES))
    with pytest.raises(InputError, match="above the supported 48000 Hz"):
        environmental("dog", 1.0, 96000)
    with pytest.raises(InputError, match="seconds"):
        environmental("dog", 0.1, 16000)
