"""CPU vs CUDA parity of the event simulator (deterministic parts: no shot noise), printed as JSON."""
from __future__ import annotations

import json

import numpy as np
from sigkit.events import SimConfig, Simulator, simulate
from sigkit.events.scenes import sliding_texture

fr, ts = sliding_texture(40, 60, 0.2, 1000, speed_px_s=150.0)
out = {}
for bw in (False, True):
    cfg = SimConfig(bandwidth_model=bw, threshold_sigma=0.03, refractory=1e-4, leak_rate=0.5)
    a = simulate(fr, ts, cfg, device="cpu")                 # torch reference on CPU
    b = simulate(fr.cuda(), ts, cfg, device="cuda")         # Triton kernel on CUDA (backend "auto")
    same = len(a) == len(b)
    c = Simulator(cfg, 40, 60, "cuda").run(fr.cuda(), ts, backend="torch")   # torch reference on CUDA
    out[f"bandwidth={bw}"] = dict(cpu_events=len(a), cuda_events=len(b), cuda_torch_events=len(c),
                                  cpu_vs_cuda_torch_identical=bool(a.equals(c)),
                                  max_dt_us=int(np.abs(a.t - b.t).max()) if same and len(a) else None,
                                  identical=bool(same and a.equals(b)))
print(json.dumps(out))
