"""Fast and slow adaptive biasing (Nair, Milford, Fischer, IROS 2024) in closed loop with the simulator.

The controller (rules as in the authors' ``fast_and_slow_controller.cpp``):

* every ``window`` = 0.3 s the event rate ``R = count / window`` is measured;
* **fast loop**: the refractory bias ``RefrBp = 57 - (57 - 4) (R - R_lo) / (R_hi - R_lo)``, clamped to
  [4, 57] (high current = short refractory period), ``R_lo = 5e5``, ``R_hi = 2.5e6`` ev/s;
* **slow loop**: after ``count_threshold`` = 2 consecutive windows with RefrBp saturated at 57 (rate
  too low) the photoreceptor (PrBp) and source-follower (PrSFBp) biases step +5 and the ON/OFF
  thresholds drop (OnBn -5, OffBn +5); saturated at 4 (rate too high) the opposite.  The two
  counters are independent (neither resets the other); both reset on an unsaturated window.
  Unlike the original, fine values are kept inside [1, 255].

:class:`BiasMap` turns bias values into the simulator's physics (sigkit's model, stated there):
currents are taken as proportional to the fine value, so the refractory period and ``tau_out`` scale
as 1 / fine, the source-follower cut-off as fine, and the thresholds as OnBn / 63 and 168 / OffBn.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from sigkit.errors import InputError

from .simulate import SimConfig, Simulator, _as_frames

#: DAVIS346 pixel count, to which the paper's rate bounds refer
PAPER_PIXELS = 346 * 260


@dataclass(frozen=True)
class Biases:
    """jAER fine bias values: RefrBp, PrBp, PrSFBp, OnBn, OffBn (paper's start-up values)."""

    refr: int = 57
    pr: int = 119
    sf: int = 32
    on: int = 63
    off: int = 168


@dataclass(frozen=True)
class BiasMap:
    """How fine bias values set the simulator (reference values are those at :class:`Biases` ()).

    Args:
        refractory_at_57: refractory period (s) at RefrBp = 57; ``refractory = r57 * 57 / RefrBp``.
        base: the :class:`SimConfig` whose ``output_time_const_us``, ``sf_cutoff_hz`` and thresholds
            correspond to the start-up biases.
    """

    base: SimConfig = field(default_factory=SimConfig)
    refractory_at_57: float = 50e-6
    ref: Biases = field(default_factory=Biases)

    def changes(self, b: Biases) -> dict:
        """SimConfig fields for bias values ``b``.

        >>> m = BiasMap(); ch = m.changes(Biases(refr=4, pr=238, sf=64, on=126, off=84))
        >>> round(ch["refractory"] * 1e6, 1), ch["output_time_const_us"], ch["sf_cutoff_hz"], ch["threshold_on"], ch["threshold_off"]
        (712.5, 907.5, 6244.0, 0.5, 0.5)
        """
        r, c = self.ref, self.base
        return dict(refractory=self.refractory_at_57 * 57 / b.refr,
                    output_time_const_us=c.output_time_const_us * r.pr / b.pr,
                    sf_cutoff_hz=c.sf_cutoff_hz * b.sf / r.sf,
                    threshold_on=c.threshold_on * b.on / r.on,
                    threshold_off=c.threshold_off * r.off / b.off)


class FixedBiases:
    """Baseline: constant biases (the paper's ``default_params``)."""

    def __init__(self, biases: Biases | None = None) -> None:
        self.biases = biases or Biases()

    def update(self, rate: float) -> Biases:
        return self.biases


class FastSlowController:
    """The fast (refractory every window) and slow (bandwidth + thresholds) controller.

    Args:
        rate_low, rate_high: event-rate bounds in ev/s (paper: 5e5 and 2.5e6 on a DAVIS346; use
            :meth:`for_sensor` to scale them to another pixel count).
        count_threshold: saturated windows before a slow step (paper: 2); step: fine-value step (5).
        refr_range: RefrBp range (4, 57).

    >>> c = FastSlowController()
    >>> [c.update(r).refr for r in (1e5, 1.5e6, 9e6)]
    [57, 30, 4]
    >>> c.update(9e6).pr, c.update(9e6).pr            # 2nd saturated window: slow step down, counter restarts
    (114, 114)
    """

    def __init__(self, rate_low: float = 5e5, rate_high: float = 2.5e6, count_threshold: int = 2, step: int = 5,
                 refr_range: tuple[int, int] = (4, 57), initial: Biases | None = None) -> None:
        if not 0 < rate_low < rate_high:
            raise InputError(f"rate bounds must satisfy 0 < rate_low < rate_high; got {rate_low}, {rate_high}")
        self.rate_low, self.rate_high = float(rate_low), float(rate_high)
        self.count_threshold, self.step = int(count_threshold), int(step)
        self.refr_min, self.refr_max = refr_range
        self.biases = initial or Biases()
        self.up_count = self.down_count = 0

    @classmethod
    def for_sensor(cls, height: int, width: int, **kw) -> FastSlowController:
        """The paper's bounds scaled from 346x260 pixels to ``height x width`` (same rate per pixel)."""
        s = height * width / PAPER_PIXELS
        return cls(rate_low=5e5 * s, rate_high=2.5e6 * s, **kw)

    def update(self, rate: float) -> Biases:
        """Feed one window's event rate (ev/s); returns the biases for the next window."""
        lo, hi = self.refr_min, self.refr_max
        s = hi - (hi - lo) * (rate - self.rate_low) / (self.rate_high - self.rate_low)
        s = int(round(min(max(s, lo), hi)))
        b = replace(self.biases, refr=s)
        if s == hi:
            self.up_count += 1
        elif s == lo:
            self.down_count += 1
        else:
            self.up_count = self.down_count = 0
        k = self.step
        clip = lambda v: int(min(max(v, 1), 255))  # noqa: E731
        if self.up_count >= self.count_threshold:       # too few events: more bandwidth, lower thresholds
            b = replace(b, pr=clip(b.pr + k), sf=clip(b.sf + k), on=clip(b.on - k), off=clip(b.off + k))
            self.up_count = 0
        if self.down_count >= self.count_threshold:     # too many: less bandwidth, higher thresholds
            b = replace(b, pr=clip(b.pr - k), sf=clip(b.sf - k), on=clip(b.on + k), off=clip(b.off - k))
            self.down_count = 0
        self.biases = b
        return b


@dataclass
class ControlLog:
    """Per-window log of a closed-loop run: window end times (s), rates (ev/s), biases and physics."""

    t: list = field(default_factory=list)
    rate: list = field(default_factory=list)
    biases: list = field(default_factory=list)
    physics: list = field(default_factory=list)
    rate_low: float = float("nan")
    rate_high: float = float("nan")

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Columns as numpy arrays: ``t``, ``rate`` and one per bias/physical parameter."""
        out = {"t": np.asarray(self.t), "rate": np.asarray(self.rate)}
        for k in asdict(Biases()):
            out[k] = np.asarray([b.__dict__[k] for b in self.biases])
        for k in (self.physics[0] if self.physics else {}):
            out[k] = np.asarray([p[k] for p in self.physics])
        return out


def run_closed_loop(frames, timestamps, controller, bias_map: BiasMap | None = None, window: float = 0.3,
                    device: str | torch.device = "cpu", backend: str = "auto") -> tuple[ControlLog, int]:
    """Simulate ``frames`` while ``controller`` sets the biases every ``window`` seconds.

    Args:
        frames: ``(T, H, W)`` linear intensity; timestamps: ``(T,)`` seconds.
        controller: :class:`FastSlowController` or :class:`FixedBiases` (anything with ``update(rate)``).
        bias_map: how biases set the simulator (its ``base`` config is the start point).
        backend: the simulator's back end (:meth:`~sigkit.events.simulate.Simulator.run`).
    Returns:
        ``(log, n_events)``: the per-window :class:`ControlLog` and the total event count.
    """
    bias_map = bias_map or BiasMap()
    fr, ts = _as_frames(frames, timestamps, torch.device(device))
    b = getattr(controller, "biases", Biases())
    cfg = replace(bias_map.base, **bias_map.changes(b))
    sim = Simulator(cfg, fr.shape[1], fr.shape[2], device)
    sim.reset(fr[0], float(ts[0]))
    log = ControlLog(rate_low=getattr(controller, "rate_low", math.nan), rate_high=getattr(controller, "rate_high", math.nan))
    t_win, count, total = float(ts[0]) + window, 0, 0
    k = 1
    while k < fr.shape[0]:
        # the frames up to the first one at or after the window's end run in one go (any back end)
        k_end = min(int(np.searchsorted(ts, t_win - 1e-12, side="left")), fr.shape[0] - 1)
        k_end = max(k_end, k)
        n = len(sim.run(fr[k:k_end + 1], ts[k:k_end + 1], backend=backend))
        count += n
        total += n
        k = k_end + 1
        if ts[k_end] >= t_win - 1e-12:
            rate = count / window
            b = controller.update(rate)
            ch = bias_map.changes(b)
            sim.update(**ch)
            log.t.append(t_win)
            log.rate.append(rate)
            log.biases.append(b)
            log.physics.append(ch)
            t_win += window
            count = 0
    return log, total


def plot_control(logs: dict[str, ControlLog], path: str, title: str = "") -> None:
    """Save a PNG: event rate (log scale, with the bounds) and the bias values over time, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True)
    bounds = next(((lg.rate_low, lg.rate_high) for lg in logs.values() if math.isfinite(lg.rate_low)),
                  (math.nan, math.nan))
    for name, log in logs.items():
        a = log.as_arrays()
        axes[0].semilogy(a["t"], a["rate"], marker=".", label=name)
        axes[1].step(a["t"], a["refr"], where="post", label=f"{name} RefrBp")
        axes[2].step(a["t"], a["pr"], where="post", label=f"{name} PrBp")
        axes[2].step(a["t"], a["on"], where="post", ls="--", label=f"{name} OnBn")
    for r, lab in zip(bounds, ("lower bound", "upper bound"), strict=False):
        if math.isfinite(r):
            axes[0].axhline(r, color="k", lw=0.8, ls=":", label=lab)
    axes[0].set_ylabel("event rate (ev/s)")
    axes[1].set_ylabel("RefrBp fine")
    axes[2].set_ylabel("fine value")
    axes[2].set_xlabel("time (s)")
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
