"""The numba CPU back end against the torch reference: the same events, bit for bit, for the same seed."""
from __future__ import annotations

import importlib
import math
import warnings

import numpy as np
import pytest
import torch
from sigkit.events import SimConfig, Simulator, simulate
from sigkit.events.scenes import sliding_texture

from sigkit.errors import InputError

pytest.importorskip("numba")
simulate_mod = importlib.import_module("sigkit.events.simulate")   # the module (the package exports the function)

CASES = {
    "ideal": dict(bandwidth_model=False),
    "ideal_refractory_leak_mismatch": dict(bandwidth_model=False, refractory=2e-4, leak_rate=20.0, threshold_sigma=0.05),
    "nominal": dict(),
    "refractory_leak_mismatch": dict(refractory=2e-4, leak_rate=20.0, leak_rate_cov_decades=0.2, threshold_sigma=0.05),
    "lti_diff_reset": dict(ip_to_it_fa=math.inf, output_time_const_us=0.0, sf_cutoff_hz=math.inf, diff_cutoff_hz=500.0),
    "first_order_photoreceptor": dict(output_time_const_us=0.0),
    "lti_photoreceptor": dict(ip_to_it_fa=math.inf),
    "dim_overdamped": dict(ip_to_it_fa=20.0),
    "shot_noise": dict(shot_rate=300.0, threshold_sigma=0.03),
    "min_rate": dict(bandwidth_model=False, min_rate_hz=5000.0),
}


@pytest.fixture(scope="module")
def clip():
    return sliding_texture(6, 8, 0.04, 1000, speed_px_s=300.0, dtype=torch.float64)


@pytest.mark.parametrize("name", list(CASES))
def test_same_events_as_torch_reference(clip, name):
    fr, ts = clip
    cfg = SimConfig(**CASES[name])
    a = Simulator(cfg, 6, 8, dtype=torch.float64).run(fr, ts, backend="torch")
    b = Simulator(cfg, 6, 8, dtype=torch.float64).run(fr, ts, backend="numba")
    assert len(a) > 100 and a.equals(b), f"{name}: {len(a)} torch vs {len(b)} numba events"
    if cfg.shot_rate:
        assert len(a) > len(Simulator(SimConfig(**{**CASES[name], "shot_rate": 0.0}), 6, 8, dtype=torch.float64).run(fr, ts))


def test_float32_simulator_close_to_reference(clip):
    # float32 state: the numba loops still compute in float64, so events agree to float32 rounding
    fr, ts = clip
    a = Simulator(SimConfig(), 6, 8).run(fr, ts, backend="torch")
    b = Simulator(SimConfig(), 6, 8).run(fr, ts, backend="numba")
    assert abs(len(a) - len(b)) <= 0.01 * len(a) + 1


def test_state_carries_over_between_runs_and_backends():
    fr, ts = sliding_texture(5, 7, 0.3, 1000, speed_px_s=200.0, dtype=torch.float64)   # > 128 frames: 3 chunks
    cfg = SimConfig(refractory=1e-4, threshold_sigma=0.03, leak_rate=5.0)
    ref = Simulator(cfg, 5, 7, dtype=torch.float64).run(fr, ts, backend="torch")
    s = Simulator(cfg, 5, 7, dtype=torch.float64)
    parts = [s.run(fr[:100], ts[:100], backend="numba"), s.run(fr[100:180], ts[100:180], backend="torch"),
             s.run(fr[180:], ts[180:], backend="numba")]
    assert sum(len(p) for p in parts) == len(ref)
    for f in "txyp":
        np.testing.assert_array_equal(np.concatenate([getattr(p, f) for p in parts]), getattr(ref, f))
    one = Simulator(cfg, 5, 7, dtype=torch.float64).run(fr, ts, backend="numba")
    assert one.equals(ref)


def test_event_buffer_overflow_reruns_blocks():
    from sigkit.events.sim_numba import simulate_pixels

    # 10 pixels with 40 events each in blocks of 4 pixels: buffers of 64 overflow and are rerun
    k, C = 10.0, 0.25
    t = np.arange(101) / 100.0
    u = np.repeat((k * t[1:])[:, None], 10, 1).astype(np.float64)
    st = np.zeros((9, 10))
    prm = np.zeros(17)
    prm[11], prm[12], prm[16] = 0.5 * C, 64, C
    c = np.full(10, C)
    tus, x, y, pol, *_ = simulate_pixels(u, np.zeros(10), t, c, c, np.zeros(10), st, np.zeros(10, np.uint8), prm,
                                          False, 0, False, block=4, per_pixel=1)
    assert len(tus) == 10 * 40 and (pol == 1).all()
    np.testing.assert_array_equal(tus, np.repeat(np.arange(1, 41) * 25000, 10))
    np.testing.assert_array_equal(x, np.tile(np.arange(10), 40))
    assert (y == 0).all()


