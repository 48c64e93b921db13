"""The fused Triton KDE kernel against the torch reference: on CPU through TRITON_INTERPRET=1 (in a
subprocess, because Triton reads the variable when kernels are decorated), on CUDA directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("triton")

SCRIPT = textwrap.dedent("""
    import json, torch
    from sigkit.kernels.kde_triton import kde_logsumexp
    from sigkit.kde.engine import log_kernel_sum
    from sigkit.kde.kernels import GAUSSIAN, EPANECHNIKOV, LAPLACE
    g = torch.Generator().manual_seed(0)
    out = []
    for dt, methods in ((torch.float64, ("diff", "dot")), (torch.float32, ("diff", "dot"))):
        for K in (GAUSSIAN, EPANECHNIKOV, LAPLACE):
            for d in (1, 5):
                x = torch.randn(150, d, generator=g, dtype=torch.float64)
                q = torch.randn(37, d, generator=g, dtype=torch.float64)
                lw = torch.randn(150, generator=g, dtype=torch.float64) * 0.3
                ref = log_kernel_sum(q, x, lw, K, beta=2.0, backend="torch")
                for meth in methods:
                    got = kde_logsumexp(q.to(dt), x.to(dt), lw.to(dt), K.code, K.param(d), 2.0, method=meth,
                                        block_m=16, block_n=32).double()
                    fin = torch.isfinite(ref)
                    if dt == torch.float64 and meth == "diff":
                        fast = kde_logsumexp(q, x, lw, K.code, K.param(d), 2.0, method=meth, block_m=16,
                                             block_n=32, fast_exp64=True).double()
                        out.append(dict(dtype="fast_exp64", kernel=K.name, d=d, method=meth,
                                        same_support=bool((torch.isfinite(fast) == fin).all()),
                                        err=float((fast - ref)[fin].abs().max())))
                    out.append(dict(dtype=str(dt), kernel=K.name, d=d, method=meth,
                                    same_support=bool((torch.isfinite(got) == fin).all()),
                                    err=float((got - ref)[fin].abs().max())))
    print(json.dumps(out))
""")


def test_triton_kernel_matches_reference_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(rows) == 30
    for r in rows:
        tol = {"torch.float64": 1e-10, "fast_exp64": 5e-7}.get(r["dtype"], 2e-5)
        assert r["same_support"], r
        assert r["err"] < tol, r


def test_kde_on_cuda_matches_cpu(device, dtype):
    if device.type != "cuda":
        pytest.skip("needs --device cuda")
    from sigkit.kde import KDE, participation_ratio

    rng = np.random.default_rng(0)
    for d in (2, 16, 64):
        y = rng.normal(size=(20000, d))
        q = rng.normal(size=(3000, d))
        # Epanechnikov gets a wider bandwidth: near the edge of its support log(1 - u) amplifies float32
        # distance rounding (at h = 0.6, d = 16 the CPU float32 path itself is 6e-4 off)
        for kernel, h in (("gaussian", 0.6), ("epanechnikov", 1.5), ("laplace", 0.6)):
            ref = KDE(y, bandwidth=h, kernel=kernel).log_density(q)
            got = KDE(y, bandwidth=h, kernel=kernel, device=device, dtype=dtype).log_density(q).cpu().double()
            fin = torch.isfinite(ref)
            assert bool((torch.isfinite(got) == fin).all())
            tol = dict(rtol=0, atol=1e-7) if dtype == torch.float64 else dict(rtol=2e-6, atol=5e-4)
            torch.testing.assert_close(got[fin], ref[fin], **tol)
        pr_ref = participation_ratio(KDE(y, bandwidth=0.6), q)
        pr = participation_ratio(KDE(y, bandwidth=0.6, device=device, dtype=dtype), q).cpu().double()
        torch.testing.assert_close(pr, pr_ref, rtol=1e-7 if dtype == torch.float64 else 1e-3, atol=0)
