"""``sigkit bwe``'s model loop on a folder's worth of clips: eager fp32 vs ``APBWE(fast=True)``.

    python bench/apbwe_extend.py --device cuda --clips 64 --min-seconds 1 --max-seconds 8 --long 2

Runs :meth:`APBWE.extend_narrowband` as ``sigkit bwe`` does (``--batch-size`` files per call, narrowband
input already at the target rate, so no file I/O or resampling is timed) over random-length clips plus a
few long recordings, twice: the first pass includes the fast path's compilations (one per batch shape),
the second is warm. Prints x real time for both passes, the number of shapes compiled, and the fast
output's LSD from the eager one. Full-size generator, randomly initialised (no trained weights travel).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from sigkit.audio.apbwe.infer import APBWE
from sigkit.audio.apbwe.model import APBWEGenerator

from sigkit.metrics import lsd


def clips(n: int, lo: float, hi: float, long: int, long_seconds: float, sr: int) -> list[torch.Tensor]:
    """Speech-band test signals: harmonic tones under 4 kHz plus noise, ``n`` of random length and ``long`` long ones."""
    g = torch.Generator().manual_seed(0)
    lengths = [int(sr * (lo + (hi - lo) * float(torch.rand((), generator=g)))) for _ in range(n)]
    lengths += [int(sr * long_seconds)] * long
    out = []
    for k, length in enumerate(lengths):
        t = torch.arange(length) / sr
        f0 = 100 + 10 * k % 120
        x = sum(torch.sin(2 * math.pi * f0 * h * t) / h for h in range(1, int(3800 / f0)))
        out.append((0.2 * x / x.abs().max() + 0.005 * torch.randn(length, generator=g)).float())
    return out


def run(model: APBWE, signals: list[torch.Tensor], files_per_call: int) -> tuple[list[torch.Tensor], float]:
    sync = torch.cuda.synchronize if signals[0].is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(signals), files_per_call):
            outs += model.extend_narrowband(signals[i : i + files_per_call])
    sync()
    return outs, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=8.0)
    p.add_argument("--long", type=int, default=2, help="recordings of --long-seconds each (chunked)")
    p.add_argument("--long-seconds", type=float, default=45.0)
    p.add_argument("--sr", type=int, default=16000, help="target rate (input is 8 kHz-band audio at this rate)")
    p.add_argument("--batch-size", type=int, default=8, help="files per call, as sigkit bwe --batch-size")
    p.add_argument("--channels", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    args = p.parse_args(argv)

    torch.manual_seed(0)
    gen = APBWEGenerator(channels=args.channels, layers=args.layers).to(args.device).eval()
    signals = [s.to(args.device) for s in clips(args.clips, args.min_seconds, args.max_seconds, args.long,
                                                args.long_seconds, args.sr)]
    audio_s = sum(s.shape[-1] for s in signals) / args.sr
    print(f"{len(signals)} signals, {audio_s:.1f} s of audio at {args.sr} Hz, {args.batch_size} files per call, "
          f"device {torch.cuda.get_device_name() if args.device == 'cuda' else args.device}")
    results = {}
    for name, kw in (("eager_fp32", {}), ("fast", {"fast": True})):
        model = APBWE(gen, 8000, args.sr, max_batch=max(16, args.batch_size), **kw)
        outs, cold = run(model, signals, args.batch_size)
        outs, warm = run(model, signals, args.batch_size)
        shapes = len(model._fast_path._graphs) if model._fast_path is not None and model._fast_path.cuda_graph else "-"
        results[name] = outs
        print(f"{name:11s} first pass {cold:7.2f} s ({audio_s / cold:8.1f}x real time)   "
              f"second pass {warm:7.3f} s ({audio_s / warm:8.1f}x real time)   shapes compiled: {shapes}")
    d = torch.stack([lsd(f, e) for f, e in zip(results["fast"], results["eager_fp32"], strict=True)])
    print(f"fast vs eager_fp32: LSD mean {float(d.mean()):.4f}, max {float(d.max()):.4f} (random weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
