"""Frames -> events: the pixel bandwidth model, exact crossing times, refractory, leak and shot noise.

:class:`Simulator` is the reference, vectorised over pixels in torch (CPU or GPU); two back ends compute
the same events faster: compiled per-pixel loops with numba on the CPU (:mod:`sigkit.events.sim_numba`,
bit-identical to the reference in float64) and a fused Triton kernel on CUDA
(:mod:`sigkit.kernels.events_sim`, float32).  The model, stepping through time:

* the input is linear intensity ``it >= 0`` per frame; between frames the log intensity
  ``u = log(it + b)`` is taken as linear (this is the frame interpolation for slow input), and each
  pixel cuts each frame interval into its own adaptive sub-steps, so that its input or filter lag moves
  by at most ``substep_fraction`` of a threshold per sub-step (fast changes are not aliased; a pixel's
  events never depend on the rest of the frame);
* per sub-step the bandwidth cascade of :mod:`sigkit.events.pixel` gives the source-follower output
  ``L_sf`` and the differencing-amplifier output ``L_diff`` at its end; both are linear inside it;
* a pixel's change signal since its last reset at ``t_r`` is (improved ESIM)
  ``D(t) = L_diff(t) - L_diff(t_r) + c (1 - exp(-w_diff (t - t_r))) + g_leak (t - t_r)``,
  ``c = L_diff(t_r) - L_sf(t_r)`` (the amplifier is reset to its input), ``g_leak = leak_rate C_on``;
  the first time ``D`` reaches ``+C_on`` or ``-C_off`` is found exactly (closed form when ``c = 0``,
  else bisection on the monotone pieces either side of ``D``'s one critical point);
* after an event the pixel is blind for ``refractory`` seconds and its reference is taken at the end
  of the refractory period; without one it resets at the event;
* thresholds have per-pixel mismatch ``N(C, threshold_sigma)`` clamped at 0.01 (frozen, by seed);
  leak rates a per-pixel log-normal spread (v2e's ``noise_rate_cov_decades``); shot noise is v2e's
  (rate ``shot_rate`` in the dark falling to a quarter at full white, split ON/OFF, scaled by
  ``C_nominal / C_pixel``), piecewise constant at each frame interval's end intensity, drawn by
  thinning Poisson arrivals (in torch after the pixel simulation, alike for every back end: the same
  noise events for a seed and the same grouping of frames into ``run`` calls);
* the per-pixel random draws (mismatch, leak spread, initial refractory phases) are made on the CPU in
  float64 whatever the device and dtype, so a seed gives the same sensor everywhere.
"""
from __future__ import annotations

import importlib.util
import math
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from sigkit.errors import InputError

