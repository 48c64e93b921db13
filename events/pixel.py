"""The Deblur e-NeRF / improved-ESIM pixel bandwidth model, linearised and FOH-discretised in torch.

Continuous-time cascade (unity DC gain), on the black-level-accounted log intensity
``u(t) = log(it(t) + b)``, ``b = I_dark / (I_p/it) + log_eps``:

1. photoreceptor, 2nd-order non-linear low-pass
   ``H_pr(s) = w_n^2 / (s^2 + 2 zeta w_n s + w_n^2)`` with
   ``w_n^2 = (A_loop + 1) / ((tau_in + tau_mil) tau_out)``,
   ``2 zeta w_n = (tau_in + tau_out + (A_amp + 1) tau_mil) / ((tau_in + tau_mil) tau_out)``,
   ``tau_in = C_p V_T / I``, ``tau_mil = C_mil V_T / I``, ``I = (I_p/it) it + I_dark`` (so the
   bandwidth grows with the light), ``A_loop = kappa A_amp``;
2. source-follower buffer, 1st-order low-pass at ``f_sf``;
3. differencing amplifier, 1st-order low-pass at ``f_diff`` (reset to its input after an event).

Discretisation (as the paper): at each input sample the photoreceptor is linearised at the *next*
sample's intensity, and every stage is discretised exactly for an input that is linear between the
samples (first-order hold).  The closed forms below replace ``expm`` (the analytic 2nd-order
transition is what improved ESIM does); stages are discretised separately and cascaded (as ESIM).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sigkit.errors import InputError


@dataclass(frozen=True)
class PixelParams:
    """Physical pixel constants (defaults: DVS128 nominal biases, ``I_p/it = 2000 fA``).

    Args:
        ip_to_it_fa: photocurrent per unit linear pixel intensity in fA (``inf``: photoreceptor LTI).
        dark_current_fa: dark current ``I_dark`` in fA (sets the black level).
        amplifier_gain: photoreceptor amplifier gain ``A_amp``.
        back_gate_coeff: ``kappa`` (``A_cl = 1 / kappa``).
        thermal_voltage_mv: ``V_T`` in mV.
        photodiode_cap_ff, miller_cap_ff: ``C_p`` and ``C_mil`` in fF.
        output_time_const_us: ``tau_out`` in microseconds (set by the PrBp bias).
        sf_cutoff_hz, diff_cutoff_hz: source-follower and differencing-amplifier cut-offs in Hz
            (``inf`` removes the stage).
    """

    ip_to_it_fa: float = 2000.0
    dark_current_fa: float = 4.0
    amplifier_gain: float = 140.0
    back_gate_coeff: float = 0.7
    thermal_voltage_mv: float = 25.0
    photodiode_cap_ff: float = 35.0
    miller_cap_ff: float = 0.6
    output_time_const_us: float = 1815.0
    sf_cutoff_hz: float = 3122.0
    diff_cutoff_hz: float = 16000.0

    def validate(self) -> None:
        for name, val in self.__dict__.items():
            if not (val >= 0) or (math.isinf(val) and name not in ("ip_to_it_fa", "sf_cutoff_hz", "diff_cutoff_hz")):
                raise InputError(f"PixelParams.{name}={val!r}: must be a finite number >= 0")
        if self.ip_to_it_fa == 0:
            raise InputError("PixelParams.ip_to_it_fa=0: give a positive photocurrent per unit intensity (fA)")

    @property
    def photoreceptor_mode(self) -> int:
        """How the photoreceptor is modelled: 0 removed (``w = inf``), 1 first-order LTI (``I_p/it = inf`` or no
        capacitance), 2 first-order with an intensity-dependent cut-off (``tau_out = 0``), 3 second order.

        >>> PixelParams().photoreceptor_mode, PixelParams(output_time_const_us=0.0).photoreceptor_mode
        (3, 2)
        """
        if math.isinf(self.ip_to_it_fa) or self.photodiode_cap_ff + self.miller_cap_ff == 0:
            return 1 if self.output_time_const_us > 0 else 0
        return 3 if self.output_time_const_us > 0 else 2

    @property
    def black_level(self) -> float:
        """``I_dark / (I_p/it)`` in units of linear intensity (0 when ``I_p/it`` is infinite)."""
        return 0.0 if math.isinf(self.ip_to_it_fa) else self.dark_current_fa / self.ip_to_it_fa


def photoreceptor_coeffs(intensity: torch.Tensor, params: PixelParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Photoreceptor natural frequency and damping at a linear intensity.

    Args:
        intensity: ``(...)`` linear intensity ``it >= 0``.
    Returns:
        ``(omega_n, zeta)``: ``(...)`` rad/s and dimensionless.  Where the model degenerates to a
        1st-order filter (``I_p/it = inf`` or ``C_p = C_mil = 0``, or ``tau_out = 0``) ``zeta`` is
        ``inf`` and ``omega_n`` is that filter's cut-off (see :func:`first_order_photoreceptor`).

    >>> wn, z = photoreceptor_coeffs(torch.tensor([1.0]), PixelParams())
    >>> round(float(wn) / (2 * math.pi)), round(float(z), 3)      # DVS128 nominal: f_n 1.76 kHz
    (1764, 0.185)
    """
    p = params
    intensity = torch.as_tensor(intensity)
    a_loop = p.back_gate_coeff * p.amplifier_gain
    tau_out = p.output_time_const_us * 1e-6
    cap = p.photodiode_cap_ff + p.miller_cap_ff
    if math.isinf(p.ip_to_it_fa) or cap == 0 or tau_out == 0:
        w = first_order_photoreceptor(intensity, params)
        return w, torch.full_like(w, math.inf)
    cur = p.ip_to_it_fa * intensity.clamp_min(0) + p.dark_current_fa            # fA
    tau_in = p.photodiode_cap_ff * p.thermal_voltage_mv * 1e-3 / cur            # s
    tau_mil = p.miller_cap_ff * p.thermal_voltage_mv * 1e-3 / cur
    wn2 = (a_loop + 1) / ((tau_in + tau_mil) * tau_out)
    two_sigma = (tau_in + tau_out + (p.amplifier_gain + 1) * tau_mil) / ((tau_in + tau_mil) * tau_out)
    wn = wn2.sqrt()
    return wn, two_sigma / (2 * wn)


