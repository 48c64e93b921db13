"""The pixel bandwidth model against closed forms and an independent LTI solver (scipy.signal.lsim)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import signal
from sigkit.events.pixel import (
    BandwidthFilter,
    PixelParams,
    dominant_cutoff_hz,
    foh_first_order,
    foh_second_order,
    photoreceptor_coeffs,
)


class TestPhotoreceptorCoefficients:
    def test_dvs128_nominal_numbers(self):
        # hand computation: I = 2004 fA, tau_in = 0.4366 ms, tau_mil = 7.485 us, A_loop = 98
        wn, z = photoreceptor_coeffs(torch.tensor([1.0], dtype=torch.float64), PixelParams())
        tau_in, tau_mil, tau_out = 35 * 25e-3 / 2004, 0.6 * 25e-3 / 2004, 1815e-6
        wn_ref = math.sqrt(99 / ((tau_in + tau_mil) * tau_out))
        z_ref = (tau_in + tau_out + 141 * tau_mil) / (2 * math.sqrt((tau_in + tau_mil) * tau_out * 99))
        assert float(wn) == pytest.approx(wn_ref, rel=1e-12)
        assert float(z) == pytest.approx(z_ref, rel=1e-12)
        assert float(wn) / (2 * math.pi) == pytest.approx(1762, abs=2)        # research notes: ~1.76 kHz

    def test_cutoff_grows_with_light(self):
        it = torch.logspace(-3, 0, 7, dtype=torch.float64)
        f = dominant_cutoff_hz(it, PixelParams(dark_current_fa=0.0, sf_cutoff_hz=math.inf, diff_cutoff_hz=math.inf))
        assert torch.all(f[1:] > f[:-1])
        # research notes, nominal biases at 20 fA / 2e5 fA per unit intensity
        assert float(dominant_cutoff_hz(torch.tensor([1.0]), PixelParams(ip_to_it_fa=20.0, dark_current_fa=0.0))) \
            == pytest.approx(176, abs=1)

    def test_first_order_limit_cutoff_proportional_to_intensity(self):
        # tau_out = 0: 1st-order NLTI stage, w_c = (A_loop + 1) / (tau_in + (A_amp + 1) tau_mil) ~ I
        p = PixelParams(output_time_const_us=0.0, dark_current_fa=0.0)
        wn, z = photoreceptor_coeffs(torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64), p)
        assert torch.isinf(z).all()
        assert float(wn[1] / wn[0]) == pytest.approx(10, rel=1e-12)
        assert float(wn[2] / wn[1]) == pytest.approx(10, rel=1e-12)
        tau_in, tau_mil = 35 * 25e-3 / 2000, 0.6 * 25e-3 / 2000
        assert float(wn[2]) == pytest.approx(99 / (tau_in + 141 * tau_mil), rel=1e-12)

    def test_lti_limit(self):
        wn, z = photoreceptor_coeffs(torch.tensor([0.3]), PixelParams(ip_to_it_fa=math.inf))
        assert float(wn) == pytest.approx(99 / 1815e-6, rel=1e-6) and math.isinf(float(z))


class TestStepResponse:
    @pytest.mark.parametrize("zeta", [0.2, 1.0, 3.0])
    def test_second_order_step_closed_form(self, zeta):
        wn = torch.tensor([2000.0], dtype=torch.float64)
        z = torch.tensor([zeta], dtype=torch.float64)
        y, v = torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
        one = torch.ones(1, dtype=torch.float64)
        h, ts, ys = 5e-5, [], []
        for k in range(1, 61):                        # piecewise steps must compose exactly
            y, v = foh_second_order(y, v, one, one, wn, z, h)
            ts.append(k * h)
            ys.append(float(y))
        t = np.array(ts)
        w = 2000.0
        if zeta < 1:
            wd = w * math.sqrt(1 - zeta**2)
            ref = 1 - np.exp(-zeta * w * t) * (np.cos(wd * t) + zeta / math.sqrt(1 - zeta**2) * np.sin(wd * t))
        elif zeta == 1:
            ref = 1 - np.exp(-w * t) * (1 + w * t)
        else:
            r = w * math.sqrt(zeta**2 - 1)
            s1, s2 = -zeta * w + r, -zeta * w - r
            ref = 1 + (s2 * np.exp(s1 * t) - s1 * np.exp(s2 * t)) / (s1 - s2)
        np.testing.assert_allclose(ys, ref, atol=1e-9)

    def test_first_order_ramp_exact(self):
        # y' = w (u - y), u = m t from y = 0: y = m t - m/w (1 - e^{-w t})
        w, m, h = 500.0, 3.0, 1e-3
        y = torch.zeros(1, dtype=torch.float64)
        for k in range(10):
            y = foh_first_order(y, torch.tensor([m * k * h], dtype=torch.float64),
                                torch.tensor([m * (k + 1) * h], dtype=torch.float64), w, h)
        t = 10 * h
        assert float(y) == pytest.approx(m * t - m / w * (1 - math.exp(-w * t)), abs=1e-12)

    def test_infinite_cutoff_passes_through(self):
        y = foh_first_order(torch.zeros(3), torch.zeros(3), torch.tensor([1.0, 2.0, 3.0]), math.inf, 1e-3)
        assert y.tolist() == [1.0, 2.0, 3.0]


def _lsim_case(p: PixelParams, it: float, h: float, sub: int, dtype) -> float:
    """Max error of the cascade (sf, diff outputs) vs scipy's exact FOH lsim of the 4-state LTI system."""
    wn, z = (float(v) for v in photoreceptor_coeffs(torch.tensor([it], dtype=torch.float64), p))
    wsf, wd = 2 * math.pi * p.sf_cutoff_hz, 2 * math.pi * p.diff_cutoff_hz
    A = np.array([[-2 * z * wn, -wn**2, 0, 0], [1, 0, 0, 0], [0, wsf, -wsf, 0], [0, 0, wd, -wd]])
    B = np.array([[wn**2], [0], [0], [0]])
    C = np.array([[0, 0, 1, 0], [0, 0, 0, 1]])
    rng = np.random.default_rng(0)
    u = np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.05, 40))])
    t = np.arange(len(u)) * h
    _, yref, _ = signal.lsim((A, B, C, np.zeros((2, 1))), u, t, X0=np.zeros(4), interp=True)
    f = BandwidthFilter(torch.zeros(1, dtype=dtype), p)
    itt = torch.tensor([it], dtype=dtype)        # fixed intensity: the system is LTI, as lsim assumes
    out = []
    for k in range(1, len(u)):
        for j in range(sub):
            ua = u[k - 1] + (u[k] - u[k - 1]) * j / sub
            ub = u[k - 1] + (u[k] - u[k - 1]) * (j + 1) / sub
            sf, d = f.step(torch.tensor([ua], dtype=dtype), torch.tensor([ub], dtype=dtype), itt, h / sub)
        out.append((float(sf), float(d)))
    return float(np.abs(np.array(out) - yref[1:]).max())