from .hostcopy import EventSink, fix_seams
from .pixel import BandwidthFilter, PixelParams, photoreceptor_coeffs
from .stream import Events, EventTensors


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator needs (units in the names' docs; defaults: DVS128 nominal pixel).

    Args:
        threshold_on, threshold_off: contrast thresholds ``C_on``, ``C_off`` in natural-log units.
        threshold_sigma: per-pixel threshold mismatch (std, log units).
        refractory: refractory period in seconds.
        leak_rate: leak (ON) event rate per pixel in Hz; ``leak_rate_cov_decades`` its log10 spread.
        shot_rate: shot-noise event rate per pixel in Hz (ON + OFF, in the dark).
        bandwidth_model: apply the pixel bandwidth cascade (False: ideal, infinitely fast pixel).
        ip_to_it_fa ... diff_cutoff_hz: the pixel constants of :class:`~sigkit.events.pixel.PixelParams`.
        log_eps: added to the intensity before the log (on top of the dark-current black level).
        substep_fraction: largest change of input or filter lag per sub-step, in thresholds.
        max_substeps: cap on sub-steps per input interval; min_rate_hz: lowest internal step rate.
        ringing_rad_per_substep: where a pixel's input moves (> 5% of the sub-step change), sub-steps
            are at most this many radians of its 2nd-order photoreceptor's natural frequency long, so
            its ringing is resolved (2: event times within ~50 us of the converged ones at 1 kHz input;
            0 turns the rule off: faster, ~2% of events missed in fast ringing scenes).
        diff_reset: model the differencing amplifier's reset transient (only with the bandwidth model).
        seed: seeds mismatch, noise and the initial refractory phases.
    """

    threshold_on: float = 0.25
    threshold_off: float = 0.25
    threshold_sigma: float = 0.0
    refractory: float = 0.0
    leak_rate: float = 0.0
    leak_rate_cov_decades: float = 0.0
    shot_rate: float = 0.0
    bandwidth_model: bool = True
    # the pixel model's parameters, with PixelParams' defaults (DVS128 nominal)
    ip_to_it_fa: float = PixelParams.ip_to_it_fa
    dark_current_fa: float = PixelParams.dark_current_fa
    amplifier_gain: float = PixelParams.amplifier_gain
    back_gate_coeff: float = PixelParams.back_gate_coeff
    thermal_voltage_mv: float = PixelParams.thermal_voltage_mv
    photodiode_cap_ff: float = PixelParams.photodiode_cap_ff
    miller_cap_ff: float = PixelParams.miller_cap_ff
    output_time_const_us: float = PixelParams.output_time_const_us
    sf_cutoff_hz: float = PixelParams.sf_cutoff_hz
    diff_cutoff_hz: float = PixelParams.diff_cutoff_hz
    log_eps: float = 1e-3
    substep_fraction: float = 0.5
    max_substeps: int = 64
    min_rate_hz: float = 0.0
    diff_reset: bool = True
    ringing_rad_per_substep: float = 2.0
    seed: int = 0

    def pixel_params(self) -> PixelParams:
        """The physical constants as :class:`PixelParams`."""
        names = {f.name for f in fields(PixelParams)}
        return PixelParams(**{k: getattr(self, k) for k in names})

    @property
    def black_level(self) -> float:
        """``b`` in ``u = log(it + b)``: dark-current black level (bandwidth model on) plus ``log_eps``."""
        return (self.pixel_params().black_level if self.bandwidth_model else 0.0) + self.log_eps

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first unusable field."""
        for name in ("threshold_on", "threshold_off"):
            if not (getattr(self, name) > 0) or math.isinf(getattr(self, name)):
                raise InputError(f"SimConfig.{name}={getattr(self, name)!r}: a contrast threshold must be > 0 (log units)")
        for name in ("threshold_sigma", "refractory", "leak_rate", "leak_rate_cov_decades", "shot_rate", "min_rate_hz",
                     "ringing_rad_per_substep"):
            v = getattr(self, name)
            if not (v >= 0) or math.isinf(v):
                raise InputError(f"SimConfig.{name}={v!r}: must be a finite number >= 0")
        if not (self.log_eps > 0 or (self.bandwidth_model and self.dark_current_fa > 0)):
            raise InputError("SimConfig.log_eps must be > 0 (else zero intensity has log -inf)")
        if not (0 < self.substep_fraction <= 10) or self.max_substeps < 1:
            raise InputError("SimConfig.substep_fraction must be in (0, 10] and max_substeps >= 1")
        if self.bandwidth_model:
            self.pixel_params().validate()


def _as_frames(frames, timestamps, device, min_frames: int = 2, check: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Frames as a ``(T, H, W)`` float tensor on ``device`` and timestamps as float64 seconds, validated;
    ``check=False`` leaves the intensity check (:func:`_check_values`) to the caller (:func:`simulate`, whose
    :meth:`Simulator.run` makes it: one pass over the frames and one host sync, not two)."""
    if isinstance(frames, (list, tuple)):
        shapes = {tuple(np.shape(f)) for f in frames}
        if len(shapes) > 1:
            raise InputError(f"frames have mixed sizes {sorted(shapes)}; resize every frame to one (H, W) first")
        frames = torch.stack([torch.as_tensor(np.asarray(f) if not torch.is_tensor(f) else f) for f in frames]) \
            if frames else torch.zeros(0)
    fr = torch.as_tensor(frames)
    if fr.ndim != 3:
        raise InputError(f"frames must have shape (T, H, W) (grey, linear intensity); got {tuple(fr.shape)}")
    if fr.shape[0] < min_frames:
        raise InputError(f"need at least {min_frames} frames to simulate events; got {fr.shape[0]}")
    ts = np.asarray(timestamps.cpu() if torch.is_tensor(timestamps) else timestamps, dtype=np.float64)
    if ts.ndim != 1 or len(ts) != fr.shape[0]:
        raise InputError(f"timestamps must be 1-D with one entry per frame ({fr.shape[0]}); got shape {ts.shape}")
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) <= 0):
        bad = int(np.argmax(np.diff(ts) <= 0)) + 1 if np.all(np.isfinite(ts)) else -1
        raise InputError(f"timestamps must be finite and strictly increasing (seconds); frame {bad} is not")
    fr = fr.to(device=device)
    if not fr.is_floating_point():
        fr = fr.float()
    if check:
        _check_values(fr)
    return fr, ts


def _check_values(fr: torch.Tensor) -> None:
    """Raise :class:`InputError` if linear-intensity frames hold NaN, Inf or negative values (one pass, one sync)."""
    lo, hi = torch.stack(torch.aminmax(fr)).tolist() if fr.numel() else (0.0, 0.0)   # NaN propagates
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("frames contain NaN or Inf; clean the input first")
    if lo < 0:
        raise InputError("frames have negative intensities; give linear intensity >= 0 (e.g. pixel/255)")


def _nonzero(mask: torch.Tensor) -> torch.Tensor:
    # .contiguous(): indexing with nonzero()'s raw output is pathologically slow on some CPU builds
    return torch.nonzero(mask).squeeze(1).contiguous()


def _take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return x.index_select(0, idx)


class Simulator:
    """Stateful event simulator: :meth:`reset` with the first frame, then :meth:`step` frame by frame.

    Parameters may change between steps (:meth:`update`), which is how a bias controller runs in
    closed loop with it.

    Args:
        config: :class:`SimConfig`.
        height, width: sensor size in pixels.
        device: torch device; dtype: float dtype of the pixel state.

    >>> sim = Simulator(SimConfig(bandwidth_model=False, threshold_on=0.5, threshold_off=0.5), 1, 1)
    >>> sim.reset(torch.ones(1, 1), 0.0)
    >>> ev = sim.step(torch.full((1, 1), 2.0), 1.0)        # log(2 + eps) - log(1 + eps) ~ 0.69: one ON
    >>> ev.p.tolist(), ev.t.tolist()                         # crossing at 0.5 / 0.69265 of the interval
    ([1], [721868])
    """

    def __init__(self, config: SimConfig, height: int, width: int, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        config.validate()
        self.config, self.height, self.width = config, int(height), int(width)
        self.device, self.dtype = torch.device(device), dtype
        n = self.height * self.width
        # per-pixel draws on the CPU in float64 whatever the device and dtype: the same sensor for a seed
        gen = torch.Generator().manual_seed(int(config.seed))
        z = torch.randn(3, n, generator=gen, dtype=torch.float64)
        self._z_on, self._z_off, self._z_leak = (v.to(self.device, dtype) for v in z)
        self._phase = torch.rand(n, generator=gen, dtype=torch.float64).to(self.device)
        # shot noise draws from here on: the CPU generator continues, other devices seed their own
        self._gen = gen if self.device.type == "cpu" else torch.Generator(device=self.device).manual_seed(int(config.seed))
        self._apply_config()
        self.t_last: float | None = None
        #: a :class:`PhaseTimer` to time the phases of :meth:`run` (``bench/events_sim.py --profile``); None: off
        self.timer: PhaseTimer | None = None
        #: how the last :meth:`run`'s events reached numpy arrays through an :class:`~sigkit.events.hostcopy.EventSink`:
        #: one path per part (``"direct"``, ``"staged"``, ``"pageable"``); None when the run used none
        self.last_host_paths: list[str] | None = None

    # ----------------------------------------------------------------- parameters
    def _apply_config(self) -> None:
        c = self.config
        self.c_on = (c.threshold_on + c.threshold_sigma * self._z_on).clamp_min(0.01)
        self.c_off = (c.threshold_off + c.threshold_sigma * self._z_off).clamp_min(0.01)
        self.g_leak = c.leak_rate * self.c_on * torch.pow(10.0, c.leak_rate_cov_decades * self._z_leak)
        self.params = c.pixel_params()
        self.w_diff = 2 * math.pi * c.diff_cutoff_hz if c.bandwidth_model else math.inf
        self.model_reset = bool(c.bandwidth_model and c.diff_reset and math.isfinite(self.w_diff))
        if getattr(self, "filter", None) is not None:
            self.filter.params = self.params

    def update(self, **changes) -> None:
        """Change config fields mid-stream (e.g. ``refractory``, ``threshold_on``, ``output_time_const_us``)."""
        bad = set(changes) - {f.name for f in fields(SimConfig)}
        if bad:
            raise InputError(f"Simulator.update: unknown SimConfig fields {sorted(bad)}")
        new = replace(self.config, **changes)
        new.validate()
        if new.bandwidth_model != self.config.bandwidth_model or new.seed != self.config.seed:
            raise InputError("Simulator.update: bandwidth_model and seed can't change mid-stream; start a new Simulator")
        self.config = new
        self._apply_config()

    # ----------------------------------------------------------------- state
    def _log(self, it: torch.Tensor) -> torch.Tensor:
        return torch.log(it.to(self.dtype).reshape(-1) + self.config.black_level)

    def reset(self, frame: torch.Tensor, t: float) -> None:
        """Start (steady state) at linear-intensity ``frame`` ``(H, W)`` and time ``t`` seconds."""
        frame = torch.as_tensor(frame, device=self.device)
        if tuple(frame.shape) != (self.height, self.width):
            raise InputError(f"frame shape {tuple(frame.shape)} != sensor size {(self.height, self.width)}")
        u = self._log(frame)
        self.u = u
        self.filter = BandwidthFilter(u, self.params) if self.config.bandwidth_model else None
        self.l_sf, self.l_diff = u.clone(), u.clone()
        self.ref_s, self.ref_d = u.clone(), u.clone()
        # ESIM: references de-synchronised by a random phase of the refractory period
        self.t_ref = t + self._phase * self.config.refractory
        self.pending = torch.full_like(u, self.config.refractory > 0, dtype=torch.bool)
        self.t_last = float(t)
        self.n_substeps = 0

    # ----------------------------------------------------------------- stepping
    def step(self, frame: torch.Tensor, t: float) -> Events:
        """Advance to linear-intensity ``frame`` ``(H, W)`` at ``t`` seconds; returns the new events."""
        t0 = self.t_last
        out = self._step(frame, t)
        if self.config.shot_rate > 0:
            self._shot_noise_frames(torch.as_tensor(frame, device=self.device)[None], np.array([t0, float(t)]), out)
        return self._to_events(out)

    def _substeps(self, u1: torch.Tensor, h_all: float) -> torch.Tensor:
        """Per-pixel number of sub-steps ``(N,)`` int64 for the interval to log input ``u1``.

        Each pixel's own input change, filter lag and photoreceptor ringing decide its count, so a
        pixel's events never depend on what the rest of the frame does (all back ends use this rule)."""
        c = self.config
        cmin = min(c.threshold_on, c.threshold_off)
        step_c = c.substep_fraction * cmin
        change = (u1 - self.u).abs()
        if self.filter is not None:      # filter lag, and how far the photoreceptor moves at its current slope
            change = torch.maximum(change, (self.u - self.l_diff).abs())
            change = torch.maximum(change, self.filter.v_pr.abs() * h_all)
            # a moving pixel also needs sub-steps short against its photoreceptor's ringing / time constant
            wn, zeta = photoreceptor_coeffs(torch.exp(u1) - c.black_level, self.params)
            wn = torch.where(torch.isfinite(zeta), wn, torch.zeros_like(wn))    # 1st-order limits do not ring
            moving = change > 0.05 * cmin
            if c.ringing_rad_per_substep > 0:
                need = wn.to(change.dtype) * h_all / c.ringing_rad_per_substep * step_c
                change = torch.where(moving, torch.maximum(change, need), change)
        n = torch.ceil(change / step_c).clamp(max=float(c.max_substeps))
        n = n.clamp(min=max(1.0, float(math.ceil(h_all * c.min_rate_hz - 1e-9))))
        return n.clamp(max=float(c.max_substeps)).to(torch.int64)

    def _step(self, frame, t: float) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        if self.t_last is None:
            raise InputError("Simulator.step before reset(); call reset(first_frame, t0) first")
        if not t > self.t_last:
            raise InputError(f"timestamps must increase: {t} after {self.t_last}")
        frame = torch.as_tensor(frame, device=self.device)
        u1 = self._log(frame)
        c = self.config
        h_all = t - self.t_last
        n = self._substeps(u1, h_all)
        nmax = int(n.max()) if n.numel() else 1
        nf = n.to(torch.float64)
        out: list = []
        u0, t0 = self.u, self.t_last
        for j in range(1, nmax + 1):
            act, last = n >= j, n == j
            ta = t0 + h_all * ((j - 1) / nf)                               # (N,) float64 seconds
            tb = torch.where(last, t, t0 + h_all * (j / nf))
            h = torch.where(act, (tb - ta).to(self.dtype), torch.ones((), dtype=self.dtype, device=self.device))
            ub = torch.where(last, u1, u0 + (u1 - u0) * (j / nf).to(self.dtype))
            ub = torch.where(act, ub, self.u)
            ua = self.u
            if self.filter is not None:
                flt = self.filter
                old = (flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff)
                flt.step(ua, ub, torch.exp(ub) - c.black_level, h)
                if j > 1:                                     # pixels already done keep their state
                    flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff = (torch.where(act, new, o) for new, o in zip(
                        (flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff), old, strict=True))
                sf_b, d_b = flt.y_sf.clone(), flt.y_diff.clone()
            else:
                sf_b, d_b = ub, ub
            self._events_in(ta, tb, h, act, self.l_sf, sf_b, self.l_diff, d_b, out)
            self.u, self.l_sf, self.l_diff = ub, sf_b, d_b
        self.n_substeps += nmax
        self.u, self.t_last = u1, float(t)
        return out

    def _events_in(self, ta: torch.Tensor, tb: torch.Tensor, h: torch.Tensor, act: torch.Tensor,
                   s_a, s_b, d_a, d_b, out: list) -> None:
        """Find every threshold crossing inside each active pixel's sub-step ``[ta, tb]`` (``h = tb - ta``),
        in rounds of one event per pixel."""
        md_all, ms_all = (d_b - d_a) / h, (s_b - s_a) / h
        sel = _nonzero(act & (self.t_ref < tb))
        w = self.w_diff
        rounds = 0
        while sel.numel():
            rounds += 1
            if rounds > 100000:
                raise RuntimeError("event simulation did not converge (more than 1e5 events in one sub-step)")
            tr, ta_s, hs = _take(self.t_ref, sel), _take(ta, sel), _take(h, sel)
            cur = (tr - ta_s).clamp_min(0).to(self.dtype)
            da, md, sa, ms = _take(d_a, sel), _take(md_all, sel), _take(s_a, sel), _take(ms_all, sel)
            pend = _take(self.pending, sel)
            if bool(pend.any()):                        # end of refractory inside this sub-step: take reference
                self.ref_d.index_copy_(0, sel, torch.where(pend, da + md * cur, _take(self.ref_d, sel)))
                self.ref_s.index_copy_(0, sel, torch.where(pend, sa + ms * cur, _take(self.ref_s, sel)))
                self.pending.index_fill_(0, sel, False)
            ref_d = _take(self.ref_d, sel)
            g = _take(self.g_leak, sel)
            s0 = (ta_s - tr).to(self.dtype)               # time since reference at x = 0 (x >= -s0)
            cc = (ref_d - _take(self.ref_s, sel)) if self.model_reset else None
            B = md + g
            A = da - ref_d + g * s0
            con, coff = _take(self.c_on, sel), _take(self.c_off, sel)

            def f(x, A=A, B=B, cc=cc, s0=s0):
                if cc is None:
                    return A + B * x
                return A + B * x + cc * (-torch.expm1(-(w * (x + s0)).clamp(max=80.0)))

            # one critical point of f where B + cc w exp(-w (x + s0)) = 0
            if cc is not None:
                ratio = -B / (cc * w)
                xs = -s0 - torch.log(ratio.clamp_min(1e-30)) / w
                has = (ratio > 0) & torch.isfinite(xs)
                x1 = torch.where(has, torch.minimum(xs.clamp_min(0.0), hs), hs)
                x1 = torch.maximum(x1, cur)
            else:
                x1 = hs
            f0, f1 = f(cur), f(x1)
            f2 = f(hs) if cc is not None else f1
            at0 = (f0 >= con) | (f0 <= -coff)
            seg1 = ~at0 & ((f1 >= con) | (f1 <= -coff))
            seg2 = ~at0 & ~seg1 & ((f2 >= con) | (f2 <= -coff))
            fired = at0 | seg1 | seg2
            if not bool(fired.any()):
                break
            fhi = torch.where(seg2, f2, f1)
            up = torch.where(at0, f0 >= con, fhi >= con)
            level = torch.where(up, con, -coff)
            if cc is not None:
                lo = torch.where(seg2, x1, cur)
                hi = torch.where(seg2, hs, x1)
                # where the reset transient has died out (w (x + s0) > 14), D is linear: closed form
                Bs = torch.where(B != 0, B, torch.ones_like(B))
                x = (level - A - cc) / Bs
                ok = (B != 0) & (x >= lo) & (x <= hi) & (w * (x + s0) > 14.0)
                need = fired & ~at0 & ~ok
                if bool(need.any()):
                    x = torch.where(need, self._bisect(f, lo, hi, level, up, need), x)
            else:                                           # linear: closed form
                x = torch.where(B != 0, cur + (level - f0) / torch.where(B != 0, B, torch.ones_like(B)), cur)
                x = torch.minimum(torch.maximum(x, cur), hs)
            x = torch.where(at0, cur, x)
            keep = _nonzero(fired)
            idx = _take(sel, keep)
            xf = _take(x, keep)
            te = _take(ta_s, keep) + xf.to(torch.float64)
            out.append((te, idx, torch.where(_take(up, keep), 1, -1).to(torch.int8)))
            if self.config.refractory > 0:
                self.t_ref.index_copy_(0, idx, te + self.config.refractory)
                self.pending.index_fill_(0, idx, True)
            else:
                self.t_ref.index_copy_(0, idx, te)
                self.ref_d.index_copy_(0, idx, _take(da, keep) + _take(md, keep) * xf)
                self.ref_s.index_copy_(0, idx, _take(sa, keep) + _take(ms, keep) * xf)
            sel = _take(idx, _nonzero(_take(self.t_ref, idx) < _take(tb, idx)))

    @staticmethod
    def _bisect(f, lo, hi, level, up, mask, iters: int = 12):
        """Crossing of the monotone ``f`` with ``level`` inside ``[lo, hi]`` (``f(hi)`` beyond the level).

        Illinois false position (superlinear on these smooth, single-curvature pieces), then the
        bracket's far end, so the returned time never precedes the crossing by more than the bracket."""
        a, b = lo.clone(), hi.clone()
        fa, fb = f(a) - level, f(b) - level
        side = torch.zeros_like(a)
        for _ in range(iters):
            den = fb - fa
            x = torch.where(den != 0, (a * fb - b * fa) / torch.where(den != 0, den, torch.ones_like(den)), b)
            x = torch.minimum(torch.maximum(x, a), b)
            fx = f(x) - level
            beyond = torch.where(up, fx >= 0, fx <= 0) & mask
            inside = ~beyond & mask
            b = torch.where(beyond, x, b)
            fb = torch.where(beyond, fx, fb)
            fa = torch.where(beyond & (side > 0), fa * 0.5, fa)
            a = torch.where(inside, x, a)
            fa = torch.where(inside, fx, fa)
            fb = torch.where(inside & (side < 0), fb * 0.5, fb)
            side = torch.where(beyond, torch.ones_like(side), torch.where(inside, -torch.ones_like(side), side))
        return b

    def _insert_sorted(self, ev: Events, extra: list) -> Events:
        """``ev`` (sorted) with the events of ``extra`` (``(t_s, pixel, p)`` tensors) inserted in the order
        :meth:`_to_events` gives ``[ev's events] + extra``: by microsecond, then pixel, ``ev`` first on ties."""
        if not extra:
            return ev
        n = self.height * self.width
        t = torch.cat([o[0] for o in extra]).cpu()
        tus = torch.round(t * 1e6).to(torch.int64).numpy()
        idx = torch.cat([o[1] for o in extra]).cpu().numpy().astype(np.int64)
        p = torch.cat([o[2] for o in extra]).cpu().numpy()
        key = tus * n + idx
        o = np.argsort(key, kind="stable")
        at = np.searchsorted(ev.t * n + (ev.y.astype(np.int64) * self.width + ev.x), key[o], side="right")
        return Events(np.insert(ev.t, at, tus[o]), np.insert(ev.x, at, (idx[o] % self.width).astype(np.int16)),
                      np.insert(ev.y, at, (idx[o] // self.width).astype(np.int16)), np.insert(ev.p, at, p[o]),
                      self.height, self.width)

    def _to_events(self, out: list, output: str = "numpy") -> Events | EventTensors:
        """Raw ``(t_s, pixel, p)`` tensors -> events sorted by (microsecond, pixel), emission order on ties."""
        if not out:
            return self._emit(None, output)
        part = self._sort_part(torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out]), torch.cat([o[2] for o in out]))
        return self._emit(part, output)

    def _sort_part(self, t: torch.Tensor, idx: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One stable sort on the device by ``t_us * N + pixel``: ``(t_us int64, pixel int64, p int8)``."""
        key = torch.round(t * 1e6).to(torch.int64) * (self.height * self.width) + idx.long()
        return self._sort_keys(key, p, key.numel())

    def _sort_keys(self, key: torch.Tensor, p: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``t_us * N + pixel`` keys (the kernel's: ``n`` events, the other slots ``int64 max``) -> a sorted
        part ``(t_us, pixel, p)``: one stable sort on the device, the empty slots last and dropped."""
        n_pix = self.height * self.width
        key, order = torch.sort(key, stable=True)
        key = key[:n]
        return torch.div(key, n_pix, rounding_mode="floor"), torch.remainder(key, n_pix), p[order[:n]]

    def _merge_parts(self, parts: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Join parts that are each sorted by :meth:`_sort_part` and follow each other in time.

        Gives the order of one stable sort of all parts' raw events: the concatenation is checked on the
        device (one pass) and re-sorted, stably, only where a seam is out of order (events of one
        microsecond on both sides of a chunk boundary, or shot noise appended as the last part)."""
        parts = [q for q in parts if q[0].numel()]
        if len(parts) <= 1:
            return parts[0] if parts else None
        tus, idx, p = (torch.cat(a) for a in zip(*parts, strict=True))
        n = self.height * self.width
        key = tus * n + idx
        if bool((key[1:] < key[:-1]).any()):
            key, order = torch.sort(key, stable=True)
            tus, idx, p = torch.div(key, n, rounding_mode="floor"), torch.remainder(key, n), p[order]
        return tus, idx, p

    def _decode(self, part) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sorted ``(t_us, pixel, p)`` part -> the result's fields ``(t_us int64, x int16, y int16, p int8)``."""
        tus, idx, p = part
        x = torch.remainder(idx, self.width).to(torch.int16)
        y = torch.div(idx, self.width, rounding_mode="floor").to(torch.int16)
        return tus, x, y, p.to(torch.int8)

    def _emit(self, part, output: str) -> Events | EventTensors:
        """Sorted ``(t_us, pixel, p)`` device tensors -> :class:`Events` (numpy) or :class:`EventTensors`."""
        if part is None:
            if output == "torch":
                z = lambda dt: torch.zeros(0, dtype=dt, device=self.device)  # noqa: E731
                return EventTensors(z(torch.int64), z(torch.int16), z(torch.int16), z(torch.int8), self.height, self.width)
            return Events.empty(self.height, self.width)
        fields = self._decode(part)
        if output == "torch":
            return EventTensors(*fields, self.height, self.width)
        if fields[0].device.type == "cpu":
            return Events(*(f.numpy() for f in fields), self.height, self.width)
        sink = EventSink(self.width)               # DMA'd into a pooled pinned slab (or staged into pageable memory)
        sink.submit(*fields)
        return self._collect(sink)

    def _collect(self, sink: EventSink) -> Events:
        """Wait for ``sink``'s copies: the run's :class:`Events`."""
        res = sink.result()
        self.last_host_paths = list(sink.used)
        self._mark("copy")
        return Events(*res, self.height, self.width)

    def _mark(self, phase: str) -> None:
        if self.timer is not None:
            self.timer.mark(phase, self.device)

    def run(self, frames, timestamps, backend: str = "auto", output: str = "numpy") -> Events | EventTensors:
        """Simulate a whole clip (see :func:`simulate`), continuing from the current state if any.

        ``backend``: ``"torch"`` (the reference, frame by frame, any device and dtype), ``"numba"``
        (CPU: compiled per-pixel loops in float64, :mod:`sigkit.events.sim_numba`), ``"triton"`` (the
        fused kernel of :mod:`sigkit.kernels.events_sim`: float32 state, CUDA or ``TRITON_INTERPRET=1``)
        or ``"auto"`` (:func:`auto_backend`).  All give the same events for the same seed (to float rounding).
        ``output``: ``"numpy"`` (:class:`Events` on the host) or ``"torch"`` (:class:`EventTensors` on the
        simulator's device: on CUDA the events never leave the GPU)."""
        if output not in ("numpy", "torch"):
            raise InputError(f"output must be 'numpy' or 'torch'; got {output!r}")
        self.last_host_paths = None
        self._mark("start")
        fr, ts = _as_frames(frames, timestamps, self.device, min_frames=2 if self.t_last is None else 1)
        if tuple(fr.shape[1:]) != (self.height, self.width):
            raise InputError(f"frames are {tuple(fr.shape[1:])} but the simulator is {(self.height, self.width)}")
        if backend not in BACKENDS:
            raise InputError(f"backend must be one of {BACKENDS}; got {backend!r}")
        if backend == "auto":
            backend = auto_backend(self.device, self.dtype)
        if backend == "numba" and self.device.type != "cpu":
            raise InputError(f"backend='numba' runs on the CPU; the simulator is on {self.device}")
        start = 0
        if self.t_last is None:
            self.reset(fr[0], float(ts[0]))
            start = 1
        elif not ts[0] > self.t_last:
            raise InputError(f"timestamps must increase: {ts[0]} after the simulator's last frame at {self.t_last}")
        t_first = self.t_last
        self._mark("input")
        if backend == "triton":
            # numpy output on CUDA without shot noise: each chunk's events go to the host while the next chunk runs
            stream = output == "numpy" and not self.config.shot_rate > 0 and (
                self.device.type == "cuda" if STREAM_TO_HOST is None else STREAM_TO_HOST)
            sink = EventSink(self.width) if stream else None
            parts = self._run_triton(fr, ts, start, sink=sink)
            if sink is not None:
                res = self._collect(sink)
                self._mark("events")
                return res
            if self.config.shot_rate > 0:
                noise: list = []
                self._shot_noise_frames(fr[start:], np.concatenate([[t_first], ts[start:]]), noise)
                if noise:      # appended last: the merge re-sorts stably, pixel events first on ties (as the reference)
                    parts.append(self._sort_part(*(torch.cat(a) for a in zip(*noise, strict=True))))
                self._mark("noise")
            merged = self._merge_parts(parts)
            self._mark("merge")
            res = self._emit(merged, output)
            self._mark("events")
            return res
        if backend == "numba":
            ev = self._run_numba(fr, ts, start)
            if self.config.shot_rate > 0:
                noise = []
                self._shot_noise_frames(fr[start:], np.concatenate([[t_first], ts[start:]]), noise)
                ev = self._insert_sorted(ev, noise)
            return EventTensors.from_events(ev, self.device) if output == "torch" else ev
        else:
            out = []
            for k in range(start, fr.shape[0]):
                out += self._step(fr[k], float(ts[k]))
        self._mark("pixels")
        if self.config.shot_rate > 0:         # shot noise never touches the pixel state: drawn alike for every back end
            self._shot_noise_frames(fr[start:], np.concatenate([[t_first], ts[start:]]), out)
        res = self._to_events(out, output)
        self._mark("events")
        return res

    def _numba_params(self) -> tuple[np.ndarray, int]:
        c, p = self.config, self.params
        a_loop = p.back_gate_coeff * p.amplifier_gain
        tau_out = p.output_time_const_us * 1e-6
        cmin = min(c.threshold_on, c.threshold_off)
        w_lti = (a_loop + 1) / tau_out if tau_out > 0 else math.inf
        mode = p.photoreceptor_mode
        return np.array([c.black_level, p.ip_to_it_fa if math.isfinite(p.ip_to_it_fa) else 0.0, p.dark_current_fa,
                         p.photodiode_cap_ff * p.thermal_voltage_mv * 1e-3, p.miller_cap_ff * p.thermal_voltage_mv * 1e-3,
                         p.amplifier_gain, a_loop, tau_out, 2 * math.pi * p.sf_cutoff_hz, 2 * math.pi * p.diff_cutoff_hz,
                         c.refractory, c.substep_fraction * cmin, c.max_substeps, c.min_rate_hz, w_lti,
                         c.ringing_rad_per_substep, cmin], dtype=np.float64), mode

    def _run_numba(self, fr: torch.Tensor, ts: np.ndarray, start: int, max_chunk_s: float = 0.25) -> Events:
        from .sim_numba import simulate_pixels

        f64 = lambda x: x.detach().to(torch.float64).numpy().copy()  # noqa: E731
        flt = self.filter
        zeros = torch.zeros_like(self.u)
        state = np.stack([f64(v) for v in (flt.y_pr if flt else zeros, flt.v_pr if flt else zeros,
                                           flt.y_sf if flt else zeros, flt.y_diff if flt else zeros,
                                           self.l_sf, self.l_diff, self.ref_d, self.ref_s, self.t_ref)])
        pending = self.pending.numpy().astype(np.uint8)
        params, mode = self._numba_params()
        c_on, c_off, g_leak = f64(self.c_on), f64(self.c_off), f64(self.g_leak)
        u_last = self.u.contiguous()
        new_fr = fr[start:]
        ts_all = np.concatenate([[self.t_last], ts[start:]])
        parts: list = []
        k0 = 0
        n_pix = self.height * self.width
        lin = self.dtype == torch.float32 and not self.config.bandwidth_model
        while k0 < new_fr.shape[0]:
            # chunks of at most 128 frames / max_chunk_s seconds (the time sort's histogram has one bin per us)
            k1 = k0 + 1
            while k1 < min(k0 + 128, new_fr.shape[0]) and ts_all[k1 + 1] - ts_all[k0] <= max_chunk_s:
                k1 += 1
            if lin:      # float32 ideal pixel: the compiled loop takes the log only for frames that need it
                u = new_fr[k0:k1].reshape(k1 - k0, -1).to(torch.float32).contiguous()
            else:
                u = torch.log_(new_fr[k0:k1].reshape(k1 - k0, -1).to(self.dtype) + self.config.black_level)
            # event buffer guess: the last chunk's events per pixel and frame (blocks that overflow are rerun)
            per_pixel = int(min(64, 4 + 1.5 * (k1 - k0) * getattr(self, "_numba_rate", 0.2)))
            t_us, x, y, pol, state, pending, u_end = simulate_pixels(
                u.numpy(), u_last.numpy(), ts_all[k0:k1 + 1], c_on, c_off, g_leak, state, pending, params,
                bool(self.config.bandwidth_model), mode, self.model_reset, width=self.width, per_pixel=per_pixel,
                linear_black=self.config.black_level if lin else None)
            self._numba_rate = len(t_us) / (max(1, n_pix) * (k1 - k0))
            parts.append((t_us, x, y, pol))
            u_last = torch.from_numpy(u_end).to(self.dtype)
            self.n_substeps += k1 - k0
            k0 = k1
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.dtype)  # noqa: E731
        self.u = u_last.clone()
        if flt is not None:
            flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff = (as_t(state[r]) for r in range(4))
        self.l_sf, self.l_diff, self.ref_d, self.ref_s = (as_t(state[r]) for r in range(4, 8))
        self.t_ref = torch.from_numpy(state[8].copy())
        self.pending = torch.from_numpy(pending.astype(bool))
        self.t_last = float(ts_all[-1])
        t_us, x, y, pol = _merge_sorted_parts(parts, self.width)
        return Events(t_us, x, y, pol, self.height, self.width)

    def _kernel_params(self) -> dict:
        c, p = self.config, self.params
        a_loop = p.back_gate_coeff * p.amplifier_gain
        tau_out = p.output_time_const_us * 1e-6
        w_sf, w_d = 2 * math.pi * p.sf_cutoff_hz, 2 * math.pi * p.diff_cutoff_hz
        fin = lambda v: v if math.isfinite(v) else 0.0  # noqa: E731
        packed = [c.black_level, fin(p.ip_to_it_fa), p.dark_current_fa,
                  p.photodiode_cap_ff * p.thermal_voltage_mv * 1e-3, p.miller_cap_ff * p.thermal_voltage_mv * 1e-3,
                  p.amplifier_gain, a_loop, tau_out, fin(w_sf), fin(w_d), c.refractory,
                  c.substep_fraction * min(c.threshold_on, c.threshold_off), c.max_substeps, c.min_rate_hz,
                  (a_loop + 1) / tau_out if tau_out > 0 else 0.0, c.ringing_rad_per_substep, c.substep_fraction]
        return dict(packed=torch.tensor(packed, dtype=torch.float64, device=self.device),
                    bandwidth=bool(c.bandwidth_model),
                    pr_mode=p.photoreceptor_mode,
                    sf_inf=not math.isfinite(w_sf), diff_inf=not math.isfinite(w_d), reset=self.model_reset)

    def _state_rows(self) -> tuple:
        """The float state in the order of :data:`~sigkit.kernels.events_sim.STATE_ROWS` (None: no filter)."""
        flt = self.filter
        return (self.u, *((flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff) if flt else (None,) * 4),
                self.l_sf, self.l_diff, self.ref_d, self.ref_s)

    def _kernel_state(self):
        """The state as the kernel's :class:`~sigkit.kernels.events_sim.KernelState`: the buffer the last
        Triton run wrote when the simulator's state still is views of it (no copy), else packed afresh."""
        from sigkit.kernels.events_sim import KernelState

        rows = self._state_rows()
        last = getattr(self, "_kstate", None)
        if last is not None and self.t_ref is last[0].t_ref and self.pending is last[2] \
                and all(a is b for a, b in zip(rows, last[1], strict=True) if a is not None):
            return last[0]
        zeros = torch.zeros_like(self.u, dtype=torch.float32)
        f = torch.stack([zeros if r is None else r.to(torch.float32) for r in rows])
        pend = self.pending.to(torch.int8).contiguous()
        return KernelState(f, self.t_ref.to(torch.float64).contiguous(), pend)

    def _adopt_kernel_state(self, st) -> None:
        """Make the kernel's output state the simulator's (views of its buffers, remembered for the next run)."""
        f = st.f
        self.u, self.l_sf, self.l_diff, self.ref_d, self.ref_s = f[0], f[5], f[6], f[7], f[8]
        self.t_ref, self.pending = st.t_ref, st.pending.view(torch.bool)
        flt = self.filter
        if flt is not None:
            flt.y_pr, flt.v_pr, flt.y_sf, flt.y_diff = f[1], f[2], f[3], f[4]
        self._kstate = (st, self._state_rows(), self.pending)

    def _kernel_inputs(self) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scalars and per-pixel thresholds for the kernel, rebuilt only when the configuration changed."""
        key = (self.config, id(self.c_on), id(self.c_off), id(self.g_leak))
        cached = getattr(self, "_kinputs", None)
        if cached is None or cached[0] != key:
            f32 = lambda x: x.to(torch.float32).contiguous()  # noqa: E731
            cached = (key, self._kernel_params(), f32(self.c_on), f32(self.c_off), f32(self.g_leak), self.c_on)
            self._kinputs = cached
        return cached[1:5]

    def _launch_plan(self, frames: int, streamed: bool) -> list[int]:
        """Frames per Triton launch for a clip of ``frames`` new frames.

        Launches of :data:`TRITON_CHUNK` frames (the last one shorter).  When the events are streamed to the host
        (``streamed``, clips of >= 64 frames) the host copy of each launch overlaps the next kernel and only the last
        launch's copy is left after the last kernel: so the clip ends with a short launch (``frames // 8``, within
        16 .. :data:`STREAM_TAIL_FRAMES`), and the rest is split evenly into at least ``STREAM_MIN_LAUNCHES - 1``
        launches of >= 32 frames.

        >>> sim = Simulator(SimConfig(), 2, 2)
        >>> sim._launch_plan(1000, streamed=True), sim._launch_plan(1000, streamed=False)
        ([234, 234, 234, 234, 64], [256, 256, 256, 232])
        """
        chunk = max(1, int(TRITON_CHUNK))
        if not streamed or STREAM_MIN_LAUNCHES <= 1 or frames < 64:
            return [chunk] * (frames // chunk) + ([frames % chunk] if frames % chunk else [])
        tail = min(chunk, STREAM_TAIL_FRAMES, max(16, frames // 8))
        body = frames - tail
        k = max(-(-body // chunk), min(STREAM_MIN_LAUNCHES - 1, body // 32), 1)
        return [body // k + (i < body % k) for i in range(k)] + [tail]

    def _run_triton(self, fr: torch.Tensor, ts: np.ndarray, start: int, chunk: int | None = None,
                    sink: EventSink | None = None) -> list:
        """The Triton kernel over ``fr[start:]`` in the launches of :meth:`_launch_plan` (or of ``chunk`` frames each);
        the events of each chunk sorted
        on the device (:meth:`_sort_keys`), one part per chunk, for :meth:`_merge_parts` — or, with ``sink``,
        decoded (:func:`~sigkit.kernels.events_sim.decode_sorted`) and handed to it chunk by chunk (copied to the
        host while the next chunk runs; returns ``[]``)."""
        from sigkit.kernels.events_sim import decode_sorted, simulate_chunk

        if self.dtype != torch.float32:
            raise InputError("the Triton backend keeps float32 state; use backend='torch' for float64")
        # the kernel writes a new state buffer: the simulator's own state changes only once every chunk succeeded
        state = self._kernel_state()
        params, c_on, c_off, g_leak = self._kernel_inputs()
        out: list = []
        # row 0 of the sequence is the state's last input (the reset frame, or where a previous run ended)
        new_fr = fr[start:]
        ts_all = np.concatenate([[self.t_last], ts[start:]])
        ts_dev = torch.as_tensor(ts_all, dtype=torch.float64, device=self.device)
        n_pix = self.u.numel()
        total = new_fr.shape[0]
        plan = [chunk] * (total // chunk) + [total % chunk] if chunk else self._launch_plan(total, sink is not None)
        plan = [m for m in plan if m > 0]
        # one log-input buffer for every chunk (row 0, the state's input, is not read: the state has it)
        u_buf = torch.empty(max(plan, default=0) + 1, n_pix, dtype=torch.float32, device=self.device)
        k0 = 0
        for m in plan:
            k1 = k0 + m
            u = u_buf[:k1 - k0 + 1]
            src = new_fr[k0:k1].reshape(k1 - k0, -1)
            src = src if src.dtype == torch.float32 else src.to(torch.float32)     # as the reference: float32, then log
            torch.add(src, self.config.black_level, out=u[1:]).log_()
            # event buffer: the last chunk's events per pixel and frame, with margin (an overflow reruns the chunk)
            cap = int(1.5 * getattr(self, "_triton_rate", 8.0 / 256) * n_pix * (k1 - k0)) + TRITON_MIN_SLOTS
            self._mark("prep")
            state, key, p, n = simulate_chunk(u, ts_dev[k0:k1 + 1].contiguous(), c_on, c_off, g_leak, state, params,
                                              capacity=cap, block=TRITON_BLOCK, maxnreg=TRITON_MAXNREG)
            self._mark("kernel")
            self._triton_rate = n / (max(1, n_pix) * (k1 - k0))
            if sink is None:
                out.append(self._sort_keys(key, p, n))          # sorted on the device, chunk by chunk
            else:                                       # to the host while the next chunk's kernel runs
                # sorted, then the result's fields (t, x, y, p) in one Triton pass (H100, 10:41 UTC: 17.4 ms per
                # 1000 frames at 346x260 vs 18.0 with a gather and six torch element-wise kernels)
                skey, order = torch.sort(key, stable=True)
                fields = decode_sorted(skey, order, p, n, n_pix, self.width)
                sink.submit(*fields, expect_total=sink.n + int(1.25 * n * (total - k0) / (k1 - k0)) + 4096)
            self._mark("sort")
            self.n_substeps += k1 - k0
            k0 = k1
        self._adopt_kernel_state(state)
        self.t_last = float(ts_all[-1])
        return out

    def _shot_noise_frames(self, frames: torch.Tensor, ts: np.ndarray, out: list, block: int = 128) -> None:
        """v2e's shot noise for the frame intervals ``ts[k] -> ts[k+1]`` (``frames[k]`` ends interval ``k``).

        The rate is piecewise constant: ``0.5 shot_rate (1 - 0.75 inten01) C_nom / C_pix`` per polarity
        in interval ``k``, ``inten01 = (255 it + 20) / 275`` (at most 1) at the end frame's intensity.  Per
        ``block`` frames it is drawn by thinning: Poisson arrivals at the largest rate (``inten01 = 0``)
        with uniform times, each kept with probability ``1 - 0.75 inten01`` of its interval — one
        Poisson draw per pixel and block instead of one per pixel and frame."""
        c = self.config
        ts_all = torch.as_tensor(np.asarray(ts, dtype=np.float64), device=self.device)
        for k0 in range(0, frames.shape[0], block):
            k1 = min(k0 + block, frames.shape[0])
            flat = frames[k0:k1].reshape(k1 - k0, -1)
            ta, tb = float(ts[k0]), float(ts[k1])
            for pol, cpix, cnom in ((1, self.c_on, c.threshold_on), (-1, self.c_off, c.threshold_off)):
                r_max = (0.5 * c.shot_rate * (cnom / cpix)).to(torch.float64)          # (N,) events/s
                n = torch.poisson(r_max * (tb - ta), generator=self._gen)
                idx = _nonzero(n > 0)
                if not idx.numel():
                    continue
                idx = torch.repeat_interleave(idx, _take(n, idx).long())
                tt = ta + (tb - ta) * torch.rand(idx.numel(), generator=self._gen, device=self.device, dtype=torch.float64)
                k = (torch.searchsorted(ts_all[k0:k1 + 1].contiguous(), tt, right=True) - 1).clamp(0, k1 - k0 - 1)
                u = torch.log(flat[k, idx].to(self.dtype) + c.black_level)
                it = (torch.exp(u) - c.black_level).clamp(0, 1)
                inten01 = ((255 * it + 20) / 275).clamp(max=1)
                keep = _nonzero(torch.rand(idx.numel(), generator=self._gen, device=self.device, dtype=torch.float64)
                                < 1 - 0.75 * inten01.to(torch.float64))
                out.append((_take(tt, keep), _take(idx, keep), torch.full((keep.numel(),), pol, dtype=torch.int8,
                                                                          device=self.device)))

def _merge_sorted_parts(parts: list, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate consecutive chunks' ``(t_us, x, y, p)``, each sorted by (time, pixel index), into one such order
    (:func:`~sigkit.events.hostcopy.fix_seams`)."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int16), np.zeros(0, np.int8)
    t_us, x, y, pol = (np.concatenate(a) for a in zip(*parts, strict=True))
    if len(parts) == 1:
        return t_us, x, y, pol
    starts = np.cumsum([0] + [len(q[0]) for q in parts[:-1]])
    return fix_seams(t_us, x, y, pol, starts.tolist(), width)


class PhaseTimer:
    """Where :meth:`Simulator.run` spends its time: set ``sim.timer = PhaseTimer()``, run, then :meth:`summary`.

    Each mark closes a phase that began at the previous mark: ``input`` (checks, state copies),
    ``prep`` (log of the frames), ``pixels`` (the torch reference's frame loop), ``kernel`` (the Triton
    launch and its event count), ``sort`` (per-chunk device sort; with numpy output on CUDA also decoding
    x/y and queueing the chunk's host copy), ``noise`` (shot noise), ``merge`` (joining chunks), ``copy``
    (waiting for the host copies still running after the last kernel, :mod:`~sigkit.events.hostcopy`) and
    ``events`` (building the result).  On CUDA the phases are timed with CUDA events (GPU time between marks, which includes any
    host work the GPU waited for); ``host_ms`` is the host's wall time between the same marks.

    >>> pt = PhaseTimer(); pt.mark("start", "cpu"); pt.mark("kernel", "cpu"); pt.mark("kernel", "cpu")
    >>> sorted(pt.summary()) == ["kernel"] and pt.summary()["kernel"]["calls"] == 2
    True
    """

    def __init__(self) -> None:
        self.marks: list[tuple[str, object, float]] = []

    def mark(self, phase: str, device: str | torch.device) -> None:
        """Close the phase ``phase`` now (the first mark of a run, ``start``, only opens one)."""
        import time

        ev = None
        if torch.device(device).type == "cuda":
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
        self.marks.append((phase, ev, time.perf_counter()))

    def summary(self) -> dict[str, dict[str, float]]:
        """``{phase: {"gpu_ms", "host_ms", "calls"}}`` summed over every run since the timer was set
        (synchronises the device; ``gpu_ms`` is NaN on the CPU)."""
        res: dict[str, dict[str, float]] = {}
        if any(m[1] is not None for m in self.marks):
            torch.cuda.synchronize()
        for (_, e0, h0), (name, e1, h1) in zip(self.marks[:-1], self.marks[1:], strict=True):
            if name == "start":
                continue
            r = res.setdefault(name, {"gpu_ms": 0.0, "host_ms": 0.0, "calls": 0})
            r["gpu_ms"] += e0.elapsed_time(e1) if e0 is not None and e1 is not None else math.nan
            r["host_ms"] += 1e3 * (h1 - h0)
            r["calls"] += 1
        return res


BACKENDS = ("auto", "torch", "numba", "triton")
#: pixels per Triton program: 32 was the fastest with the bandwidth model on an H200 (32/64/128 compared
#: by ``bench/events_sim.py --triton-blocks``, docs/benchmarks.md)
TRITON_BLOCK = 32
#: register cap per thread for the Triton kernel (None: the compiler's choice; ``bench/events_sim.py --triton-maxnreg``)
TRITON_MAXNREG: int | None = None
#: frames per Triton launch (each launch's events are sorted on the device, then chunks are merged)
TRITON_CHUNK = 256
#: with numpy output on CUDA, clips of >= 64 frames run in at least this many launches, so the host copy of one
#: launch's events overlaps the next kernel (:meth:`Simulator._launch_plan`; 1: launches of :data:`TRITON_CHUNK` only)
STREAM_MIN_LAUNCHES = 4
#: the longest last launch of a streamed clip (its host copy is the part not overlapped by a kernel)
STREAM_TAIL_FRAMES = 64
#: stream each launch's events to the host (:class:`~sigkit.events.hostcopy.EventSink`) for numpy output without
#: shot noise: None on CUDA only; True / False always / never (tests use True to run the path on the CPU)
STREAM_TO_HOST: bool | None = None
#: event slots a launch gets beyond 1.5x the previous launch's events per pixel and frame (tests set 0 to
#: force the overflow rerun)
TRITON_MIN_SLOTS = 1 << 16
_warned_numba = False


def numba_available() -> bool:
    """Whether the numba CPU back end can be used (numba importable)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def auto_backend(device: str | torch.device, dtype: torch.dtype = torch.float32) -> str:
    """The back end ``backend="auto"`` picks: ``"numba"`` on CPU (the torch reference, with a warning, if
    numba is not installed); on CUDA the fused Triton kernel for float32 state (validated against the
    reference and timed on an H200, ``docs/benchmarks.md``), the torch reference for float64 or without Triton.

    >>> auto_backend("cpu") in ("numba", "torch")
    True
    >>> auto_backend("cuda", torch.float64)
    'torch'
    """
    global _warned_numba
    dev = torch.device(device)
    if dev.type == "cpu":
        if numba_available():
            return "numba"
        if not _warned_numba:
            warnings.warn("numba is not installed: the event simulator uses its torch reference on the CPU, "
                          "which is ~50x slower; `pip install numba` for the fast CPU back end", stacklevel=3)
            _warned_numba = True
    elif dev.type == "cuda" and dtype == torch.float32 and importlib.util.find_spec("triton") is not None:
        return "triton"
    return "torch"


def simulate(frames, timestamps, config: SimConfig | None = None, device: str | torch.device | None = None,
             backend: str = "auto", output: str = "numpy") -> Events | EventTensors:
    """Simulate the events a DVS pixel array emits while watching ``frames``.

    Args:
        frames: ``(T, H, W)`` linear intensity (>= 0; 1 is "full white"), tensor, array or list of
            equal-size 2-D frames.
        timestamps: ``(T,)`` seconds, strictly increasing.
        config: :class:`SimConfig` (default: DVS128 nominal pixel, C = 0.25, no noise).
        device: where to run (default: the frames' device).
        backend: ``"auto"``, ``"torch"``, ``"numba"`` or ``"triton"`` (see :meth:`Simulator.run`); all give the
            same events.
        output: ``"numpy"``: :class:`~sigkit.events.stream.Events` on the host; ``"torch"``:
            :class:`~sigkit.events.stream.EventTensors` on ``device`` (on CUDA no copy to the host; the
            fastest way to feed GPU code).
    Returns:
        ``t`` int64 microseconds, ``x``/``y`` int16, ``p`` int8 +1/-1, sorted by time (then pixel index).

    >>> fr = torch.ones(3, 2, 2); fr[2] = 4.0                  # log(4) / 0.25 ~ 5.5: five ON per pixel
    >>> ev = simulate(fr, [0.0, 0.01, 0.02], SimConfig(bandwidth_model=False))
    >>> len(ev), set(ev.p.tolist())
    (20, {1})
    >>> simulate(fr, [0.0, 0.01, 0.02], SimConfig(bandwidth_model=False), output="torch").t.dtype
    torch.int64
    """
    config = config or SimConfig()
    dev = torch.device(device) if device is not None else (frames.device if torch.is_tensor(frames) else torch.device("cpu"))
    fr, ts = _as_frames(frames, timestamps, dev, check=False)      # Simulator.run checks the values
    sim = Simulator(config, fr.shape[1], fr.shape[2], dev)
    return sim.run(fr, ts, backend=backend, output=output)