def first_order_photoreceptor(intensity: torch.Tensor, params: PixelParams) -> torch.Tensor:
    """Cut-off (rad/s) of the photoreceptor in its 1st-order limits (``inf`` where the stage vanishes)."""
    p = params
    a_loop = p.back_gate_coeff * p.amplifier_gain
    tau_out = p.output_time_const_us * 1e-6
    cap = p.photodiode_cap_ff + p.miller_cap_ff
    intensity = torch.as_tensor(intensity)
    if math.isinf(p.ip_to_it_fa) or cap == 0:
        w = (a_loop + 1) / tau_out if tau_out > 0 else math.inf
        return torch.full_like(intensity, w, dtype=torch.promote_types(intensity.dtype, torch.float32))
    cur = p.ip_to_it_fa * intensity.clamp_min(0) + p.dark_current_fa
    tau_in = p.photodiode_cap_ff * p.thermal_voltage_mv * 1e-3 / cur
    tau_mil = p.miller_cap_ff * p.thermal_voltage_mv * 1e-3 / cur
    return (a_loop + 1) / (tau_in + (p.amplifier_gain + 1) * tau_mil)


def dominant_cutoff_hz(intensity: torch.Tensor, params: PixelParams) -> torch.Tensor:
    """The slowest pole of the whole cascade in Hz: ``min(w_pr,dom, w_sf, w_diff) / 2 pi``.

    ``w_pr,dom`` is the slower real pole when overdamped, else ``w_n`` (``linearized_sys_omega_c_dominant``).

    >>> f = dominant_cutoff_hz(torch.tensor([1.0, 0.1]), PixelParams(ip_to_it_fa=20.0, dark_current_fa=0.0))
    >>> [round(v) for v in f.tolist()]          # nominal biases at "10 lux": ~176 Hz, ~11 Hz (overdamped)
    [176, 11]
    """
    wn, zeta = photoreceptor_coeffs(intensity, params)
    sigma = zeta * wn
    over = zeta >= 1
    r = (sigma * sigma - wn * wn).clamp_min(0).sqrt()
    slow = torch.where(torch.isinf(zeta), wn, wn * wn / (sigma + r))
    w_pr = torch.where(over, slow, wn)
    w = torch.minimum(w_pr, torch.full_like(w_pr, 2 * math.pi * params.sf_cutoff_hz))
    w = torch.minimum(w, torch.full_like(w_pr, 2 * math.pi * params.diff_cutoff_hz))
    return w / (2 * math.pi)


