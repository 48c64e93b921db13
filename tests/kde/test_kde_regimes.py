"""Regime thresholds (Biroli & Mezard) against an independent numerical computation, and diagnostics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from sigkit.kde import (
    KDE,
    classify,
    kl_per_dim,
    levy_index,
    participation_ratio,
    regime_diagnostics,
    regimes,
    tail_index,
)
from sigkit.kde.regimes import solve_s


def _cgf(t: float) -> float:
    """Per-dimension cumulant generating function of r = |x - y|^2 / d, y ~ N(0, I), |x|^2 = d."""
    return -0.5 * math.log(1 - 2 * t) + t / (1 - 2 * t)


def _rate(u: float) -> tuple[float, float]:
    """Large-deviation rate I(u) = sup_t (t u - cgf(t)) and its slope I'(u) = argmax t, numerically."""
    res = minimize_scalar(
        lambda t: -(t * u - _cgf(t)), bounds=(-200.0, 0.4999), method="bounded", options={"xatol": 1e-12}
    )
    return -res.fun, res.x


def _independent(alpha: float) -> dict:
    """Thresholds from the REM mapping, via the numerical rate function (no closed forms used)."""
    r_min = brentq(lambda u: _rate(u)[0] - alpha, 1e-6, 2.0 - 1e-9, xtol=1e-13)  # mean of r is 2
    slope = abs(_rate(r_min)[1])  # tail index of the terms is mu(h) = 2 h^2 |I'(r_min)|
    return {
        "r_min": r_min,
        "h_CLT": math.sqrt(2 / (2 * slope)),
        "h_G": math.sqrt(1 / (2 * slope)),
        "h_KL": math.sqrt(r_min),
    }


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.5, 1.0, 2.0])
def test_thresholds_match_independent_computation(alpha):
    d = 40
    n = math.exp(alpha * d)
    got = regimes(int(round(n)), d)
    ref = _independent(math.log(int(round(n))) / d)
    for key in ("r_min", "h_CLT", "h_G", "h_KL"):
        assert got[key] == pytest.approx(ref[key], rel=2e-5), key
    assert got["h_KL"] < got["h_G"] < got["h_CLT"]  # the KL optimum lies in the extreme-value regime
    assert got["h_G"] == pytest.approx(got["h_CLT"] / math.sqrt(2), rel=1e-12)


def test_table_values_and_scaling():
    # values tabulated in shared/research/dps_kde.md part B.3 (alpha, h_G, h_CLT, h_KL)
    for alpha, h_g, h_clt, h_kl in [
        (0.1, 1.371, 1.939, 1.039),
        (0.5, 0.652, 0.922, 0.622),
        (1.0, 0.372, 0.526, 0.369),
    ]:
        s = solve_s(alpha)
        assert math.sqrt(s / (1 - s)) == pytest.approx(h_g, abs=1e-3)
        assert math.sqrt(2 * s / (1 - s)) == pytest.approx(h_clt, abs=1e-3)
        assert math.sqrt(s * (1 + s)) == pytest.approx(h_kl, abs=1e-3)
    r1, r3 = regimes(10**5, 30), regimes(10**5, 30, sigma=3.0)
    for key in ("h_CLT", "h_G", "h_KL"):
        assert r3[key] == pytest.approx(3 * r1[key], rel=1e-12)
    assert regimes(10**5, 30)["alpha"] == pytest.approx(math.log(1e5) / 30)
    big = regimes(int(math.exp(4 * 20)), 20)  # large alpha: h_KL ~ h_G ~ exp(-alpha), the NN scale
    assert big["h_KL"] == pytest.approx(math.exp(-4), rel=0.01)
    with pytest.raises(ValueError, match="n >= 2"):
        regimes(1, 10)


def test_kl_curve_minimum_and_continuity():
    alpha = 0.5
    r = regimes(int(round(math.exp(alpha * 40))), 40)
    a = r["alpha"]
    best = minimize_scalar(
        lambda h: kl_per_dim(h, a), bounds=(0.05, 3), method="bounded", options={"xatol": 1e-10}
    ).x
    assert best == pytest.approx(r["h_KL"], rel=1e-5)
    assert kl_per_dim(r["h_G"] * (1 - 1e-9), a) == pytest.approx(
        kl_per_dim(r["h_G"] * (1 + 1e-9), a), abs=1e-7
    )
    assert kl_per_dim(r["h_KL"], a) == pytest.approx(r["kl_per_dim"])
    hs = np.linspace(
        r["h_G"], 3, 50
    )  # annealed branch increases with h: the optimum is not in the CLT regime
    assert np.all(np.diff([kl_per_dim(h, a) for h in hs]) > 0)


