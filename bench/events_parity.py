"""Back-end parity of the event simulator on one clip (no shot noise), printed as JSON.

    python bench/events_parity.py            # on the GPU machine: CPU torch / numba vs CUDA Triton / torch

Rows: the torch reference on CPU in float64 and float32, the numba back end (CPU, float64 arithmetic)
when numba is installed, the torch reference on CUDA (float32) and the Triton kernel on CUDA (float32).
For each pair: event counts, whether the events are identical, the summed per-pixel count difference
and the 99th percentile / max of the time difference in us when the counts agree.
"""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import torch
from sigkit.events import SimConfig, Simulator
from sigkit.events.scenes import sliding_texture


def compare(a, b) -> dict:
    n = a.height * a.width
    ca = np.bincount(a.y.astype(np.int64) * a.width + a.x, minlength=n)
    cb = np.bincount(b.y.astype(np.int64) * b.width + b.x, minlength=n)
    out = dict(n_a=len(a), n_b=len(b), identical=bool(a.equals(b)), pixel_count_diff=int(np.abs(ca - cb).sum()))
    if len(a) == len(b) and len(a):
        d = np.abs(a.t - b.t)
        out.update(dt_us_p99=float(np.quantile(d, 0.99)), dt_us_max=int(d.max()))
    return out


def main() -> None:
    h, w = 40, 60
    fr, ts = sliding_texture(h, w, 0.2, 1000, speed_px_s=150.0, dtype=torch.float64)
    cuda = torch.cuda.is_available()
    res = {}
    for bw in (False, True):
        cfg = SimConfig(bandwidth_model=bw, threshold_sigma=0.03, refractory=1e-4, leak_rate=0.5)
        run = lambda backend, dev="cpu", dtype=torch.float32, cfg=cfg: Simulator(cfg, h, w, dev, dtype).run(  # noqa: E731
            fr.to(dev, dtype), ts, backend=backend)
        r = {}
        cpu64 = run("torch", dtype=torch.float64)
        cpu32 = run("torch")
        r["cpu_torch_f32_vs_f64"] = compare(cpu64, cpu32)
        if importlib.util.find_spec("numba"):
            r["cpu_numba_vs_torch_f64"] = compare(cpu64, run("numba", dtype=torch.float64))
        if cuda:
            tri = run("triton", "cuda")
            r["cuda_torch_vs_cpu_torch_f32"] = compare(cpu32, run("torch", "cuda"))
            r["cuda_triton_vs_cpu_torch_f32"] = compare(cpu32, tri)
            r["cuda_triton_vs_cpu_torch_f64"] = compare(cpu64, tri)
        res[f"bandwidth_model={bw}"] = r
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