def _decay(z: torch.Tensor) -> torch.Tensor:
    """``exp(-z)`` for ``z >= 0`` with ``z`` capped at 80: ``e^-80`` is 0 for every purpose here, and the cap
    keeps float32 results out of the denormal range (where CPU math runs ~100x slower)."""
    return torch.exp(-z.clamp(max=80.0))


def foh_first_order(y0: torch.Tensor, u0: torch.Tensor, u1: torch.Tensor, omega, h: float) -> torch.Tensor:
    """Exact step of ``y' = omega (u - y)`` over ``h`` seconds for ``u`` linear from ``u0`` to ``u1``.

    ``y1 = a y0 + (g - a) u0 + (1 - g) u1`` with ``a = exp(-omega h)``, ``g = (1 - a) / (omega h)``.
    ``omega`` (rad/s, scalar or per pixel) may be ``inf`` (stage removed: ``y1 = u1``).

    >>> y = foh_first_order(torch.zeros(1), torch.ones(1), torch.ones(1), 1000.0, 1e-3)   # unit step
    >>> round(float(y), 6) == round(1 - math.exp(-1), 6)
    True
    """
    omega = torch.as_tensor(omega, dtype=y0.dtype, device=y0.device)
    wh = omega * h
    a = _decay(wh)
    g = torch.where(wh > 1e-6, -torch.expm1(-wh.clamp(max=80.0)) / wh.clamp_min(1e-30), 1 - wh / 2)
    g = torch.where(torch.isinf(wh), torch.zeros_like(g), g)
    return a * y0 + (g - a) * u0 + (1 - g) * u1


def hermite_first_order(y0: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, dx0: torch.Tensor,
                        dx1: torch.Tensor, omega, h: float) -> torch.Tensor:
    """Exact step of ``y' = omega (x - y)`` for an input that is the cubic Hermite interpolant of
    ``x0, x1`` with end slopes ``dx0, dx1`` (per second).  Used to cascade stages: a stage's input is
    the previous stage's output, whose slope is known at both ends, so the cascade keeps O(h^4)
    input error instead of the O(h^2) of a linear (FOH) input.  Where ``omega h < 0.1`` the polynomial
    particular solution cancels badly and the linear FOH step (:func:`foh_first_order`) is used.

    >>> t = torch.ones(1)
    >>> y = hermite_first_order(0 * t, 0 * t, t, t, t, 1e4, 1.0)   # x = t (a ramp): y = t - (1 - e^{-wt})/w
    >>> abs(float(y) - (1 - 1e-4)) < 1e-6
    True
    """
    omega = torch.as_tensor(omega, dtype=y0.dtype, device=y0.device)
    if bool(torch.isinf(omega).all()):
        return x1
    a2 = (3 * (x1 - x0) / h - 2 * dx0 - dx1) / h
    a3 = (2 * (x0 - x1) / h + dx0 + dx1) / (h * h)
    w = omega.clamp_min(1e-30)
    yp0 = x0 - dx0 / w + 2 * a2 / (w * w) - 6 * a3 / (w * w * w)
    yp1 = x1 - dx1 / w + (2 * a2 + 6 * a3 * h) / (w * w) - 6 * a3 / (w * w * w)
    y_h = yp1 + (y0 - yp0) * _decay(omega * h)
    y_h = torch.where(torch.isinf(omega), x1, y_h)
    return torch.where(omega * h >= 0.1, y_h, foh_first_order(y0, x0, x1, omega, h))


