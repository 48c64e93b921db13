"""AP-BWE quality against the sinc baseline, the official way: LSD and SNR (and WB-PESQ at 16 kHz when the
``pesq`` package imports) on PCM_16-rounded outputs, with and without ``--keep-lowband``.

    python bench/apbwe_quality.py --ckpt model.ckpt --data /data/VCTK-Corpus-0.92     # VCTK test split
    python bench/apbwe_quality.py --ckpt demo_out/apbwe_tiny.ckpt                      # synthetic held-out
    python bench/apbwe_quality.py --official g_8kto16k --sr-in 8000 --sr-out 16000 --data ...

Prints a markdown table (one row per method, LSD/SNR/PESQ per input rate) and optionally writes it.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import torch
from sigkit.audio.apbwe.data import BWEDataset, discover_vctk, synthetic_utterances
from sigkit.audio.apbwe.infer import APBWE, splice_lowband
from sigkit.audio.apbwe.module import format_results_table, pesq_available, quantize_pcm16

from sigkit.metrics import lsd, snr


def evaluate(model: APBWE, items, limit: int | None = None) -> dict[int, dict[str, dict[str, list[float]]]]:
    """``{sr_in: {method: {metric: [per-utterance values]}}}`` for sinc, AP-BWE and AP-BWE + low band."""
    ds = BWEDataset(items, model.sr_out, model.sr_in_rates, segment=None, train=False)
    scores: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    n = len(ds) if limit is None else min(limit * len(model.sr_in_rates), len(ds))
    use_pesq = model.sr_out == 16000 and pesq_available()
    for k in range(n):
        ex = ds[k]
        wb, nb, rate = ex["wb"], ex["nb"].to(model.device), ex["sr_in"]
        with torch.inference_mode():
            out = model.extend_narrowband([nb])[0]
            out_lb = splice_lowband(out[None], nb[None], rate / 2, model.sr_out, model.spec)[0]
        for name, est in (("sinc", nb), ("AP-BWE", out), ("AP-BWE + keep-lowband", out_lb)):
            est = quantize_pcm16(est.float().cpu())
            scores[rate][name]["lsd"].append(float(lsd(est, wb)))
            scores[rate][name]["snr"].append(float(snr(est, wb)))
            if use_pesq:
                from pesq import pesq

                scores[rate][name]["pesq"].append(float(pesq(16000, wb.numpy(), est.numpy(), "wb")))
    return scores


def table(scores, sr_out: int) -> str:
    n = len(next(iter(next(iter(scores.values())).values()))["lsd"])
    return (
        format_results_table(scores, sr_out, digits=3)
        + f"\n\n({n} utterances per input rate; outputs rounded to PCM_16 as the official script)"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", help="a `sigkit fit` checkpoint")
    p.add_argument("--official", help="an official AP-BWE generator file (with --sr-in/--sr-out)")
    p.add_argument("--sr-in", type=int)
    p.add_argument("--sr-out", type=int)
    p.add_argument(
        "--data", help="VCTK-Corpus-0.92 folder (test split); default: synthetic held-out utterances"
    )
    p.add_argument("--limit", type=int, default=None, help="at most this many utterances")
    p.add_argument("--synthetic", type=int, default=8, help="synthetic utterances when --data is not given")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="also write the table (markdown) here")
    args = p.parse_args(argv)
    if bool(args.ckpt) == bool(args.official):
        p.error("give exactly one of --ckpt and --official")
    model = (
        APBWE.from_checkpoint(args.ckpt, map_location=args.device)
        if args.ckpt
        else APBWE.from_official(args.official, args.sr_in, args.sr_out, map_location=args.device)
    )
    items = (
        discover_vctk(args.data, model.sr_out)["test"]
        if args.data
        else synthetic_utterances(args.synthetic, 2.0, model.sr_out, seed=20_000, prefix="bench")
    )
    text = table(evaluate(model, items, args.limit), model.sr_out)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
