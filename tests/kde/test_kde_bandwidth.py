"""Bandwidth selectors on densities whose optimum is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar
from scipy.stats import gaussian_kde

from sigkit.errors import ConfigError
from sigkit.kde import KDE
from sigkit.kde.bandwidth import (
    isj_bandwidth,
    kl_optimal_bandwidth,
    lcv_factor,
    loo_log_likelihood,
    lscv_factor,
    lscv_score,
    scott_factor,
    silverman_factor,
)


def exact_mise_normal(h: float, n: int) -> float:
    """Exact MISE of the Gaussian KDE of N(0, 1) data (Marron & Wand 1992): variance + squared bias."""
    phi0 = lambda v: 1.0 / math.sqrt(2 * math.pi * v)  # N(0; 0, v)
    return (
        1 / (2 * math.sqrt(math.pi) * n * h)
        + (1 - 1 / n) * phi0(2 + 2 * h * h)
        - 2 * phi0(2 + h * h)
        + phi0(2)
    )


def mise_optimum(n: int) -> float:
    return minimize_scalar(
        lambda h: exact_mise_normal(h, n), bounds=(1e-3, 3), method="bounded", options={"xatol": 1e-9}
    ).x


def test_rules_of_thumb_match_scipy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 250))
    w = rng.uniform(0.2, 1.0, size=250)
    for rule, fn in (("scott", scott_factor), ("silverman", silverman_factor)):
        ref = gaussian_kde(y, bw_method=rule, weights=w)
        assert fn(ref.neff, 3) == pytest.approx(ref.factor, rel=1e-12)


def test_isj_finds_the_exact_mise_optimum():
    n = 4000
    h_star = mise_optimum(n)
    assert h_star == pytest.approx((4 / (3 * n)) ** 0.2, rel=0.05)  # sanity: near the AMISE value
    picks = [isj_bandwidth(np.random.default_rng(s).normal(size=n)) for s in range(3)]
    assert np.median(picks) == pytest.approx(h_star, rel=0.10)
    # scale equivariance: ISJ of 3x the data is 3x the bandwidth
    x = np.random.default_rng(9).normal(size=n)
    assert isj_bandwidth(3 * x + 1) == pytest.approx(3 * isj_bandwidth(x), rel=1e-6)


def test_isj_on_bimodal_is_smaller_than_normal_reference():
    # for a well-separated mixture the normal-reference rule oversmooths; ISJ adapts to the modes
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-3, 0.5, 2000), rng.normal(3, 0.5, 2000)])
    h_isj = isj_bandwidth(x)
    assert h_isj < 0.5 * 1.06 * x.std() * len(x) ** -0.2
    assert 0.05 < h_isj < 0.3


def test_lscv_targets_the_mise_optimum():
    n = 400
    h_star = mise_optimum(n)
    grid = np.geomspace(0.1, 0.8, 10)
    picks = [
        lscv_factor(torch.tensor(np.random.default_rng(s).normal(size=(n, 1))), grid=grid) for s in range(3)
    ]
    assert np.median(picks) == pytest.approx(h_star, rel=0.35)


def test_lscv_score_matches_numeric_integral():
    x = np.random.default_rng(2).normal(size=60)
    h = 0.4
    grid = np.linspace(-8, 8, 20001)
    p = gaussian_kde(x, bw_method=h / x.std(ddof=1)).pdf(grid)
    int_p2 = np.trapezoid(p * p, grid)
    loo = [
        gaussian_kde(np.delete(x, i), bw_method=h / np.delete(x, i).std(ddof=1)).pdf([x[i]])[0]
        for i in range(60)
    ]
    expected = int_p2 - 2 * np.mean(loo)
    z = torch.tensor(x)[:, None]
    w = torch.full((60,), 1 / 60, dtype=torch.float64)
    assert lscv_score(z, w, h) == pytest.approx(expected, rel=1e-6)


def test_loo_likelihood_matches_brute_force():
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(size=(50, 2)))
    w = torch.full((50,), 1 / 50, dtype=torch.float64)
    f = 0.5
    brute = np.mean(
        [KDE(np.delete(z.numpy(), i, 0), bandwidth=f).log_density(z[i : i + 1]).item() for i in range(50)]
    )
    assert loo_log_likelihood(z, w, f) == pytest.approx(brute, abs=1e-10)


def test_lcv_agrees_with_kl_optimum_of_known_density():
    # the KL-optimal bandwidth, measured on many draws of the known N(0, I_2), is what LOO-CV estimates
    rng = np.random.default_rng(4)
    y = rng.normal(size=(300, 2))
    test = rng.normal(size=(2000, 2))
    true_logpdf = lambda a: -0.5 * (a**2).sum(1) - math.log(2 * math.pi)
    kl = kl_optimal_bandwidth(y, test, true_logpdf, grid=np.geomspace(0.1, 1.5, 12))
    assert kl["kl"] > 0 and kl["kl"] <= kl["curve"].min() + 1e-9
    h_lcv = lcv_factor(torch.tensor(y / y.std(0, ddof=1).mean()), max_eval=None) * y.std(0, ddof=1).mean()
    assert h_lcv == pytest.approx(kl["h"], rel=0.25)
    assert KDE(y, bandwidth="lcv").bandwidth == pytest.approx(h_lcv, rel=0.05)


def test_selector_errors():
    y2 = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ConfigError, match="1-D"):
        KDE(y2, bandwidth="isj")
    with pytest.raises(ConfigError, match="Gaussian kernel only"):
        KDE(y2, bandwidth="lscv", kernel="epanechnikov")
    assert KDE(y2[:, 0], bandwidth="isj").bandwidth > 0
