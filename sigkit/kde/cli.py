"""``sigkit kde analyze DATA`` — which statistical regime does a KDE of this data set sit in?

Loads ``(n, d)`` points (``.npy``, ``.npz`` first array, ``.csv``/``.txt``), whitens them with their
covariance (so bandwidths are in units of the data's standard deviation, as in the Gaussian theory),
holds out a fraction, and for a grid of isotropic Gaussian bandwidths ``h`` measures the held-out
log-likelihood, the participation ratio and the tail index of the kernel terms. Prints a report and
writes a PNG: held-out log-likelihood per dimension against ``h`` with the theory's ``h_CLT``/``h_G``/
``h_KL`` (Gaussian data, :func:`sigkit.kde.regimes`), the data-driven thresholds, the selectors' picks
(Scott, Silverman, LOO-CV) and the held-out optimum marked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from sigkit.errors import InputError

__all__ = ["main", "analyze", "load_points"]


def load_points(path: str | os.PathLike) -> np.ndarray:
    """``(n, d)`` float64 points from ``.npy``, ``.npz`` (first array), ``.csv``/``.tsv``/``.txt``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(p, np.zeros((4, 2)))
    >>> load_points(p).shape
    (4, 2)
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; pass a .npy/.npz/.csv file of shape (n_points, n_dims)")
    try:
        if p.suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if not z.files:
                    raise InputError(f"{p}: the .npz archive holds no arrays")
                x = z[z.files[0]]
        elif p.suffix in (".csv", ".tsv", ".txt"):
            x = np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
        else:
            raise InputError(f"{p}: unknown extension {p.suffix!r}; use .npy, .npz, .csv, .tsv or .txt")
    except (ValueError, OSError) as err:
        raise InputError(
            f"{p}: cannot read as a numeric array ({err}); save it with np.save(path, x)"
        ) from None
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InputError(f"{p}: array of shape {x.shape}; expected (n_points, n_dims)")
    bad = ~np.isfinite(x).all(1)
    if bad.any():
        raise InputError(
            f"{p}: {int(bad.sum())} row(s) contain NaN or Inf (first rows: "
            f"{np.nonzero(bad)[0][:5].tolist()}); drop them, e.g. x[np.isfinite(x).all(1)]"
        )
    return x


def _whiten(x: np.ndarray) -> np.ndarray:
    n, d = x.shape
    if n <= d:
        raise InputError(
            f"data: {n} points in {d} dimensions: fewer points than dimensions; the analysis "
            f"needs n > d (if the array is (n_dims, n_points), save its transpose)"
        )
    xc = x - x.mean(0)
    cov = np.atleast_2d(np.cov(xc.T))
    evals, evecs = np.linalg.eigh(cov)
    if evals.min() <= 1e-12 * evals.max():
        rank = int((evals > 1e-12 * evals.max()).sum())
        raise InputError(
            f"data: covariance is singular (rank {rank} < {d} dimensions); drop constant or "
            f"linearly dependent columns (e.g. project on the top {rank} principal components)"
        )
    return xc @ evecs / np.sqrt(evals)


def analyze(
    x: np.ndarray,
    *,
    holdout: float = 0.2,
    n_grid: int = 16,
    max_queries: int = 256,
    k: int = 8,
    seed: int = 0,
    kernel: str = "gaussian",
    max_eval: int = 1000,
) -> dict:
    """The analysis behind ``sigkit kde analyze`` on ``(n, d)`` points; returns a JSON-able dict."""
    import torch

    from sigkit.kde import KDE, regime_diagnostics, regimes
    from sigkit.kde.bandwidth import lcv_factor, scott_factor, silverman_factor

    if not 0.0 < holdout < 0.9:
        raise InputError(f"--holdout {holdout}: use a fraction in (0, 0.9)")
    z = _whiten(np.asarray(x, dtype=np.float64))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(z))
    n_test = max(1, int(round(holdout * len(z))))
    test, train = z[perm[:n_test]], z[perm[n_test:]]
    n, d = train.shape
    if n < 4:
        raise InputError(f"data: only {n} training points after holding out {n_test}; need more points")
    queries = test[:max_queries]
    theory = regimes(n, d)
    picks = {"scott": scott_factor(n, d), "silverman": silverman_factor(n, d)}
    picks["lcv"] = lcv_factor(torch.tensor(train), kernel=kernel, max_eval=max_eval)
    lo = 0.3 * min(theory["h_KL"], *picks.values())
    hi = 2.0 * max(theory["h_CLT"], *picks.values())
    grid = np.geomspace(lo, hi, n_grid)
    rows = []
    for h in grid:
        kde = KDE(train, bandwidth=float(h), kernel=kernel)
        diag = regime_diagnostics(kde, queries, k=k)
        rows.append({"h": float(h), "heldout_ll_per_dim": kde.score(test) / d, **diag})
    ll = np.array([r["heldout_ll_per_dim"] for r in rows])
    best = int(np.argmax(ll))
    # data-driven thresholds: mu scales as h^2 (Gaussian kernel), pooled over the grid by least squares in log
    mus = np.array([r["mu"] for r in rows])
    ok = np.isfinite(mus) & (mus > 0)
    c = float(np.exp(np.mean(np.log(mus[ok]) - 2 * np.log(grid[ok])))) if ok.any() else float("nan")
    data_thr = {"h_CLT": math.sqrt(2 / c), "h_G": math.sqrt(1 / c)} if c > 0 else {}
    for name, h in picks.items():
        kde = KDE(train, bandwidth=float(h), kernel=kernel)
        picks[name] = {
            "h": float(h),
            "heldout_ll_per_dim": kde.score(test) / d,
            **regime_diagnostics(kde, queries, k=k),
        }
    return {
        "n_train": n,
        "n_test": len(test),
        "d": d,
        "kernel": kernel,
        "theory": theory,
        "data_driven": data_thr,
        "grid": rows,
        "best_h": float(grid[best]),
        "selectors": picks,
        "units": "bandwidths in units of the whitened data's standard deviation",
    }


