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


def _interpreter_runs_loops() -> bool:
    """Triton's interpreter turns a loop bound into a Python int with ``int(array)``; up to Triton 3.6 it
    does so on a 1-element array, which NumPy 2.5 refuses (seen on the GPU machine: Triton 3.6, NumPy
    2.5.2). Newer interpreters squeeze first."""
    import inspect
    import warnings

    import triton.runtime.interpreter as ti

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            int(np.ones(1))
        return True
    except TypeError:
        return "handle.data.squeeze()" in inspect.getsource(ti)


needs_interpreter = pytest.mark.skipif(
    not _interpreter_runs_loops(), reason="this Triton's interpreter cannot run loops under this NumPy (>= 2.5)"
)

SCRIPT = textwrap.dedent("""
    import json, torch
    from sigkit.kernels.kde_triton import kde_logsumexp
    from sigkit.kde.engine import log_kernel_sum
    from sigkit.kde.kernels import GAUSSIAN, EPANECHNIKOV, LAPLACE
    g = torch.Generator().manual_seed(0)
    out = []
    for dt, methods in ((torch.float64, ("diff", "dot")), (torch.float32, ("diff", "dot", "fixed"))):
        for K in (GAUSSIAN, EPANECHNIKOV, LAPLACE):
            for d in (1, 5, 9):  # d = 9: the tl.dot form of "fixed" (Gaussian only)
                ms = tuple(mt for mt in methods if mt != "fixed" or K is GAUSSIAN or (K is LAPLACE and d < 8))
                x = torch.randn(150, d, generator=g, dtype=torch.float64)
                q = torch.randn(37, d, generator=g, dtype=torch.float64)
                lw = torch.randn(150, generator=g, dtype=torch.float64) * 0.3
                ref = log_kernel_sum(q, x, lw, K, beta=2.0, backend="torch")
                for meth in ms:
                    got = kde_logsumexp(q.to(dt), x.to(dt), lw.to(dt), K.code, K.param(d), 2.0, method=meth,
                                        block_m=16, block_n=32).double()
                    if meth == "fixed":  # equal weights: added once per query instead of per term
                        lw0 = torch.full_like(lw, -5.0)
                        ref0 = log_kernel_sum(q, x, lw0, K, beta=2.0, backend="torch")
                        got0 = kde_logsumexp(q.to(dt), x.to(dt), lw0.to(dt), K.code, K.param(d), 2.0, method=meth,
                                             uniform=True, block_m=16, block_n=32).double()
                        out.append(dict(dtype="uniform", kernel=K.name, d=d, method=meth,
                                        same_support=bool(torch.isfinite(got0).all()),
                                        err=float((got0 - ref0).abs().max())))
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


@needs_interpreter
def test_triton_kernel_matches_reference_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(rows) == 55  # 27 float64 (with fast_exp64) + 28 float32 (with the equal-weight rows)
    for r in rows:
        tol = {"torch.float64": 1e-10, "fast_exp64": 5e-7}.get(r["dtype"], 2e-5)  # float32: 2e-5
        assert r["same_support"], r
        assert r["err"] < tol, r


FALLBACK = textwrap.dedent("""
    import json, torch
    import sigkit.kernels.kde_triton as kt
    from sigkit.kde.engine import log_kernel_sum
    from sigkit.kde.kernels import GAUSSIAN
    redo = []
    online = kt._online
    kt._online = lambda q, *a, **k: (redo.append(q.shape[0]), online(q, *a, **k))[1]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64)
    x[:32] += 40.0  # the first tile (the reference) is 40 kernel widths away from every query
    q = torch.randn(640, 2, generator=g, dtype=torch.float64) * 0.3
    lw = torch.randn(300, generator=g, dtype=torch.float64)
    ref = log_kernel_sum(q, x, lw, GAUSSIAN, backend="torch")
    got = kt.kde_logsumexp(q.float(), x.float(), lw.float(), 0, 1.0, 1.0, method="fixed", block_m=16, block_n=32)
    print(json.dumps(dict(redo=redo, err=float((got.double() - ref).abs().max()))))
""")


@needs_interpreter
def test_fixed_kernel_recomputes_overflowed_queries_in_interpreter():
    """``"fixed"``: terms 2^600 above the first tile's reference overflow; those queries are redone exactly."""
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    res = subprocess.run([sys.executable, "-c", FALLBACK], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["redo"] == [640], r  # every query overflowed (one slice: 4 "SMs" x 16 waves < 40 query tiles)
    assert r["err"] < 2e-5, r


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


def test_kde_on_cuda_tail_queries(device, dtype):
    """Queries far outside the data at a small bandwidth: float32 ``"fixed"`` overflows its reference
    for some of them and recomputes those; every value must still match the CPU float64 sums."""
    if device.type != "cuda":
        pytest.skip("needs --device cuda")
    from sigkit.kde import KDE

    rng = np.random.default_rng(3)
    y = rng.normal(size=(50000, 2))
    u = rng.normal(size=(2000, 2))
    q = np.concatenate([u[:1000], u[1000:] / np.linalg.norm(u[1000:], axis=1, keepdims=True) * rng.uniform(3, 7, (1000, 1))])
    tol = dict(rtol=0, atol=1e-7) if dtype == torch.float64 else dict(rtol=2e-6, atol=5e-4)
    for kernel in ("gaussian", "laplace"):
        ref = KDE(y, bandwidth=0.05, kernel=kernel).log_density(q)
        got = KDE(y, bandwidth=0.05, kernel=kernel, device=device, dtype=dtype).log_density(q).cpu().double()
        torch.testing.assert_close(got, ref, **tol)
    # d = 16: the tl.dot form of "fixed", tail queries at 2-3x the typical radius
    y = rng.normal(size=(50000, 16))
    u = rng.normal(size=(2000, 16))
    q = np.concatenate([u[:1000], u[1000:] * rng.uniform(2, 3, (1000, 1))])
    ref = KDE(y, bandwidth=0.3).log_density(q)
    got = KDE(y, bandwidth=0.3, device=device, dtype=dtype).log_density(q).cpu().double()
    # 3xTF32 products: about 1e-6 relative in |q|^2 + |x|^2 - 2 q.x, times 1/(2 h^2) = 5.6 here
    torch.testing.assert_close(got, ref, **(tol if dtype == torch.float64 else dict(rtol=1e-5, atol=5e-4)))