def test_auto_falls_back_to_torch_without_numba(monkeypatch, clip):
    fr, ts = clip
    monkeypatch.setattr(simulate_mod, "numba_available", lambda: False)
    monkeypatch.setattr(simulate_mod, "_warned_numba", False)
    with pytest.warns(UserWarning, match="pip install numba"):
        assert simulate_mod.auto_backend("cpu") == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # warned once only
        ev = simulate(fr, ts, SimConfig(bandwidth_model=False))
    assert ev.equals(simulate(fr, ts, SimConfig(bandwidth_model=False), backend="torch"))


def test_backend_errors(clip):
    fr, ts = clip
    with pytest.raises(InputError, match="backend must be one of"):
        simulate(fr, ts, backend="cuda")
    s = Simulator(SimConfig(), 6, 8)
    s.run(fr[:5], ts[:5], backend="numba")
    with pytest.raises(InputError, match="timestamps must increase"):
        s.run(fr[3:6], ts[3:6], backend="numba")


def test_float32_ideal_pixel_takes_logs_lazily_with_the_same_events():
    # float32 ideal pixel: the compiled loop takes log(it + b) only in frames that can fire; every event
    # matches the float32 torch reference (per pixel, in order) to 1 us
    fr, ts = sliding_texture(24, 32, 0.3, 1000, speed_px_s=300.0)
    for kw in (dict(), dict(refractory=1e-4, threshold_sigma=0.05), dict(leak_rate=2.0)):
        cfg = SimConfig(bandwidth_model=False, **kw)
        a = Simulator(cfg, 24, 32).run(fr, ts, backend="torch")
        b = Simulator(cfg, 24, 32).run(fr, ts, backend="numba")
        oa, ob = np.lexsort((a.t, a.x, a.y)), np.lexsort((b.t, b.x, b.y))
        assert len(a) > 10000 and len(a) == len(b)
        for f in "xyp":
            np.testing.assert_array_equal(getattr(a, f)[oa], getattr(b, f)[ob])
        assert np.abs(a.t[oa] - b.t[ob]).max() <= 1


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_gather_sorted_is_the_stable_time_then_pixel_order(parts):
    """The per-thread counting sort gives the order of one stable argsort by microsecond, whatever the split of
    blocks over threads (ties across block and thread boundaries included), and flags out-of-range times."""
    from sigkit.events.sim_numba import _gather_sorted

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, size=23).astype(np.int64)
    cap = 48
    starts = np.arange(counts.size, dtype=np.int64) * cap
    out_t = np.zeros(counts.size * cap, np.int64)
    out_i = np.zeros(counts.size * cap, np.int32)
    out_p = np.zeros(counts.size * cap, np.int8)
    ref_t, ref_i, ref_p = [], [], []
    for j, (a, c) in enumerate(zip(starts, counts, strict=True)):
        out_t[a:a + c] = rng.integers(100, 130, size=c)           # few distinct microseconds: many ties
        out_i[a:a + c] = j * 1000 + np.arange(c)
        out_p[a:a + c] = rng.choice([-1, 1], size=c)
        ref_t.append(out_t[a:a + c]), ref_i.append(out_i[a:a + c]), ref_p.append(out_p[a:a + c])
    ref_t, ref_i, ref_p = np.concatenate(ref_t), np.concatenate(ref_i), np.concatenate(ref_p)
    order = np.argsort(ref_t, kind="stable")
    width = 100
    t, x, y, p, ok = _gather_sorted(out_t, out_i, out_p, starts, counts, width, 99, 131, parts)
    assert ok
    np.testing.assert_array_equal(t, ref_t[order])
    np.testing.assert_array_equal(x, ref_i[order] % width)
    np.testing.assert_array_equal(y, ref_i[order] // width)
    np.testing.assert_array_equal(p, ref_p[order])
    assert not _gather_sorted(out_t, out_i, out_p, starts, counts, width, 110, 131, parts)[4]
