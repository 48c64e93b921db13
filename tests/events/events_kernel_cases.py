"""Kernel-vs-reference cases, run by test_events_kernel.py in a subprocess with TRITON_INTERPRET=1."""
from __future__ import annotations

import math
import sys

import numpy as np
from sigkit.events import SimConfig, Simulator
from sigkit.events.scenes import sliding_texture

CASES = {
    "ideal": dict(bandwidth_model=False),
    "nominal": dict(),
    "refractory_leak_mismatch": dict(refractory=2e-4, leak_rate=20.0, threshold_sigma=0.05),
    "lti_diff_reset": dict(ip_to_it_fa=math.inf, output_time_const_us=0.0, sf_cutoff_hz=math.inf, diff_cutoff_hz=500.0),
    # slow source follower: w h = 0.094 < 0.1 in 1-ms sub-steps (the cascade's first-order-hold branch, taken by
    # the source follower and not by the differencing amplifier)
    "slow_sf": dict(sf_cutoff_hz=15.0, diff_cutoff_hz=400.0, threshold_on=0.03, threshold_off=0.03),
}


def main() -> int:
    fr, ts = sliding_texture(4, 6, 0.02, 1000, speed_px_s=300.0)
    bad = []
    for name, kw in CASES.items():
        # one sub-step per frame: the kernel and the reference run the very same arithmetic
        cfg = SimConfig(substep_fraction=10.0, max_substeps=1, **kw)
        a = Simulator(cfg, 4, 6).run(fr, ts, backend="torch")
        b = Simulator(cfg, 4, 6).run(fr, ts, backend="triton")
        if len(a) < 20 or not (len(a) == len(b) and np.abs(a.t - b.t).max() <= 1 and np.array_equal(a.x, b.x)
                               and np.array_equal(a.p, b.p)):
            bad.append(f"{name}/1 sub-step: {len(a)} vs {len(b)} events")
        if name == "slow_sf":          # (its adaptive run takes the interpreter ~15 s; the branch is covered above)
            continue
        # adaptive sub-steps (per pixel in both): the same events
        cfg = SimConfig(**kw)
        a = Simulator(cfg, 4, 6).run(fr, ts, backend="torch")
        b = Simulator(cfg, 4, 6).run(fr, ts, backend="triton")
        if not (len(a) == len(b) and np.abs(a.t - b.t).max() <= 1 and np.array_equal(a.x, b.x) and np.array_equal(a.p, b.p)):
            bad.append(f"{name}/adaptive: {len(a)} vs {len(b)} events")
    # continuing a run keeps the state: two halves == one run
    cfg = SimConfig(**CASES["nominal"], substep_fraction=10.0, max_substeps=1)
    one = Simulator(cfg, 4, 6).run(fr, ts, backend="triton")
    s = Simulator(cfg, 4, 6)
    h1 = s.run(fr[:10], ts[:10], backend="triton")
    h2 = s.run(fr[10:], ts[10:], backend="triton")
    if len(h1) + len(h2) != len(one) or not np.array_equal(np.concatenate([h1.t, h2.t]), one.t):
        bad.append("split run differs")
    # launches of 5 frames, sorted on the device and merged: the events of one launch
    import importlib

    mod = importlib.import_module("sigkit.events.simulate")
    mod.TRITON_CHUNK = 5
    five = Simulator(cfg, 4, 6).run(fr, ts, backend="triton")
    mod.TRITON_CHUNK = 256
    if not five.equals(one):
        bad.append("5-frame launches differ from one launch")
    # the same launches streamed to the host chunk by chunk (EventSink, as numpy output on CUDA does), through
    # the pinned result slabs (direct) and through the staging ring (staged)
    from sigkit.events import hostcopy

    for mode in ("direct", "staged"):
        mod.TRITON_CHUNK, mod.STREAM_TO_HOST, hostcopy.HOST_COPY = 5, True, mode
        streamed = Simulator(cfg, 4, 6).run(fr, ts, backend="triton")
        mod.TRITON_CHUNK, mod.STREAM_TO_HOST, hostcopy.HOST_COPY = 256, None, "direct"
        if not streamed.equals(one):
            bad.append(f"5-frame launches streamed to the host ({mode}) differ from one launch")
    # streamed (decoded by the Triton pass) with negative times (floored, as the merged output's torch decoding)
    mod.TRITON_CHUNK, mod.STREAM_TO_HOST = 5, True
    streamed = Simulator(cfg, 4, 6).run(fr, ts - 0.0105, backend="triton")
    mod.STREAM_TO_HOST = None
    ref = Simulator(cfg, 4, 6).run(fr, ts - 0.0105, backend="triton", output="torch").numpy()
    mod.TRITON_CHUNK = 256
    if not (streamed.equals(ref) and ref.t.min() < 0 < ref.t.max() and len(ref) > 20):
        bad.append("streamed with negative times: differs from the merged output")
    # several programs (the last one partly masked), events in many slabs, and a launch whose event buffer
    # overflows (rerun from the untouched input state with a larger one): the reference's events
    a = Simulator(cfg, 7, 10).run(*sliding_texture(7, 10, 0.03, 1000, speed_px_s=300.0), backend="torch")
    mod.TRITON_MIN_SLOTS = 0
    s = Simulator(cfg, 7, 10)
    s._triton_rate = 0.0                                    # room for each program's first slab only
    b = s.run(*sliding_texture(7, 10, 0.03, 1000, speed_px_s=300.0), backend="triton")
    mod.TRITON_MIN_SLOTS = 1 << 16
    if len(a) <= 3 * 64 or not (len(a) == len(b) and np.abs(a.t - b.t).max() <= 1 and np.array_equal(a.x, b.x)
                                and np.array_equal(a.y, b.y) and np.array_equal(a.p, b.p)):
        bad.append(f"3 programs, overflow rerun: {len(a)} vs {len(b)} events")
    # shot noise merged into the kernel's events in the reference's order; events kept as tensors
    cfg = SimConfig(**CASES["refractory_leak_mismatch"], substep_fraction=10.0, max_substeps=1, shot_rate=200.0)
    a = Simulator(cfg, 4, 6).run(fr, ts, backend="torch")
    b = Simulator(cfg, 4, 6).run(fr, ts, backend="triton", output="torch").numpy()
    if not (len(a) == len(b) and np.abs(a.t - b.t).max() <= 1 and np.array_equal(a.x, b.x) and np.array_equal(a.p, b.p)):
        bad.append(f"shot noise: {len(a)} vs {len(b)} events")
    print("\n".join(bad) if bad else "OK")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
