"""AP-BWE inference speed: real-time factors of the official-style pipeline and sigkit's fast path.

    python bench/apbwe.py --out results.json            # GPU (16/48 kHz, batch 1/16, 10 s) + CPU
    python bench/apbwe.py --skip-gpu --cpu-rates 16000  # CPU only
    python bench/apbwe.py --skip-cpu --rates 48000 --batches 16,1 --prelude-check --prelude-forms tile,rows \
        --gpu-variants sigkit_fast2,sigkit_fast2_triton     # the fused ConvNeXt prelude kernel vs Inductor

Pipelines (all on the full-size generator, 29.76 M parameters, 10 s of audio per item):

- ``eager_fp32``: the official inference: ``torch.stft`` -> generator -> ``torch.istft`` in float32,
  TF32 off (PyTorch's default for matmuls);
- ``eager_tf32``: the same with TF32 matmuls/convolutions allowed;
- ``compile_bf16``: bf16 autocast + ``torch.compile`` of the generator alone (STFTs outside, eager);
- ``sigkit_fast``: sigkit's path: the fused Triton ``amp_phase`` / ``from_amp_phase`` kernels
  (:mod:`sigkit.spectral`), the time-major generator (:meth:`APBWEGenerator.forward_time_major`), bf16
  autocast, the whole pipeline in one ``torch.compile(mode="reduce-overhead")`` graph (CUDA graphs);
- ``sigkit_fast2``: :class:`sigkit.audio.apbwe.fast.FastAPBWE`: ``front``/``layer``/``back`` compiled apart
  (one compiled layer reused for all 8), the 10 calls captured in one CUDA graph by hand; bf16 ConvNeXt and
  input products, the hidden layer's GELU in cuBLASLt's epilogue (tanh form), each residual addition fused
  with the next layer's exchange/depthwise conv/LayerNorm, fp32 (TF32) output heads, fp32 residual streams;
  ``sigkit_fast2_exact``: the same with the exact GELU as a separate pass; ``sigkit_fast2_autotune``: the
  same compiled with ``max-autotune-no-cudagraphs`` (minutes of autotuning). ``sigkit_fast2`` pins
  ``prelude="inductor"`` (each layer's residual additions, exchange, depthwise convs and LayerNorms fused by
  Inductor); ``sigkit_fast2_triton`` is the same path with ``prelude="triton"``, the hand-written kernel
  :mod:`sigkit.kernels.convnext_triton` (both streams in one launch). When both run, the triton variant's
  output is compared to the inductor one's (``..._vs_sigkit_fast2_rel``, ``..._lsd``);
- on CPU: ``eager_fp32`` against ``compile_gen_fp32`` (the generator compiled by Inductor) and
  ``sigkit_cpu`` (the whole pipeline with the time-major generator compiled by Inductor), fp32.

Real-time factor = seconds of audio processed per second of wall time (``x`` real time); GPU times use
CUDA events after warm-up. The fast path's output is compared to ``eager_fp32``'s with the official LSD
(the model is randomly initialised here: no trained full-size weights travel to the benchmark machine).
Needs only torch (+ triton on GPU); no soundfile/librosa.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import torch
from sigkit.audio.apbwe.fast import FastAPBWE
from sigkit.audio.apbwe.model import APBWEGenerator

from sigkit.metrics import lsd
from sigkit.spectral import STFTSpec, amp_phase, from_amp_phase

SPEC = STFTSpec(1024, 80, 320)


def test_signal(batch: int, seconds: float, sr: int, seed: int = 0) -> torch.Tensor:
    """Speech-like test input ``(batch, T)``: harmonics of a gliding f0 with formant-like weights.

    Band-limited to a quarter of ``sr`` (what a sinc-upsampled narrowband input looks like), plus noise.
    """
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    out = []
    for b in range(batch):
        f0 = 110 + 60 * torch.rand((), generator=g, dtype=torch.float64)
        inst = f0 * (1 + 0.1 * torch.sin(2 * math.pi * 0.7 * t + b))
        ph = 2 * math.pi * torch.cumsum(inst, 0) / sr
        x = torch.zeros_like(t)
        for h in range(1, int(sr / 4 / f0)):
            fh = h * f0
            amp = sum(math.exp(-(((fh - fc) / 180) ** 2)) for fc in (500, 1500, 2500)) + 0.05
            x += amp / h**0.5 * torch.sin(h * ph)
        env = 0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t).abs()
        x = x * env + 0.01 * torch.randn(t.shape, generator=g, dtype=torch.float64)
        out.append((0.3 * x / x.abs().max()).float())
    return torch.stack(out)


def official_pipeline(gen, autocast: bool = False):
    """torch.stft -> generator -> torch.istft, exactly as the official inference script.

    ``gen`` is the generator (or a compiled one); ``autocast`` runs it under CUDA bf16 autocast.
    """

    def run(x: torch.Tensor) -> torch.Tensor:
        w = torch.hann_window(SPEC.win, device=x.device)
        X = torch.stft(
            x, SPEC.n_fft, SPEC.hop, SPEC.win, window=w, center=True, pad_mode="reflect", return_complex=True
        )
        with torch.autocast("cuda", torch.bfloat16, enabled=autocast):
            a, p, _ = gen(torch.log(X.abs() + 1e-4), torch.angle(X))
        amp, p = torch.exp(a.float()), p.float()
        spec = torch.complex(amp * torch.cos(p), amp * torch.sin(p))
        return torch.istft(spec, SPEC.n_fft, SPEC.hop, SPEC.win, window=w, center=True)

    return run


def compiled_generator_pipeline(gen: APBWEGenerator, device: str = "cuda"):
    """The official pipeline with ``torch.compile(generator)`` (under bf16 autocast on CUDA)."""
    return official_pipeline(torch.compile(gen), autocast=device == "cuda")


def fast_pipeline(
    gen: APBWEGenerator,
    device: str,
    backend: str = "reference",
    mode: str = "reduce-overhead",
    example: torch.Tensor | None = None,
):
    """sigkit's path: time-major generator + bf16 autocast, all in one compiled graph with CUDA graphs.

    ``backend="auto"`` uses the fused Triton STFT kernels; the default ``"reference"`` (``torch.stft`` inside
    the graph) measured faster and closer to fp32 on the H100 (docs/benchmarks.md). ``example`` is run once
    eagerly first, so that cached windows are made outside the CUDA-graph memory pool.
    """

    def body(x: torch.Tensor) -> torch.Tensor:
        log_amp, phase = amp_phase(x, SPEC, backend=backend)
        if device == "cuda":
            with torch.autocast("cuda", torch.bfloat16):
                a, p = gen.forward_time_major(log_amp, phase)
        else:
            a, p = gen.forward_time_major(log_amp, phase)
        return from_amp_phase(a.float(), p.float(), SPEC, length=x.shape[-1], backend=backend)

    if example is not None:
        with torch.inference_mode():
            body(example)
    return torch.compile(body, mode=mode if device == "cuda" else None, dynamic=False)


def cpu_bf16_pipeline(gen: APBWEGenerator):
    """The official pipeline with the generator under CPU bf16 autocast (AMX/AVX512-BF16 matmuls)."""
    run = official_pipeline(gen)

    def body(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16):
            return run(x).float()

    return body


def time_major_pipeline(gen: APBWEGenerator, bf16: bool = False):
    def body(x: torch.Tensor) -> torch.Tensor:
        log_amp, phase = amp_phase(x, SPEC, backend="reference")
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            a, p = gen.forward_time_major(log_amp, phase)
        return from_amp_phase(a.float(), p.float(), SPEC, length=x.shape[-1], backend="reference")

    return body


def profile_kernels(fn, x: torch.Tensor, path: str, iters: int = 5) -> dict:
    """torch.profiler over ``iters`` calls: per-kernel GPU time per call, grouped, written to ``path`` (.txt/.json).

    Groups: ``gemm`` (cuBLAS/CUTLASS/Triton matrix templates), ``conv`` (cuDNN), ``fft`` (cuFFT),
    ``fused`` (other Triton kernels: norms, pointwise, reductions), ``other`` (copies, elementwise ATen).
    """
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        fn(x)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(iters):
                fn(x)
            torch.cuda.synchronize()
    rows = []
    for evt in prof.key_averages():
        t = getattr(evt, "self_device_time_total", 0) or 0
        if t > 0:
            rows.append((evt.key, t / iters / 1000, evt.count // iters))
    rows.sort(key=lambda r: -r[1])

    def group(name: str) -> str:
        n = name.lower()
        if any(k in n for k in ("gemm", "sm90_xmma", "cutlass", "triton_tem", "_mm_", "nvjet", "matmul")):
            return "gemm"
        if "prelude" in n:
            return "prelude"
        if any(k in n for k in ("conv", "cudnn", "implicit", "winograd")):
            return "conv"
        if "fft" in n:
            return "fft"
        if n.startswith("triton"):
            return "fused"
        return "other"

    groups: dict[str, float] = {}
    for name, ms, _ in rows:
        groups[group(name)] = groups.get(group(name), 0.0) + ms
    total = sum(groups.values())
    with open(path + ".txt", "w") as f:
        f.write(f"GPU time per call: {total:.3f} ms; groups (ms): {json.dumps({k: round(v, 3) for k, v in groups.items()})}\n")
        f.write(f"{'ms/call':>9} {'calls':>5}  kernel\n")
        for name, ms, count in rows:
            f.write(f"{ms:9.3f} {count:5d}  {name[:160]}\n")
    summary = {"gpu_ms_per_call": total, "groups_ms": groups, "top": [(n[:120], round(m, 3), c) for n, m, c in rows[:25]]}
    with open(path + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def micro_bench(batch: int, sr: int, seconds: float) -> dict:
    """Time the model's pieces alone (ms, median): the input convolution's layouts/precisions, the block
    GEMMs in bf16 (to know the card's achieved matrix rate) and the TF32 output heads."""
    import torch.nn.functional as F
    from triton.testing import do_bench

    n = int(seconds * sr) // SPEC.hop + 1
    dev, bf = "cuda", torch.bfloat16
    out: dict = {"rows": batch * n}
    x = torch.randn(batch, 513, n, device=dev)
    w, b = torch.randn(512, 513, 7, device=dev) * 0.02, torch.zeros(512, device=dev)
    xb, wb, bb = x.to(bf), w.to(bf), b.to(bf)
    xt = x.transpose(1, 2).contiguous().transpose(1, 2).to(bf)  # time-major memory, (B, F, N) view
    x520 = F.pad(x, (0, 0, 0, 7)).to(bf)
    w520 = F.pad(w, (0, 0, 0, 7)).to(bf)
    flop_conv = 2 * batch * n * 513 * 7 * 512
    cases = {
        "conv_pre_bf16": lambda: F.conv1d(xb, wb, bb, padding=3),
        "conv_pre_bf16_time_major_in": lambda: F.conv1d(xt, wb, bb, padding=3),
        "conv_pre_bf16_pad520": lambda: F.conv1d(x520, w520, bb, padding=3),
        "conv_pre_tf32": lambda: F.conv1d(x, w, b, padding=3),
    }
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    with torch.inference_mode():
        for name, fn in cases.items():
            ms = do_bench(fn, warmup=25, rep=100, return_mode="median")
            out[name] = {"ms": round(ms, 3), "tflops": round(flop_conv / ms / 1e9, 1)}
        a = torch.randn(batch * n, 512, device=dev, dtype=bf)
        w1 = torch.randn(1536, 512, device=dev, dtype=bf)
        h = torch.randn(batch * n, 1536, device=dev, dtype=bf)
        w2 = torch.randn(512, 1536, device=dev, dtype=bf)
        flop = 2 * batch * n * 512 * 1536
        for name, fn in {
            "gemm1_bf16": lambda: F.linear(a, w1),
            "gemm2_bf16": lambda: F.linear(h, w2),
            "gelu_bf16_hidden": lambda: F.gelu(h),
        }.items():
            ms = do_bench(fn, warmup=25, rep=100, return_mode="median")
            out[name] = {"ms": round(ms, 3), "tflops": round(flop / ms / 1e9, 1)}
        af, wh = a.float(), torch.randn(513 * 3, 512, device=dev)
        ms = do_bench(lambda: F.linear(af, wh), warmup=25, rep=100, return_mode="median")
        out["heads_tf32"] = {"ms": round(ms, 3), "tflops": round(2 * batch * n * 512 * 1539 / ms / 1e9, 1)}
        big = torch.empty(2**28, device=dev, dtype=torch.float32)
        ms = do_bench(lambda: big.clone(), warmup=10, rep=50, return_mode="median")
        out["copy_GBps"] = round(2 * big.numel() * 4 / ms / 1e6, 0)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    return out


def prelude_check(batch: int, sr: int, seconds: float, channels: int = 512) -> dict:
    """One layer's prelude at the real shape ``(batch, frames, 512)``: the Triton kernel against the compiled
    torch prelude (what ``FastAPBWE(prelude="inductor")`` runs): errors, and the time of each alone (ms, median).

    fp32 streams: largest error relative to the largest value, and relative to each value above 1e-3 of
    it; bf16 outputs: largest distance in bf16 units in the last place and the share of elements that differ.
    """
    from sigkit.audio.apbwe.fast import prelude
    from sigkit.kernels.convnext_triton import TUNING, convnext_prelude
    from triton.testing import do_bench

    n = int(seconds * sr) // SPEC.hop + 1
    g = torch.Generator(device="cuda").manual_seed(0)

    def r(*shape, scale=1.0, shift=0.0, dtype=torch.float32):
        return (shift + scale * torch.randn(*shape, generator=g, device="cuda")).to(dtype)

    x = [r(batch, n, channels, scale=2.0, shift=0.3), r(batch, n, channels, scale=2.0)]
    y = [r(batch, n, channels, dtype=torch.bfloat16), r(batch, n, channels, dtype=torch.bfloat16)]
    gm = [r(channels, scale=0.1, shift=0.125), r(channels, scale=0.1, shift=0.125)]
    w = [[r(channels, 7, scale=0.3), r(channels, scale=0.1), r(channels, scale=0.2, shift=1.0), r(channels, scale=0.1)]
         for _ in "mp"]
    compiled = torch.compile(prelude, dynamic=False)
    with torch.inference_mode():
        ref = compiled(*x, *y, *gm, w[0], w[1], torch.bfloat16)
        ref32 = prelude(*x, *y, *gm, w[0], w[1], torch.float32)  # eager fp32 LayerNorm outputs
        out = convnext_prelude(*x, *y, *gm, *w[0], *w[1], out_dtype=torch.bfloat16)
        torch.cuda.synchronize()
        res: dict = {"shape": [batch, n, channels]}
        for i, name in enumerate(("x_mag", "x_pha")):
            d = (out[i] - ref[i]).abs()
            big = ref[i].abs() > 1e-3 * ref[i].abs().max()
            res[f"{name}_max_rel"] = float(d.max() / ref[i].abs().max())
            res[f"{name}_max_elem_rel"] = float((d / ref[i].abs())[big].max())
        for i, name in ((2, "h_mag"), (3, "h_pha")):
            ulp = (out[i].view(torch.int16).int() - ref[i].view(torch.int16).int()).abs()
            res[f"{name}_max_ulp"] = int(ulp.max())
            res[f"{name}_differ_frac"] = float((ulp > 0).float().mean())
            res[f"{name}_max_rel_to_fp32"] = float(((out[i].float() - ref32[i]).abs() / ref32[i].abs().clamp_min(1e-2)).max())
        res["triton_ms"] = do_bench(lambda: convnext_prelude(*x, *y, *gm, *w[0], *w[1], out_dtype=torch.bfloat16),
                                    warmup=25, rep=200, return_mode="median")
        res["inductor_ms"] = do_bench(lambda: compiled(*x, *y, *gm, w[0], w[1], torch.bfloat16),
                                      warmup=25, rep=200, return_mode="median")
    moved = batch * n * channels * (4 + 4 + 2 + 2) * 2  # bytes read + written at the minimum (bf16 y, bf16 h)
    res["triton_GBps"] = round(moved / res["triton_ms"] / 1e6, 0)
    res["inductor_GBps"] = round(moved / res["inductor_ms"] / 1e6, 0)
    res["tuning_ms"] = {str(k): ({str(c): round(t, 4) for c, t in v["ms"].items()} if k != "errors" else str(v))
                        for k, v in TUNING.items()}
    return res


def time_it(
    fn, x: torch.Tensor, device: str, min_seconds: float = 1.0, max_iters: int = 50, warmup: int = 3
) -> float:
    """Median seconds per call after ``warmup`` calls."""
    with torch.inference_mode():
        for _ in range(warmup):
            y = fn(x)
        if device == "cuda":
            torch.cuda.synchronize()
        times = []
        start = time.perf_counter()
        while len(times) < max_iters and (time.perf_counter() - start < min_seconds or len(times) < 3):
            if device == "cuda":
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                y = fn(x)
                e1.record()
                torch.cuda.synchronize()
                times.append(e0.elapsed_time(e1) / 1000)
            else:
                t0 = time.perf_counter()
                y = fn(x)
                times.append(time.perf_counter() - t0)
        del y
    times.sort()
    return times[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rates", default="16000,48000")
    p.add_argument("--batches", default="1,16")
    p.add_argument("--skip-gpu", action="store_true")
    p.add_argument("--skip-cpu", action="store_true")
    p.add_argument("--cpu-rates", default="16000")
    p.add_argument("--cpu-threads", default=f"1,{os.cpu_count()}")
    p.add_argument("--gpu-variants", default="eager_tf32,compile_bf16,sigkit_fast,sigkit_fast2")
    p.add_argument(
        "--cpu-variants", default="compile_gen_fp32,sigkit_cpu,eager_bf16,time_major_fp32,time_major_bf16"
    )
    p.add_argument("--profile", default=None, help="folder: per-kernel GPU time tables of these variants")
    p.add_argument("--profile-variants", default="sigkit_fast,sigkit_fast2")
    p.add_argument("--micro", action="store_true", help="also time the model's pieces alone (GPU)")
    p.add_argument("--first-shape-only", default="", help="GPU variants to run for the first rate/batch only")
    p.add_argument("--prelude-forms", default=None,
                   help="kernel forms the fused prelude's timing may pick (sigkit.kernels.convnext_triton.AUTO_FORMS), e.g. tile,rows")
    p.add_argument("--prelude-check", action="store_true",
                   help="the fused ConvNeXt prelude kernel vs the compiled torch prelude alone, first rate/batch (GPU)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    results: dict = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "seconds": args.seconds,
        "gpu": [],
        "cpu": [],
    }
    if torch.cuda.is_available() and not args.skip_gpu:
        results["device"] = torch.cuda.get_device_name()
        gen = APBWEGenerator().cuda().eval()
        if args.prelude_forms:
            from sigkit.kernels import convnext_triton

            convnext_triton.AUTO_FORMS = tuple(args.prelude_forms.split(","))
        if args.prelude_check:
            rate, batch = int(args.rates.split(",")[0]), int(args.batches.split(",")[0])
            try:
                results["prelude_check"] = prelude_check(batch, rate, args.seconds)
            except Exception as err:  # noqa: BLE001 - reported; the end-to-end variants still run
                results["prelude_check"] = {"error": f"{type(err).__name__}: {str(err)[:500]}"}
            print(json.dumps(results["prelude_check"]), flush=True)
            torch.cuda.empty_cache()
        if args.micro:
            rate = int(args.rates.split(",")[0])
            results["micro"] = micro_bench(int(args.batches.split(",")[0]), rate, args.seconds)
            print(json.dumps(results["micro"]), flush=True)
        for sr in [int(r) for r in args.rates.split(",")]:
            for batch in [int(b) for b in args.batches.split(",")]:
                x = test_signal(batch, args.seconds, sr).cuda()
                audio = batch * args.seconds
                row = {"sr": sr, "batch": batch}
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
                eager = official_pipeline(gen)
                row["eager_fp32"] = audio / time_it(eager, x, "cuda")
                with torch.inference_mode():
                    ref = eager(x)
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
                wanted = args.gpu_variants.split(",")
                if "eager_tf32" in wanted:
                    row["eager_tf32"] = audio / time_it(eager, x, "cuda")
                makers = {
                    "compile_bf16": lambda: compiled_generator_pipeline(gen),
                    "sigkit_fast": lambda x=x: fast_pipeline(gen, "cuda", example=x),
                    "sigkit_fast_triton_stft": lambda x=x: fast_pipeline(
                        gen, "cuda", backend="auto", example=x
                    ),
                    "sigkit_fast2": lambda: FastAPBWE(gen, SPEC, prelude="inductor"),
                    "sigkit_fast2_triton": lambda: FastAPBWE(gen, SPEC, prelude="triton"),
                    "sigkit_fast2_exact": lambda: FastAPBWE(gen, SPEC, gelu="exact", prelude="inductor"),
                    "sigkit_fast2_autotune": lambda: FastAPBWE(
                        gen, SPEC, compile_mode="max-autotune-no-cudagraphs", prelude="inductor"
                    ),
                }
                outs: dict[str, torch.Tensor] = {}
                first_only = args.first_shape_only.split(",") if results["gpu"] else []
                for name in [w for w in wanted if w in makers and w not in first_only]:
                    fn = makers[name]()
                    try:
                        t0 = time.perf_counter()
                        with torch.inference_mode():
                            y = fn(x).clone()
                        row[f"{name}_first_call_s"] = round(time.perf_counter() - t0, 1)
                        row[name] = audio / time_it(fn, x, "cuda")
                        row[f"{name}_lsd_vs_eager_fp32"] = float(lsd(y.float(), ref).mean())
                        row[f"{name}_speedup"] = row[name] / row["eager_fp32"]
                        if name.startswith("sigkit_fast2"):
                            outs[name] = y
                        if name == "sigkit_fast2_triton" and "sigkit_fast2" in outs:
                            base = outs["sigkit_fast2"]
                            row[f"{name}_vs_sigkit_fast2_rel"] = float((y - base).norm() / base.norm())
                            row[f"{name}_vs_sigkit_fast2_lsd"] = float(lsd(y.float(), base.float()).mean())
                            from sigkit.kernels.convnext_triton import TUNING

                            row[f"{name}_tuning_ms"] = {
                                str(k): ({str(c): round(t, 4) for c, t in v["ms"].items()} if k != "errors" else str(v))
                                for k, v in TUNING.items()
                            }
                        print(json.dumps({k: v for k, v in row.items() if k.startswith(name) or k in ("sr", "batch")}), flush=True)
                        if args.profile and name in args.profile_variants.split(","):
                            os.makedirs(args.profile, exist_ok=True)
                            stem = os.path.join(args.profile, f"prof_{name}_{sr // 1000}k_b{batch}")
                            prof = profile_kernels(fn, x, stem)
                            row[f"{name}_profile_groups_ms"] = {k: round(v, 3) for k, v in prof["groups_ms"].items()}
                            if isinstance(fn, FastAPBWE):  # the same kernels without the CUDA graph
                                profile_kernels(fn.run, x, stem + "_nograph")
                    except Exception as err:  # noqa: BLE001 - a failing variant is reported, the rest still run
                        row[f"{name}_error"] = f"{type(err).__name__}: {str(err)[:300]}"
                    del fn
                results["gpu"].append(row)
                print(json.dumps(row), flush=True)
                torch.compiler.reset()
        del gen
        torch.cuda.empty_cache()
    if not args.skip_cpu:
        gen = APBWEGenerator().eval()
        for sr in [int(r) for r in args.cpu_rates.split(",")]:
            x = test_signal(1, args.seconds, sr)
            for threads in [int(t) for t in args.cpu_threads.split(",")]:
                torch.set_num_threads(threads)
                row = {"sr": sr, "batch": 1, "threads": threads}
                eager = official_pipeline(gen)
                row["eager_fp32"] = args.seconds / time_it(
                    eager, x, "cpu", min_seconds=2.0, max_iters=5, warmup=1
                )
                with torch.inference_mode():
                    ref = eager(x)
                makers = {
                    "compile_gen_fp32": lambda: compiled_generator_pipeline(gen, "cpu"),
                    "sigkit_cpu": lambda: fast_pipeline(gen, "cpu"),
                    "eager_bf16": lambda: cpu_bf16_pipeline(gen),
                    "time_major_fp32": lambda: time_major_pipeline(gen),
                    "time_major_bf16": lambda: time_major_pipeline(gen, bf16=True),
                }
                for name in [w for w in args.cpu_variants.split(",") if w in makers]:
                    fn = makers[name]()
                    try:
                        with torch.inference_mode():
                            y = fn(x)
                        row[name] = args.seconds / time_it(
                            fn, x, "cpu", min_seconds=2.0, max_iters=5, warmup=2
                        )
                        row[f"{name}_speedup"] = row[name] / row["eager_fp32"]
                        row[f"{name}_lsd_vs_eager_fp32"] = float(lsd(y, ref).mean())
                    except Exception as err:  # noqa: BLE001
                        row[f"{name}_error"] = f"{type(err).__name__}: {str(err)[:300]}"
                torch.compiler.reset()
                results["cpu"].append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
