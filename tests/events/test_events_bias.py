"""Fast/slow bias control in closed loop with the simulator."""
from __future__ import annotations

import numpy as np
import pytest
from sigkit.events import SimConfig
from sigkit.events.bias import Biases, BiasMap, FastSlowController, FixedBiases, plot_control, run_closed_loop
from sigkit.events.scenes import sliding_texture

from sigkit.errors import InputError

H, W, STEP = 24, 32, 1.2


@pytest.fixture(scope="module")
def runs():
    """A textured wall slides past; at 1.2 s the light drops 100x.  The dimmer pixel is slower (the
    bandwidth model), so the event rate falls below the paper's lower bound (scaled per pixel)."""
    frames, ts = sliding_texture(H, W, 4.2, 100, speed_px_s=30.0, step_time=STEP, step_factor=0.01)
    bmap = BiasMap(base=SimConfig(ip_to_it_fa=800.0, substep_fraction=1.0, ringing_rad_per_substep=0.0, seed=0),
                   refractory_at_57=150e-6)
    out = {}
    for name, ctl in (("fixed", FixedBiases()), ("fast+slow", FastSlowController.for_sensor(H, W))):
        out[name] = run_closed_loop(frames, ts, ctl, bmap)[0]
    return out


class TestController:
    def test_rule_table(self):
        c = FastSlowController(rate_low=100.0, rate_high=200.0)
        assert c.update(50.0).refr == 57 and c.up_count == 1
        b = c.update(50.0)                        # second saturated window: slow step up
        assert (b.pr, b.sf, b.on, b.off) == (124, 37, 58, 173) and c.up_count == 0
        assert c.update(150.0).refr == 30 and c.up_count == 0 and c.down_count == 0
        c.update(500.0)
        c.update(50.0)                            # counters are independent: down stays at 1
        assert c.down_count == 1 and c.up_count == 1
        b = c.update(500.0)
        assert b.refr == 4 and (b.pr, b.on) == (119, 63)   # down fired: back to the start values

    def test_fine_values_stay_in_range(self):
        c = FastSlowController(rate_low=1.0, rate_high=2.0, initial=Biases(pr=253, sf=253, on=3, off=253))
        for _ in range(10):
            b = c.update(0.0)
        assert (b.pr, b.sf, b.on, b.off) == (255, 255, 1, 255)

    def test_bad_bounds(self):
        with pytest.raises(InputError, match="rate bounds"):
            FastSlowController(rate_low=5.0, rate_high=1.0)


class TestClosedLoop:
    def test_controlled_rate_returns_inside_bounds_fixed_does_not(self, runs):
        fixed, ctl = runs["fixed"].as_arrays(), runs["fast+slow"].as_arrays()
        lo, hi = runs["fast+slow"].rate_low, runs["fast+slow"].rate_high
        before = fixed["t"] < STEP
        assert np.all((fixed["rate"][before] > lo) & (fixed["rate"][before] < hi))   # in bounds before
        settled = fixed["t"] >= STEP + 0.6
        assert np.all(fixed["rate"][settled] < lo)                # the fixed biases stay below the bound
        # the controller is back inside within 7 windows (2.1 s: three slow steps of 2 windows each)
        back = ctl["t"] >= STEP + 2.1
        assert np.all((ctl["rate"][back] >= lo) & (ctl["rate"][back] <= hi))
        assert ctl["pr"][-1] > 119 and ctl["on"][-1] < 63         # it did so by more bandwidth, lower ON threshold
        assert ctl["refr"][-1] < 57

    def test_plot(self, runs, tmp_path):
        p = tmp_path / "control.png"
        plot_control(runs, str(p), title="100x darker at 1.2 s")
        assert p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG"