def test_levy_index_thresholds():
    r = regimes(20000, 25)
    assert levy_index(r["h_CLT"], r["alpha"]) == pytest.approx(2.0)
    assert levy_index(r["h_G"], r["alpha"]) == pytest.approx(1.0)
    assert [
        classify(levy_index(h, r["alpha"])) for h in (0.9 * r["h_G"], 1.1 * r["h_G"], 1.1 * r["h_CLT"])
    ] == ["extreme", "stable", "CLT"]


def test_nearest_neighbour_scale_by_simulation():
    # r_min is the typical min_i |x - y_i|^2 / d; finite d sits slightly above (O(log d / d) corrections)
    d, alpha = 50, 0.2
    n = int(round(math.exp(alpha * d)))
    rng = np.random.default_rng(0)
    y = rng.normal(size=(n, d))
    x = rng.normal(size=(20, d))
    sq = (x**2).sum(1)[:, None] + (y**2).sum(1)[None] - 2 * x @ y.T
    emp = float(np.mean(sq.min(1) / d))
    assert 0.0 < emp - regimes(n, d)["r_min"] < 0.15


@pytest.fixture(scope="module")
def gaussian_setup():
    d, alpha = 16, 0.5
    n = int(round(math.exp(alpha * d)))  # 2981 points
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), rng.normal(size=(150, d)), regimes(n, d)


class TestDiagnostics:
    def test_participation_ratio_bounds_and_monotone(self, gaussian_setup):
        y, x, r = gaussian_setup
        prs = [
            float(participation_ratio(KDE(y, bandwidth=h), x).median()) for h in (0.1, 0.5, 1.0, 2.0, 50.0)
        ]
        assert prs[0] == pytest.approx(1.0, abs=1e-3)  # one point makes the estimate
        assert prs[-1] == pytest.approx(len(y), rel=0.01)  # all points count equally
        assert np.all(np.diff(prs) > 0)
        pr = participation_ratio(KDE(y, bandwidth=0.7), x)
        assert bool((pr >= 1 - 1e-9).all()) and bool((pr <= len(y) + 1e-6).all())

    def test_participation_ratio_weighted_brute_force(self):
        rng = np.random.default_rng(1)
        y, w, x = rng.normal(size=(40, 3)), rng.uniform(0.1, 1, 40), rng.normal(size=(5, 3))
        t = w[None] * np.exp(-0.5 * ((x[:, None] - y[None]) ** 2).sum(-1) / 0.8**2)
        ref = t.sum(1) ** 2 / (t**2).sum(1)
        np.testing.assert_allclose(
            participation_ratio(KDE(y, bandwidth=0.8, weights=w), x).numpy(), ref, rtol=1e-10
        )

    def test_tail_index_scales_as_h_squared(self, gaussian_setup):
        y, x, _ = gaussian_setup
        mu1 = tail_index(KDE(y, bandwidth=0.4), x)
        mu2 = tail_index(KDE(y, bandwidth=1.2), x)
        np.testing.assert_allclose((mu2 / mu1).numpy(), 9.0, rtol=1e-9)

    def test_regimes_read_from_data(self, gaussian_setup):
        y, x, r = gaussian_setup
        below = regime_diagnostics(KDE(y, bandwidth=0.6 * r["h_G"]), x)
        middle = regime_diagnostics(KDE(y, bandwidth=math.sqrt(r["h_G"] * r["h_CLT"])), x)
        above = regime_diagnostics(KDE(y, bandwidth=1.6 * r["h_CLT"]), x)
        assert (below["regime"], above["regime"]) == ("extreme", "CLT")
        assert below["pr_median"] < 3 < middle["pr_median"] < above["pr_median"]
        # data-driven thresholds sit at or a little above the asymptotic ones at d = 16 (finite-d shift of
        # the nearest-neighbour distances, the same direction as the empirical KL optimum; see README)
        for key, theory in (("factor_CLT", r["h_CLT"]), ("factor_G", r["h_G"])):
            assert 1.0 <= middle[key] / theory <= 1.35, key
        between = math.sqrt(middle["factor_G"] * middle["factor_CLT"])
        assert regime_diagnostics(KDE(y, bandwidth=between), x)["regime"] == "stable"
