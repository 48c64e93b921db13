"""Simulator against closed forms: ramp event counts and times, reset transient, refractory, leak, noise."""
from __future__ import annotations

import importlib
import importlib.util
import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from sigkit.events import SimConfig, Simulator, make_config, simulate

from sigkit.errors import ConfigError, InputError

_BACKENDS = ["torch"] + (["numba"] if importlib.util.find_spec("numba") else [])


@pytest.fixture(params=_BACKENDS)
def backend(request, monkeypatch):
    """Run a closed-form test through each CPU back end (``auto`` is pointed at it)."""
    mod = importlib.import_module("sigkit.events.simulate")
    monkeypatch.setattr(mod, "auto_backend", lambda *a, **k: request.param)
    return request.param


def _ramp(k: float, duration: float, fps: float, hw=(2, 3), eps: float = 1e-3):
    """Frames whose log(it + eps) rises linearly at k per second."""
    t = np.arange(int(round(duration * fps)) + 1) / fps
    it = np.exp(k * t) - eps
    return torch.tensor(it, dtype=torch.float64)[:, None, None].expand(-1, *hw).clone(), t


@pytest.mark.usefixtures("backend")
class TestIdealPixel:
    def test_log_ramp_event_count_and_times(self):
        k, C = 10.0, 0.25                   # events every C / k = 25 ms
        fr, t = _ramp(k, 0.5, 100)
        ev = simulate(fr, t, SimConfig(bandwidth_model=False, threshold_on=C, threshold_off=C))
        per_pixel = math.floor(k * 0.5 / C + 1e-9)
        assert len(ev) == 6 * per_pixel and set(ev.p.tolist()) == {1}
        t_pix = np.sort(ev.t[(ev.x == 1) & (ev.y == 0)])
        np.testing.assert_allclose(t_pix, np.arange(1, per_pixel + 1) * C / k * 1e6, atol=1)

    def test_falling_ramp_gives_off_events_and_asymmetric_thresholds(self):
        fr, t = _ramp(-4.0, 1.0, 50)
        ev = simulate(fr, t, SimConfig(bandwidth_model=False, threshold_on=0.1, threshold_off=0.5))
        assert set(ev.p.tolist()) == {-1} and len(ev) == 6 * 8

    def test_fast_change_is_substepped(self):
        # one frame interval with a 10-threshold jump gives the same events as 100 fine frames
        fr = torch.tensor([0.1, 1.0], dtype=torch.float64)[:, None, None].expand(-1, 1, 1)
        cfg = SimConfig(bandwidth_model=False, threshold_on=0.2, threshold_off=0.2)
        coarse = simulate(fr, [0.0, 0.01], cfg)
        u = np.linspace(np.log(0.1 + 1e-3), np.log(1.0 + 1e-3), 101)
        fine = simulate(torch.tensor(np.exp(u) - 1e-3)[:, None, None], np.linspace(0, 0.01, 101), cfg)
        assert len(coarse) == len(fine) == math.floor((u[-1] - u[0]) / 0.2)
        np.testing.assert_allclose(coarse.t, fine.t, atol=1)

    def test_refractory_delays_reference(self):
        # events would come every 25 ms; refractory 10 ms then a fresh reference: period 35 ms
        k, C, ref = 10.0, 0.25, 0.010
        fr, t = _ramp(k, 0.5, 200, hw=(1, 1))
        sim = Simulator(SimConfig(bandwidth_model=False, threshold_on=C, threshold_off=C, refractory=ref), 1, 1)
        sim._phase.zero_()                 # no random initial refractory phase: start reference at t = 0
        ev = sim.run(fr, t)
        np.testing.assert_allclose(np.diff(ev.t), (C / k + ref) * 1e6, atol=2)
        assert ev.t[0] == pytest.approx(C / k * 1e6, abs=1)

    def test_leak_events_closed_form(self):
        # static scene, leak at 4 Hz: ON events every 1 / 4 s exactly
        fr = torch.full((11, 2, 2), 0.5, dtype=torch.float64)
        ev = simulate(fr, np.linspace(0, 1.0, 11), SimConfig(bandwidth_model=False, leak_rate=4.0))
        assert len(ev) == 4 * 4 and set(ev.p.tolist()) == {1}
        np.testing.assert_allclose(np.unique(ev.t), [250000, 500000, 750000, 1000000], atol=1)