def test_cascade_matches_lsim_and_converges(dtype):
    """Stages are discretised separately (as ESIM) with cubic-Hermite coupling: close to the exact
    4-state solution and converging at 4th order in the sub-step."""
    p = PixelParams()
    e1 = _lsim_case(p, 0.5, 1e-4, 1, dtype)
    e2 = _lsim_case(p, 0.5, 1e-4, 2, dtype)
    assert e1 < 2e-4                             # signal moves ~0.05 per sample; thresholds are ~0.2
    assert e2 < e1 / 10
    if dtype == torch.float64:
        assert _lsim_case(p, 0.5, 1e-4, 4, dtype) < e2 / 12


def test_photoreceptor_alone_is_exact(dtype):
    p = PixelParams(sf_cutoff_hz=math.inf, diff_cutoff_hz=math.inf)
    wn, z = (float(v) for v in photoreceptor_coeffs(torch.tensor([0.5], dtype=torch.float64), p))
    sys = signal.lti(np.array([[-2 * z * wn, -wn**2], [1, 0]]), np.array([[wn**2], [0]]), np.array([[0, 1]]), 0)
    u = np.array([0.0, 0.3, 0.1, 0.5, 0.5, -0.2])
    t = np.arange(6) * 2e-4
    _, yref, _ = signal.lsim(sys, u, t, interp=True)
    f = BandwidthFilter(torch.zeros(1, dtype=dtype), p)
    ys = [float(f.step(torch.tensor([u[k - 1]], dtype=dtype), torch.tensor([u[k]], dtype=dtype),
                       torch.tensor([0.5], dtype=dtype), 2e-4)[1]) for k in range(1, 6)]
    np.testing.assert_allclose(ys, yref[1:], atol=1e-5 if dtype == torch.float32 else 1e-11)
