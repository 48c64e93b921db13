"""Exact Gaussian KDE speed: sigkit vs the obvious torch code, scikit-learn, scipy and KDEpy.

Every method evaluates the same estimator: n points from a correlated Gaussian, bandwidth matrix
``H = f^2 Cov`` with Scott's factor (scipy's ``gaussian_kde`` semantics); scikit-learn and KDEpy get the
points whitened by ``chol(H)`` with bandwidth 1 and the log-determinant added back. Accuracy is the
largest |log p - log p_ref| against sigkit float64 (and scipy float64 where it ran).

    python bench/kde.py --device cpu --n 100000 --m 10000 --ref-m 200     # CPU, 2 cores
    python bench/kde.py --device cuda --sweep                             # H100: + Triton config sweep

CPU baselines that take minutes (scikit-learn, scipy, KDEpy) are timed on the first ``--ref-m`` queries
and scaled linearly to ``m`` (their cost is linear in the number of queries); the table says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch


def obvious_torch(points: torch.Tensor, queries: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """What a user writes: whiten, chunked ``q @ X.T`` distances, ``logsumexp`` per chunk."""
    L = torch.linalg.cholesky(H)
    X = torch.linalg.solve_triangular(L, points.T, upper=False).T
    Q = torch.linalg.solve_triangular(L, queries.T, upper=False).T
    n, d = X.shape
    xx = (X * X).sum(1)
    const = -0.5 * d * math.log(2 * math.pi) - torch.log(torch.diagonal(L)).sum() - math.log(n)
    chunk = max(1, 2**27 // n)
    out = []
    for i in range(0, Q.shape[0], chunk):
        q = Q[i : i + chunk]
        d2 = (q * q).sum(1, keepdim=True) + xx[None, :] - 2 * q @ X.T
        out.append(torch.logsumexp(-0.5 * d2, dim=1))
    return torch.cat(out) + const


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, dev, repeat: int) -> tuple[float, object]:
    if dev.type == "cuda":
        out = fn()  # warm-up (compilation, caches); on CPU the min over repeats serves
        _sync(dev)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        _sync(dev)
        times.append(time.perf_counter() - t)
    # min on CPU: the machine is shared and other processes only ever add time; median on CUDA
    return float(min(times) if dev.type == "cpu" else np.median(times)), out


def run_dim(d: int, args, dev) -> list[dict]:
    from sigkit.kde import KDE

    rng = np.random.default_rng(d)
    A = rng.normal(size=(d, d)) / math.sqrt(d) + np.eye(d)
    y = rng.normal(size=(args.n, d)) @ A.T
    q = rng.normal(size=(args.m, d)) @ A.T
    rows = []
    ref_kde = KDE(y, bandwidth="scott", covariance="full")  # float64, CPU set-up
    H = ref_kde.bandwidth_matrix
    L = np.linalg.cholesky(H.numpy())
    logdet = float(np.log(np.diag(L)).sum())
    zy = np.linalg.solve(L, y.T).T
    zq = np.linalg.solve(L, q.T).T
    ref = None
    for dt_name in args.dtypes:
        dt = getattr(torch, dt_name)
        kde = KDE(y, bandwidth="scott", covariance="full", device=dev, dtype=dt)
        backends = ["auto"] + (["torch"] if dev.type == "cuda" else [])
        qs = torch.tensor(q, device=dev)  # queries already on the device, as for the torch baseline
        for backend in backends:
            kde.backend = backend
            t, out = timeit(lambda kde=kde, qs=qs: kde.log_density(qs), dev, args.repeat)
            out = out.double().cpu()
            if dt_name == "float64" and backend == "auto":
                ref = out
            name = f"sigkit[{backend if backend != 'auto' else ('triton' if dev.type == 'cuda' else 'torch')}]"
            rows.append(
                dict(
                    d=d,
                    method=name,
                    dtype=dt_name,
                    seconds=t,
                    m_timed=args.m,
                    err=float((out - ref).abs().max()) if ref is not None else float("nan"),
                )
            )
        Y = torch.tensor(y, dtype=dt, device=dev)
        Q = torch.tensor(q, dtype=dt, device=dev)
        Hd = H.to(dtype=dt, device=dev)
        t, out = timeit(lambda Y=Y, Q=Q, Hd=Hd: obvious_torch(Y, Q, Hd), dev, args.repeat)
        rows.append(
            dict(
                d=d,
                method="obvious torch",
                dtype=dt_name,
                seconds=t,
                m_timed=args.m,
                err=float((out.double().cpu() - ref).abs().max()),
            )
        )
    if args.sweep and (dev.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"):
        rows += sweep(zy, zq, logdet, ref, d, args, dev)
    mr = min(args.ref_m, args.m)

    def scipy_kde():
        from scipy.stats import gaussian_kde

        return gaussian_kde(y.T, bw_method="scott").logpdf(q[:mr].T)

    def sklearn_kde():
        from sklearn.neighbors import KernelDensity

        return KernelDensity(bandwidth=1.0, rtol=0, atol=0).fit(zy).score_samples(zq[:mr]) - logdet

    def kdepy_kde():
        from KDEpy import TreeKDE

        return np.log(TreeKDE(kernel="gaussian", bw=1.0).fit(zy).evaluate(zq[:mr])) - logdet

    baselines = [
        ("scipy", "scipy gaussian_kde", scipy_kde),
        ("sklearn", "sklearn KernelDensity (exact)", sklearn_kde),
    ]
    if d <= 2:
        baselines.append(("kdepy", "KDEpy TreeKDE", kdepy_kde))
    for key, name, fn in baselines:
        if key not in args.baselines:
            continue
        t0 = time.perf_counter()
        try:
            out = fn()
        except ImportError:
            continue
        t = time.perf_counter() - t0  # fit + evaluate of the first mr queries, scaled to m below
        err = float(np.abs(out - ref[:mr].numpy()).max())
        rows.append(dict(d=d, method=name, dtype="float64", seconds=t * args.m / mr, m_timed=mr, err=err))
    return rows


def _sweep_configs(d: int, dt_name: str) -> list[dict]:
    """Triton launch variants timed by ``--sweep`` (kwargs of ``kde_logsumexp``)."""
    if dt_name == "float64":
        return [dict(method="dot", block_m=64, block_n=64, num_stages=2)]
    if d < 8:
        rows = [dict(method="diff", block_m=64, block_n=128)]  # the online kernel, the old default
        for bm, bn, w, waves in ((16, 512, 4, 16), (16, 512, 4, 8), (16, 512, 4, 32), (8, 1024, 4, 16), (32, 256, 4, 16)):
            rows.append(dict(method="fixed", block_m=bm, block_n=bn, num_warps=w, waves=waves, uniform=True))
        rows.append(dict(method="fixed", block_m=16, block_n=512, num_warps=4, waves=16, uniform=False))
        return rows
    wide = d <= 64
    rows = [dict(method="dot", block_m=64, block_n=128 if wide else 64, num_stages=2)]  # online, the old default
    shapes = ((64, 128, 4), (64, 128, 8), (128, 128, 8)) if wide else ((64, 64, 8), (64, 64, 4), (128, 64, 8))
    for bm, bn, w in shapes:
        rows.append(dict(method="fixed", block_m=bm, block_n=bn, num_warps=w, num_stages=2, waves=16, uniform=True))
    rows.append(dict(method="fixed", block_m=shapes[0][0], block_n=shapes[0][1], num_warps=shapes[0][2], num_stages=2, uniform=False))
    return rows


def sweep(zy, zq, logdet, ref, d, args, dev) -> list[dict]:
    """Triton configurations on the whitened problem (the kernel alone, no KDE set-up)."""
    from sigkit.kernels.kde_triton import kde_logsumexp

    from sigkit.kde.kernels import GAUSSIAN

    rows = []
    const = GAUSSIAN.log_norm(d) - logdet
    for dt_name in args.dtypes:
        dt = getattr(torch, dt_name)
        X = torch.tensor(zy, dtype=dt, device=dev)
        Q = torch.tensor(zq, dtype=dt, device=dev)
        lw = torch.full((X.shape[0],), -math.log(X.shape[0]), dtype=dt, device=dev)
        for cfg in _sweep_configs(d, dt_name):
            label = "triton " + " ".join(f"{k}={v}" for k, v in cfg.items())
            try:
                t, out = timeit(lambda cfg=cfg, Q=Q, X=X, lw=lw: kde_logsumexp(Q, X, lw, 0, 1.0, 1.0, **cfg), dev, args.repeat)
            except Exception as err:  # a config that does not compile is reported, not fatal
                rows.append(dict(d=d, method=label, dtype=dt_name, seconds=None, error=str(err)[:200]))
                continue
            err = float(((out.double().cpu() + const) - ref).abs().max())
            rows.append(dict(d=d, method=label, dtype=dt_name, seconds=t, m_timed=args.m, err=err))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--m", type=int, default=10_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 16, 128])
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    ap.add_argument("--baselines", nargs="*", default=["scipy", "sklearn", "kdepy"])
    ap.add_argument("--ref-m", type=int, default=200, help="queries timed for scipy/sklearn/KDEpy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sweep", action="store_true", help="also time Triton configurations (CUDA)")
    ap.add_argument("--json", help="write all rows here")
    args = ap.parse_args()
    dev = torch.device(args.device)
    print(
        f"# device {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}, torch threads "
        f"{torch.get_num_threads()}, n={args.n}, m={args.m}"
    )
    rows = []
    for d in args.dims:
        rows += run_dim(d, args, dev)
        for r in rows:
            if r["d"] == d:
                base = next(x["seconds"] for x in rows if x["d"] == d and x["method"] == "obvious torch" and x["dtype"] == r["dtype"])
                s = r.get("seconds")
                print(
                    f"d={d:4d} {r['method']:32s} {r['dtype']:8s} "
                    + (
                        f"{s * 1e3:11.2f} ms  x{base / s:7.2f} vs obvious  err {r['err']:.2e}"
                        + (f"  (timed {r['m_timed']} queries, scaled)" if r.get("m_timed") != args.m else "")
                        if s
                        else f"failed: {r.get('error')}"
                    ),
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
