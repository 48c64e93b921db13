"""The fused Triton simulator against the torch reference (CPU, Triton's interpreter, tiny sizes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")


def test_kernel_matches_reference_in_interpreter(device):
    if device.type != "cpu":
        pytest.skip("the CPU run checks the kernel in Triton's interpreter; with --device cuda the compiled kernel is tested")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONWARNINGS="ignore")
    script = Path(__file__).with_name("events_kernel_cases.py")
    res = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), res.stdout[-2000:] + res.stderr[-2000:]


def _pixel_counts(ev, n):
    import numpy as np

    return np.bincount(ev.y.astype(np.int64) * 60 + ev.x, minlength=n)


def test_kernel_on_cuda(device):
    if device.type != "cuda":
        pytest.skip("runs with --device cuda")
    import numpy as np
    from sigkit.events import SimConfig, Simulator
    from sigkit.events.scenes import sliding_texture

    fr, ts = sliding_texture(40, 60, 0.1, 1000, speed_px_s=200.0)
    for kw in (dict(substep_fraction=10.0, max_substeps=1), dict()):     # one sub-step per frame; adaptive
        cfg = SimConfig(threshold_sigma=0.03, refractory=1e-4, leak_rate=1.0, **kw)
        a = Simulator(cfg, 40, 60).run(fr, ts, backend="torch")
        b = Simulator(cfg, 40, 60, "cuda").run(fr.cuda(), ts, backend="triton")
        # float32 on both sides, but the GPU contracts multiply-adds: the same events up to rare rounding flips
        assert len(a) > 5000 and abs(len(a) - len(b)) <= 0.002 * len(a), (kw, len(a), len(b))
        assert np.abs(_pixel_counts(a, 2400) - _pixel_counts(b, 2400)).sum() <= 0.005 * len(a)
        if len(a) == len(b):
            assert np.quantile(np.abs(a.t - b.t), 0.99) <= 2