@pytest.mark.usefixtures("backend")
class TestBandwidthModel:
    def test_ramp_interval_includes_reset_transient(self):
        """In a steady log ramp (slope m) with an LTI pixel, the differencing amplifier's reset makes
        every interval T solve m T - (m / w_d)(1 - exp(-w_d T)) = C (improved-ESIM reset model)."""
        k, C, fd = 10.0, 0.25, 200.0
        cfg = SimConfig(threshold_on=C, threshold_off=C, ip_to_it_fa=math.inf, sf_cutoff_hz=math.inf,
                        output_time_const_us=0.0, diff_cutoff_hz=fd, dark_current_fa=0.0)
        fr, t = _ramp(k, 1.0, 1000, hw=(1, 1))
        ev = simulate(fr, t, cfg)
        wd = 2 * math.pi * fd
        T = brentq(lambda T: k * T - k / wd * (1 - math.exp(-wd * T)) - C, 1e-6, 1.0)
        steady = np.diff(ev.t)[3:]
        np.testing.assert_allclose(steady, T * 1e6, atol=2)
        assert T > C / k + 0.9 / wd          # about one diff-amp time constant longer than the ideal pixel

    def test_ramp_lag_equals_sum_of_stage_lags(self):
        """Without reset modelling, the LTI cascade follows a ramp late by 1/w_pr + 1/w_sf + 1/w_diff."""
        k, C = 5.0, 0.25
        cfg = SimConfig(threshold_on=C, threshold_off=C, ip_to_it_fa=math.inf, output_time_const_us=2000.0,
                        sf_cutoff_hz=400.0, diff_cutoff_hz=800.0, diff_reset=False, dark_current_fa=0.0)
        fr, t = _ramp(k, 1.0, 1000, hw=(1, 1))
        ev = simulate(fr, t, cfg)
        lag = 2000e-6 / 99 + 1 / (2 * math.pi * 400) + 1 / (2 * math.pi * 800)
        n = np.arange(1, len(ev) + 1)
        np.testing.assert_allclose(ev.t[2:], (n[2:] * C / k + lag) * 1e6, atol=3)

    def test_dim_pixel_misses_fast_flicker(self):
        """Intensity-dependent bandwidth: a 300 Hz flicker is seen at full light, blurred away in the dark."""
        t = np.arange(0, 0.1, 1 / 6000)
        mod = 1 + 0.6 * np.sin(2 * np.pi * 300 * t)
        counts = []
        for level in (1.0, 0.002):
            fr = torch.tensor(level * mod)[:, None, None].expand(-1, 1, 2)
            counts.append(len(simulate(fr, t, SimConfig(threshold_on=0.15, threshold_off=0.15))))
        assert counts[0] >= 2 * 2 * 30 * 2 and counts[1] == 0


@pytest.mark.usefixtures("backend")
class TestNoise:
    def test_shot_noise_rate_within_poisson_bounds(self):
        H, W, dur, rate = 8, 8, 2.0, 20.0
        fr = torch.zeros(3, H, W, dtype=torch.float64)
        ev = simulate(fr, [0.0, 1.0, dur], SimConfig(bandwidth_model=False, shot_rate=rate))
        # v2e: the full rate in the dark (inten01 = 20/275 at it = 0 -> factor 1 - 0.75 * 20/275)
        mean = rate * (1 - 0.75 * 20 / 275) * H * W * dur
        assert abs(len(ev) - mean) < 4 * math.sqrt(mean)
        n_on = int((ev.p > 0).sum())
        assert abs(n_on - mean / 2) < 4 * math.sqrt(mean / 2)
        bright = simulate(fr + 1.0, [0.0, 1.0, dur], SimConfig(bandwidth_model=False, shot_rate=rate))
        mean_b = rate * 0.25 * H * W * dur
        assert abs(len(bright) - mean_b) < 4 * math.sqrt(mean_b)

    def test_shot_noise_rate_follows_each_interval(self):
        # dark in the first second, full white in the second: the thinned arrivals follow the interval's rate
        H, W, rate = 16, 16, 40.0
        fr = torch.zeros(3, H, W, dtype=torch.float64)
        fr[2] = 1.0
        cfg = SimConfig(bandwidth_model=False, shot_rate=rate, threshold_on=50.0, threshold_off=50.0)  # noise only
        ev = simulate(fr, [0.0, 1.0, 2.0], cfg)
        dark, bright = rate * (1 - 0.75 * 20 / 275) * H * W, rate * 0.25 * H * W
        n_dark, n_bright = int((ev.t < 1_000_000).sum()), int((ev.t >= 1_000_000).sum())
        assert abs(n_dark - dark) < 4 * math.sqrt(dark) and abs(n_bright - bright) < 4 * math.sqrt(bright)

    def test_threshold_mismatch_statistics(self):
        sim = Simulator(SimConfig(threshold_on=0.3, threshold_sigma=0.05), 64, 64)
        c = sim.c_on.double()
        assert float(c.mean()) == pytest.approx(0.3, abs=4 * 0.05 / 64)
        assert float(c.std()) == pytest.approx(0.05, rel=0.05)

    def test_deterministic_by_seed(self):
        fr = torch.rand(5, 6, 6, generator=torch.Generator().manual_seed(1)) + 0.1
        ts = np.linspace(0, 0.04, 5)
        cfg = make_config("dvs128", "noisy", shot_rate=50.0)[0]
        a, b = simulate(fr, ts, cfg), simulate(fr, ts, cfg)
        c = simulate(fr, ts, SimConfig(**{**cfg.__dict__, "seed": 1}))
        assert a.equals(b) and not a.equals(c)


class TestBadInput:
    def test_errors(self):
        ok = torch.ones(2, 2, 2)
        with pytest.raises(InputError, match="mixed sizes"):
            simulate([np.ones((2, 2)), np.ones((3, 2))], [0, 1])
        with pytest.raises(InputError, match="strictly increasing"):
            simulate(ok, [0.0, 0.0])
        with pytest.raises(InputError, match="negative"):
            simulate(-ok, [0.0, 1.0])
        with pytest.raises(InputError, match=r"\(T, H, W\)"):
            simulate(torch.ones(2, 2), [0.0, 1.0])
        with pytest.raises(InputError, match="NaN"):
            simulate(ok * float("nan"), [0.0, 1.0])
        with pytest.raises(InputError, match="one entry per frame"):
            simulate(ok, [0.0, 1.0, 2.0])
        with pytest.raises(InputError, match="threshold_on"):
            simulate(ok, [0.0, 1.0], SimConfig(threshold_on=0.0))
        with pytest.raises(ConfigError, match="unknown preset"):
            make_config("davis346", "loud")
        with pytest.raises(ConfigError, match="unknown camera"):
            make_config("davis999")
