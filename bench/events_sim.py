"""Event-simulator throughput: input frames/s, events/s and the real-time factor at 1 kHz input.

    python bench/events_sim.py --device cuda --sizes 346x260,640x480,1280x720 --seconds 0.1 --repeat 3   # auto (triton) + torch
    python bench/events_sim.py --device cpu --threads 2 --backends numba,torch --sizes 346x260 --seconds 0.05

The input is a smooth texture sliding at 200 px/s sampled at ``--fps`` (1 kHz): ``seconds * fps``
frames are simulated after a warm-up of 5 frames.  Real-time factor = simulated seconds / wall seconds.
Baselines in the same run: the torch reference (``--backends torch,triton`` on CUDA, ``numba,torch`` on
CPU) and the bandwidth model off (ideal pixel).  ``--threads`` sets torch's and numba's thread counts.
Each row also prints the 1-minute load average (the development VM is shared).  v2e is not measured
(no wheel reachable from the benchmark machines).
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import time

import torch
from sigkit.events import SimConfig, Simulator

sim_mod = importlib.import_module("sigkit.events.simulate")     # the module (the package exports the function)


def frames_on(device, h: int, w: int, n: int, fps: float, speed: float = 200.0) -> torch.Tensor:
    yy = torch.arange(h, device=device, dtype=torch.float32)[:, None]
    xx = torch.arange(w, device=device, dtype=torch.float32)[None, :]
    out = []
    for k in range(n):
        x = xx + speed * k / fps
        out.append(0.5 + 0.2 * torch.sin(2 * math.pi * x / 16) + 0.15 * torch.sin(2 * math.pi * (x / 7 + yy / 11))
                   + 0.1 * torch.cos(2 * math.pi * (0.3 * x - yy) / 9))
    return torch.stack(out)


def bench_one(device: str, h: int, w: int, bandwidth: bool, seconds: float, fps: float, backend: str,
              repeat: int = 1) -> dict:
    """One row; with ``repeat`` > 1 the median wall time of the repeats (``wall_s_all`` lists them)."""
    n = int(round(seconds * fps))
    warm = 5
    fr = frames_on(device, h, w, repeat * n + warm + 1, fps)
    ts = torch.arange(repeat * n + warm + 1, dtype=torch.float64) / fps
    sim = Simulator(SimConfig(bandwidth_model=bandwidth), h, w, device)
    sim.run(fr[:warm + 1], ts[:warm + 1], backend=backend)          # warm-up (and Triton compile)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    walls = []
    for r in range(repeat):            # each repeat continues the same simulator on the next n frames
        seg = slice(warm + 1 + r * n, warm + 1 + (r + 1) * n)
        t0 = time.perf_counter()
        ev = sim.run(fr[seg], ts[seg], backend=backend)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
    dt = sorted(walls)[len(walls) // 2]
    return dict(device=device, backend=backend, size=f"{w}x{h}", bandwidth_model=bandwidth, frames=n,
                wall_s=round(dt, 4), frames_per_s=round(n / dt, 1), events_per_s=round(len(ev) / dt, 1),
                events=len(ev), realtime_factor=round(n / fps / dt, 4), load_1min=round(os.getloadavg()[0], 2),
                wall_s_all=[round(w_, 4) for w_ in walls])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    p.add_argument("--sizes", default="346x260,640x480,1280x720")
    p.add_argument("--seconds", type=float, default=0.1)
    p.add_argument("--fps", type=float, default=1000.0)
    p.add_argument("--backends", default="auto,torch",
                   help="comma-separated: auto (numba on CPU, triton on CUDA), torch, numba, triton")
    p.add_argument("--bandwidth", default="off,on", help="comma-separated: off, on (the pixel bandwidth model)")
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the median wall time is reported")
    p.add_argument("--triton-blocks", default="", help="comma-separated pixels per Triton program to compare (e.g. 32,64,128)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
        if "numba" in a.backends:
            import numba

            numba.set_num_threads(a.threads)
    rows = []
    for size in a.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        runs = []
        for backend in a.backends.split(","):
            backend = sim_mod.auto_backend(a.device) if backend == "auto" else backend
            blocks = [int(b) for b in a.triton_blocks.split(",") if b] if backend == "triton" else []
            runs += [(backend, b) for b in blocks] or [(backend, None)]
        for backend, block in runs:
            if block:
                sim_mod.TRITON_BLOCK = block
            for bw in (v == "on" for v in a.bandwidth.split(",")):
                r = bench_one(a.device, h, w, bw, a.seconds, a.fps, backend, a.repeat)
                r["threads"] = torch.get_num_threads()
                if block:
                    r["backend"] = f"{backend}-b{block}"
                rows.append(r)
                print(json.dumps(r), flush=True)
    print("| device | backend | threads | size | bandwidth model | frames/s | events/s | x real time (1 kHz input) | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['device']} | {r['backend']} | {r['threads']} | {r['size']} | {'on' if r['bandwidth_model'] else 'off'} | "
              f"{r['frames_per_s']} | {r['events_per_s']:.3g} | {r['realtime_factor']} | {r['load_1min']} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