def _report(res: dict) -> str:
    th, dd = res["theory"], res["data_driven"]
    lines = [
        f"KDE regime analysis: n={res['n_train']} training points (+{res['n_test']} held out), d={res['d']}, "
        f"alpha=ln(n)/d={th['alpha']:.4f}, kernel={res['kernel']}; {res['units']}",
        f"theory (Gaussian data): h_KL={th['h_KL']:.4f}  h_G={th['h_G']:.4f}  h_CLT={th['h_CLT']:.4f}",
    ]
    if dd:
        lines.append(f"data-driven (tail index mu = 1, 2): h_G={dd['h_G']:.4f}  h_CLT={dd['h_CLT']:.4f}")
    lines.append(f"{'h':>9} {'heldout ll/d':>13} {'PR median':>10} {'mu':>7}  regime")
    for r in res["grid"]:
        lines.append(
            f"{r['h']:9.4f} {r['heldout_ll_per_dim']:13.5f} {r['pr_median']:10.2f} {r['mu']:7.3f}  "
            f"{r['regime']}"
        )
    lines.append(f"held-out optimum on the grid: h={res['best_h']:.4f}")
    for name, p in res["selectors"].items():
        lines.append(
            f"{name:>9}: h={p['h']:.4f}  heldout ll/d={p['heldout_ll_per_dim']:.5f}  "
            f"PR={p['pr_median']:.2f}  mu={p['mu']:.3f}  regime={p['regime']}"
        )
    return "\n".join(lines)


def _plot(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hs = np.array([r["h"] for r in res["grid"]])
    ll = np.array([r["heldout_ll_per_dim"] for r in res["grid"]])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(hs, ll, "k.-", label="held-out log-lik / d")
    th, dd = res["theory"], res["data_driven"]
    for key, col in (("h_KL", "tab:green"), ("h_G", "tab:red"), ("h_CLT", "tab:blue")):
        a.axvline(th[key], color=col, ls="--", lw=1, label=f"{key} theory")
        if key in dd:
            a.axvline(dd[key], color=col, ls=":", lw=1.5, label=f"{key} data")
    marks = {"scott": "s", "silverman": "^", "lcv": "D"}
    for name, p in res["selectors"].items():
        a.plot(p["h"], p["heldout_ll_per_dim"], marks.get(name, "o"), ms=7, label=name)
    a.plot(res["best_h"], ll.max(), "*", color="gold", mec="k", ms=14, label="held-out optimum")
    a.set_xscale("log")
    a.set_ylim(max(float(ll.min()), float(ll.max()) - 2.0) - 0.05, float(ll.max()) + 0.1)
    a.set_xlabel("bandwidth h (data std units)")
    a.set_ylabel("held-out log-likelihood per dimension")
    a.set_title(f"n={res['n_train']}, d={res['d']}, alpha={th['alpha']:.3f}")
    a.legend(fontsize=7)
    b.loglog(hs, [r["pr_median"] for r in res["grid"]], "o-", label="participation ratio (median)")
    b.loglog(hs, [r["mu"] for r in res["grid"]], "s-", label="tail index mu (Hill)")
    b.axhline(2.0, color="tab:blue", lw=1, ls="--")
    b.axhline(1.0, color="tab:red", lw=1, ls="--")
    b.set_xlabel("bandwidth h")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for ax in (a, b):
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    b.set_title("CLT: mu > 2, stable: 1 < mu < 2, extreme: mu < 1", fontsize=9)
    b.legend(fontsize=7)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sigkit kde``; returns an exit code."""
    ap = argparse.ArgumentParser(prog="sigkit kde", description="Kernel density estimation: regime analysis.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    an = sub.add_parser("analyze", help="report which regime KDE bandwidths fall in; write a PNG")
    an.add_argument("data", help="(n, d) points: .npy, .npz, .csv, .tsv or .txt")
    an.add_argument("--out", help="PNG path (default: DATA with suffix .kde.png)")
    an.add_argument("--json", dest="json_out", help="also write the full results as JSON here")
    an.add_argument("--holdout", type=float, default=0.2, help="fraction held out for the likelihood curve")
    an.add_argument("--grid", type=int, default=16, help="number of bandwidths on the curve")
    an.add_argument("--queries", type=int, default=256, help="held-out points used for the diagnostics")
    an.add_argument("--k", type=int, default=8, help="top terms in the Hill tail-index estimate")
    an.add_argument("--kernel", default="gaussian", choices=["gaussian", "epanechnikov", "laplace"])
    an.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    x = load_points(args.data)
    res = analyze(
        x,
        holdout=args.holdout,
        n_grid=args.grid,
        max_queries=args.queries,
        k=args.k,
        seed=args.seed,
        kernel=args.kernel,
    )
    out = Path(args.out) if args.out else Path(args.data).with_suffix(".kde.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    _plot(res, out)
    print(_report(res))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=1))
    print(
        f"analyzed {res['n_train'] + res['n_test']} points in {res['d']} dimensions in "
        f"{time.perf_counter() - t0:.1f} s; figure: {out}"
    )
    return 0
