"""Biroli & Mezard's high-dimensional Gaussian KDE experiment (arXiv 2408.05807), reproduced on CPU.

The paper's own (d, alpha) settings could not be retrieved (only the opening of its text is stored
anywhere the search tools reach; sigkit/kde/README.md, Provenance), so ``--configs`` defaults to three
settings of the project's own numerical check, d = 20/30/40 at alpha = 0.5/0.4/0.3; the thresholds are
the closed forms of :mod:`sigkit.kde.regimes` (the project's re-derivation, not checked against the
paper's symbols).

For data y_i ~ N(0, I_d), n = exp(alpha d), and a Gaussian kernel of std h, measures against h:

* KL(rho || rho_hat_h) / d, estimated on fresh draws x ~ rho (the true log-density is known), with the
  theory's leading-order curve (:func:`sigkit.kde.kl_per_dim`);
* the tail index mu(h) of the kernel terms (pooled Hill estimate, k=8) with the theory's
  mu(h) = h^2 (1/s - 1), and the median participation ratio (effective number of points);
* the statistics of rho_hat_h(x) over independent data sets at fixed x: median / mean over ``--datasets``
  draws of the data (1 under the CLT; well below 1 when a few points dominate);

and marks h_KL, h_G, h_CLT (theory), the empirical KL argmin, Scott and Silverman.

    python bench/kde_regimes.py --out sigkit/kde/kde_regimes.png --json /tmp/kde_regimes.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from sigkit.kde import KDE, kl_per_dim, levy_index, participation_ratio, regimes, tail_index
from sigkit.kde.bandwidth import scott_factor, silverman_factor


def run_config(d: int, alpha: float, args, rng) -> dict:
    n = int(round(math.exp(alpha * d)))
    th = regimes(n, d)
    y = rng.normal(size=(n, d))
    x = rng.normal(size=(args.queries, d))
    log_true = -0.5 * (x**2).sum(1) - 0.5 * d * math.log(2 * math.pi)
    hs = np.geomspace(0.5 * th["h_KL"], 1.6 * th["h_CLT"], args.grid)
    rows = []
    for h in hs:
        kde = KDE(y, bandwidth=float(h))
        ld = kde.log_density(x).numpy()
        mu = tail_index(kde, x, k=8)
        rows.append(
            {
                "h": float(h),
                "kl_per_dim": float(np.mean(log_true - ld)) / d,
                "kl_theory": kl_per_dim(float(h), th["alpha"]),
                "mu_hill": float(1.0 / (1.0 / mu).mean()),
                "mu_theory": levy_index(float(h), th["alpha"]),
                "pr_median": float(participation_ratio(kde, x).median()),
            }
        )
    # fluctuations over data sets at fixed x: median/mean of rho_hat(x)
    xs = x[: args.fixed_points]
    logs = np.empty((args.datasets, len(hs), len(xs)))
    for b in range(args.datasets):
        yb = rng.normal(size=(n, d))
        for j, h in enumerate(hs):
            logs[b, j] = KDE(yb, bandwidth=float(h)).log_density(xs).numpy()
    for j, r in enumerate(rows):
        lj = logs[:, j, :]  # (datasets, points)
        mean = np.log(np.mean(np.exp(lj - lj.max(0)), 0)) + lj.max(0)
        r["median_over_mean"] = float(np.median(np.exp(np.median(lj, 0) - mean)))
    kl = np.array([r["kl_per_dim"] for r in rows])
    i = int(np.argmin(kl))
    return {
        "d": d,
        "alpha": th["alpha"],
        "n": n,
        "theory": th,
        "rows": rows,
        "h_kl_empirical": float(hs[i]),
        "scott": scott_factor(n, d),
        "silverman": silverman_factor(n, d),
    }


def plot(results: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(results), figsize=(4.2 * len(results), 9.0), squeeze=False)
    for c, res in enumerate(results):
        th = res["theory"]
        h = np.array([r["h"] for r in res["rows"]])
        ax = axes[0, c]
        ax.plot(h, [r["kl_per_dim"] for r in res["rows"]], "ko-", ms=3, label="empirical KL/d")
        ax.plot(h, [r["kl_theory"] for r in res["rows"]], "k--", lw=1, label="theory (leading order)")
        for key, col in (("h_KL", "tab:green"), ("h_G", "tab:red"), ("h_CLT", "tab:blue")):
            ax.axvline(th[key], color=col, ls="--", lw=1, label=key)
        ax.axvline(res["h_kl_empirical"], color="tab:green", lw=2, alpha=0.5, label="empirical argmin")
        ax.axvline(res["scott"], color="tab:gray", ls=":", label="Scott")
        ax.set_title(f"d={res['d']}, alpha={res['alpha']:.2f}, n={res['n']}", fontsize=10)
        ax.set_ylim(0, 3 * max(r["kl_per_dim"] for r in res["rows"][len(h) // 2 :]))
        ax.set_ylabel("KL / d")
        ax = axes[1, c]
        ax.plot(h, [r["mu_hill"] for r in res["rows"]], "s-", ms=3, label="tail index (Hill, k=8)")
        ax.plot(h, [r["mu_theory"] for r in res["rows"]], "k--", lw=1, label="mu(h) theory")
        ax.plot(h, [r["pr_median"] for r in res["rows"]], "o-", ms=3, label="participation ratio")
        ax.axhline(2, color="tab:blue", lw=0.8)
        ax.axhline(1, color="tab:red", lw=0.8)
        ax.set_yscale("log")
        ax = axes[2, c]
        ax.plot(
            h, [r["median_over_mean"] for r in res["rows"]], "D-", ms=3, label="median/mean of rho_hat(x)"
        )
        for key, col in (("h_G", "tab:red"), ("h_CLT", "tab:blue")):
            ax.axvline(th[key], color=col, ls="--", lw=1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("bandwidth h (units of sigma)")
        for a in axes[:, c]:
            a.set_xscale("log")
            if c == 0:
                a.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=60)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="20:0.5,30:0.4,40:0.3", help="d:alpha pairs")
    ap.add_argument("--grid", type=int, default=14)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--datasets", type=int, default=24, help="independent data sets for the fluctuations")
    ap.add_argument("--fixed-points", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="kde_regimes.png")
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    results = []
    for item in args.configs.split(","):
        d, a = item.split(":")
        t = time.perf_counter()
        res = run_config(int(d), float(a), args, rng)
        th = res["theory"]
        print(
            f"d={res['d']} alpha={res['alpha']:.3f} n={res['n']}: h_KL={th['h_KL']:.3f} h_G={th['h_G']:.3f} "
            f"h_CLT={th['h_CLT']:.3f} | empirical KL argmin {res['h_kl_empirical']:.3f} "
            f"(KL/d {min(r['kl_per_dim'] for r in res['rows']):.4f}, theory min {th['kl_per_dim']:.4f}) | "
            f"Scott {res['scott']:.3f} Silverman {res['silverman']:.3f} [{time.perf_counter() - t:.0f} s]"
        )
        print(f"{'h':>7} {'KL/d':>8} {'theory':>8} {'mu Hill':>8} {'mu th':>7} {'PR':>8} {'med/mean':>8}")
        for r in res["rows"]:
            print(
                f"{r['h']:7.3f} {r['kl_per_dim']:8.4f} {r['kl_theory']:8.4f} {r['mu_hill']:8.3f} "
                f"{r['mu_theory']:7.3f} {r['pr_median']:8.1f} {r['median_over_mean']:8.3f}",
                flush=True,
            )
        results.append(res)
    plot(results, args.out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    main()