def _second_order_transition(sigma: torch.Tensor, wn: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(EC, ES)``: ``e^{-sigma h} cos(w_d h)`` and ``e^{-sigma h} sin(w_d h) / w_d`` (cosh/sinh when overdamped)."""
    q = sigma * sigma - wn * wn
    under = q < 0
    wd = (-q).clamp_min(0).sqrt()
    e = _decay(sigma * h)
    ec_u = e * torch.cos(wd * h)
    es_u = e * torch.where(wd * h > 1e-6, torch.sin(wd * h) / wd.clamp_min(1e-30), h * torch.ones_like(wd))
    r = q.clamp_min(0).sqrt()
    slow = wn * wn / (sigma + r)                      # sigma - r without cancellation
    fast = sigma + r
    es_slow, es_fast = _decay(slow * h), _decay(fast * h)
    ec_o = 0.5 * (es_slow + es_fast)
    es_o = torch.where(r * h > 1e-6, (es_slow - es_fast) / (2 * r).clamp_min(1e-30), h * e)
    return torch.where(under, ec_u, ec_o), torch.where(under, es_u, es_o)


def foh_second_order(y0: torch.Tensor, v0: torch.Tensor, u0: torch.Tensor, u1: torch.Tensor,
                     wn: torch.Tensor, zeta: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact step of ``y'' + 2 zeta wn y' + wn^2 y = wn^2 u`` over ``h`` s for ``u`` linear ``u0 -> u1``.

    The ramp's particular solution ``y_p = u - 2 sigma m / wn^2`` (``sigma = zeta wn``, ``m`` the
    slope) is added to the free response of the deviation, whose transition is analytic.

    Returns:
        ``(y1, v1)``: output and its time derivative (per second) after ``h``.

    >>> wn, z = torch.tensor([1000.0]), torch.tensor([0.5])
    >>> y, v = foh_second_order(torch.zeros(1), torch.zeros(1), torch.ones(1), torch.ones(1), wn, z, 1e-3)
    >>> wd = 1000 * math.sqrt(0.75); ref = 1 - math.exp(-0.5) * (math.cos(wd * 1e-3) + 0.5 / math.sqrt(0.75) * math.sin(wd * 1e-3))
    >>> abs(float(y) - ref) < 1e-6
    True
    """
    sigma = zeta * wn
    m = (u1 - u0) / h
    lag = 2 * sigma * m / (wn * wn)
    d0 = y0 - u0 + lag
    dv0 = v0 - m
    ec, es = _second_order_transition(sigma, wn, h)
    d1 = ec * d0 + es * (dv0 + sigma * d0)
    dv1 = ec * dv0 - es * (sigma * dv0 + wn * wn * d0)
    return u1 - lag + d1, m + dv1


class BandwidthFilter:
    """Per-pixel state of the cascade; :meth:`step` advances it by one FOH interval.

    Args:
        u0: ``(H, W)`` initial log intensity; the filter starts in steady state there.
        params: the physical constants (may be swapped between steps, as a bias controller does).

    >>> f = BandwidthFilter(torch.zeros(1, 1), PixelParams())
    >>> sf, diff = f.step(torch.zeros(1, 1), torch.full((1, 1), math.log(2.0)), torch.ones(1, 1), 1e-3)
    >>> 0 < float(diff) < float(sf) < math.log(2.0)        # each stage lags the one before
    True
    """

    def __init__(self, u0: torch.Tensor, params: PixelParams) -> None:
        self.params = params
        self.y_pr = u0.clone()
        self.v_pr = torch.zeros_like(u0)
        self.y_sf = u0.clone()
        self.y_diff = u0.clone()

    def step(self, u0: torch.Tensor, u1: torch.Tensor, it1: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance by ``h`` seconds with log input linear ``u0 -> u1``; ``it1`` is the linear intensity at
        the end (the photoreceptor is linearised there).  Returns ``(L_sf, L_diff)`` at the end."""
        p = self.params
        wn, zeta = photoreceptor_coeffs(it1, p)
        wn, zeta = wn.to(u1.dtype), zeta.to(u1.dtype)
        pr0, dpr0 = self.y_pr, self.v_pr
        if bool(torch.isinf(zeta).any()):
            self.y_pr = foh_first_order(self.y_pr, u0, u1, wn, h)
            self.v_pr = torch.where(torch.isinf(wn), (u1 - u0) / h, wn * (u1 - self.y_pr))
        else:
            self.y_pr, self.v_pr = foh_second_order(self.y_pr, self.v_pr, u0, u1, wn, zeta, h)
        sf0 = self.y_sf
        w_sf, w_diff = 2 * math.pi * p.sf_cutoff_hz, 2 * math.pi * p.diff_cutoff_hz
        dsf0 = w_sf * (pr0 - sf0) if math.isfinite(w_sf) else dpr0
        self.y_sf = hermite_first_order(self.y_sf, pr0, self.y_pr, dpr0, self.v_pr, w_sf, h)
        dsf1 = w_sf * (self.y_pr - self.y_sf) if math.isfinite(w_sf) else self.v_pr
        self.y_diff = hermite_first_order(self.y_diff, sf0, self.y_sf, dsf0, dsf1, w_diff, h)
        return self.y_sf, self.y_diff
