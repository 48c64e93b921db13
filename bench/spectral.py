"""Benchmark of the fused spectral kernels (issue 3, item 5) against the eager and compiled torch chains.

For each configuration and op, in one run on one GPU: the CUDA C kernel (``backend="cuda"``: float32
shared-memory FFT compiled by NVRTC), the Triton kernel (``backend="triton"``), the
eager torch chain (``backend="reference"``: ``torch.stft -> abs/angle -> log -> mel matmul``,
``polar -> torch.istft``) and the same chain under ``torch.compile``.

Timing (what makes arms comparable within one run): every arm of a row is built and warmed up first
(compilation outside the timing), then a ~200 ms GPU spin brings the clocks up, then the arms are timed
round-robin: each repetition times every arm once (rotating the order), each after overwriting a 256 MB
buffer to flush the 50 MB L2, with CUDA events. A drift of clocks or of a neighbour's load then hits all
arms alike. Reported: the median (``ms``) and the ``min..max`` spread of the repetitions, and the achieved
fraction of the measured HBM bandwidth for the op's minimal bytes (inputs read once, outputs written
once, float32). A difference between two arms smaller than their spreads is noise.

Usage::

    python bench/spectral.py                 # full table (markdown) on stdout, JSON with --json PATH
    python bench/spectral.py --quick         # batch 32 only, no torch.compile arm
    python bench/spectral.py --tune fft,path  # sweep block shapes / DFT paths on a few configs
    python bench/spectral.py --tune cuda_analysis,cuda_synthesis  # frames/threads per block of the CUDA kernels
    python bench/spectral.py --static-regs   # registers/spills of every CUDA kernel variant (no GPU needed)
    python bench/spectral.py --arms eager,compiled --cuda-variants block,warp,fast,warp_fast --configs 0,3
                                             # the CUDA kernel variants side by side
    python bench/spectral.py --arms eager --cuda-variants default,warp_fast:a16x512 --configs 0
                                             # a variant in a forced tile (a: analysis, s: synthesis)
    ncu --profile-from-start off --nvtx ... python bench/spectral.py --profile 0:amp_phase:32,3:log_mel_whisper_bwd:32
                                             # one call of each op inside cudaProfilerStart/Stop (Nsight Compute)
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time

import torch
from sigkit.kernels import _spectral_cuda as kc
from sigkit.kernels import spectral as ks

from sigkit.spectral import STFTSpec, amp_phase, from_amp_phase, log_mel, spectrogram

_APBWE_OPS = ["amp_phase", "from_amp_phase", "amp_phase_fwd_bwd"]
# name, sample rate, seconds, n_fft, hop, win, n_mels, ops
CONFIGS = [
    ("AP-BWE 16k 1024/80/320", 16000, 10, 1024, 80, 320, 0, _APBWE_OPS),
    ("AP-BWE 48k 1024/80/320", 48000, 10, 1024, 80, 320, 0, _APBWE_OPS),
    ("16k 512/128", 16000, 10, 512, 128, 512, 80, ["power", "amp_phase", "log_mel_db", "from_amp_phase"]),
    ("Whisper 400/160/80 30 s", 16000, 30, 400, 160, 400, 80, ["log_mel_whisper", "log_mel_whisper_fwd_bwd"]),
    ("TTS 22.05k 1024/256/80", 22050, 10, 1024, 256, 1024, 80, ["log_mel_natural_mag", "log_mel_fwd_bwd"]),
    ("48k 2048/512", 48000, 10, 2048, 512, 2048, 128, ["power", "amp_phase", "log_mel_db", "from_amp_phase"]),
]


class Flusher:
    """Overwrites a buffer larger than L2 so each repetition starts with a cold cache."""

    def __init__(self, mb: int = 256):
        self.buf = torch.empty(mb * 2**20 // 4, device="cuda", dtype=torch.float32)

    def __call__(self):
        self.buf.fill_(1.0)


def spin(ms: float = 200.0) -> None:
    """Keep the GPU busy with matrix products for about ``ms`` milliseconds (clocks up before timing)."""
    a = torch.randn(2048, 2048, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    while (time.perf_counter() - t0) * 1e3 < ms:
        for _ in range(8):
            a = torch.tanh(a @ a)
        torch.cuda.synchronize()


HEAD_START_CYCLES = 2_000_000  # ~1 ms of GPU sleep before each timed call (2 GHz): the host enqueues meanwhile


def time_arms(runs: dict, flush: Flusher, reps: int = 30, warmup: int = 3, ctx=None) -> dict[str, dict[str, list[float]]]:
    """Times (ms) of each repetition of each run in ``runs`` (name -> callable), round-robin.

    Each run is warmed up ``warmup`` times; then, after a GPU spin, every repetition times every run
    once, in an order rotated by one each repetition, twice:

    - ``"device"``: L2 flush, a ~1 ms GPU sleep (so that the host has enqueued the call's launches before
      the GPU reaches them), CUDA events around the call: the GPU time of the call's kernels, host launch
      overhead excluded unless the host is slower than the GPU;
    - ``"wall"``: L2 flush, synchronise, host clock around the call and a synchronise: what one call costs
      a caller who waits for it (launch overhead included; the issue's batch-1 criterion).

    ``ctx(name)``: a context manager held around each call of that run (kernel variants, tiles).
    """
    names = list(runs)
    ctx = ctx or (lambda name: kc.variant())
    for n in names:
        with ctx(n):
            for _ in range(warmup):
                runs[n]()
    torch.cuda.synchronize()
    spin()
    times: dict[str, dict[str, list[float]]] = {n: {"device": [], "wall": []} for n in names}
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in names]
    for i in range(reps):
        k = i % len(names)
        for j, n in enumerate(names[k:] + names[:k]):
            start, end = ev[j]
            with ctx(n):
                flush()
                torch.cuda._sleep(HEAD_START_CYCLES)
                start.record()
                runs[n]()
                end.record()
                torch.cuda.synchronize()
                times[n]["device"].append(start.elapsed_time(end))
                flush()
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                runs[n]()
                torch.cuda.synchronize()
                times[n]["wall"].append((time.perf_counter() - t0) * 1e3)
    return times


def time_ms(fn, flush: Flusher, reps: int = 20, warmup: int = 3) -> float:
    """Median device time (ms) of one callable (see :func:`time_arms`)."""
    return statistics.median(time_arms({"fn": fn}, flush, reps, warmup)["fn"]["device"])


def hbm_bandwidth(flush: Flusher) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write)."""
    src = torch.randn(2**28, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), flush, reps=10)
    return 2 * src.numel() * 4 / (ms * 1e-3)


def make_op(op: str, spec: STFTSpec, sr: int, n_mels: int, backend: str):
    """The op as a function of its inputs (``*_fwd_bwd``: the forward whose gradient is timed)."""
    op = op.replace("_fwd_bwd", "")
    if op == "amp_phase":
        return lambda x: amp_phase(x, spec, 1e-4, backend=backend)
    if op == "power":
        return lambda x: spectrogram(x, spec, 2.0, backend=backend)
    if op == "from_amp_phase":
        return lambda la, ph: from_amp_phase(la, ph, spec, backend=backend)
    if op == "log_mel_db":
        return lambda x: log_mel(x, spec, sr, n_mels, mode="db", backend=backend)
    if op.startswith("log_mel_whisper"):
        return lambda x: log_mel(x, spec, sr, n_mels, mode="whisper", backend=backend)
    if op in ("log_mel_natural_mag", "log_mel"):
        return lambda x: log_mel(x, spec, sr, n_mels, power=1.0, mode="natural", backend=backend)
    raise ValueError(op)


def fwd_bwd(fn, inputs, grads):
    def run():
        outs = fn(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return torch.autograd.grad(outs, inputs, grads)

    return run


def minimal_bytes(op: str, B: int, N: int, F: int, T: int, M: int) -> int:
    wave, spec1, mel1 = B * N * 4, B * F * T * 4, B * M * T * 4
    return {
        "amp_phase": wave + 2 * spec1,
        "power": wave + spec1,
        "from_amp_phase": 2 * spec1 + wave,
        "log_mel_db": wave + mel1,
        "log_mel_whisper": wave + mel1,
        "log_mel_natural_mag": wave + mel1,
        # forward (read x, write outputs) + backward (read output grads and saved outputs/x, write grad x)
        "amp_phase_fwd_bwd": wave + 2 * spec1 + 4 * spec1 + wave,
        "log_mel_whisper_fwd_bwd": wave + mel1 + 2 * mel1 + 2 * wave,
        "log_mel_fwd_bwd": wave + mel1 + 2 * mel1 + 2 * wave,
    }[op]


KERNEL_ARMS = ("cuda", "triton")
# CUDA kernel variants (kernels/_spectral_cuda.VARIANT) timed side by side with --cuda-variants as arms
# "cuda@<name>": (warp, fast, lean, reg); warp and fast for both kinds, lean and reg (the register-resident FFT,
# n_fft 128-2048 powers of two; elsewhere ignored) for the analysis kernel;
# "default" = the per-geometry defaults (AUTO). A name may be followed by forced tiles,
# ":a<frames>x<threads>" (analysis) and ":s<frames>x<threads>" (synthesis).
CUDA_VARIANTS = {"block": (0, 0, 0, 0), "warp": (1, 0, 0, 0), "fast": (0, 1, 0, 0), "warp_fast": (1, 1, 0, 0),
                 "block_lean": (0, 0, 1, 0), "fast_lean": (0, 1, 1, 0), "warp_fast_lean": (1, 1, 1, 0),
                 "reg": (0, 0, 0, 1), "reg_fast_lean": (1, 1, 1, 1),  # analysis FFT register-resident (synthesis as named)
                 "default": (None, None, None, None),
                 "default_unfused": (None, None, None, None),  # the defaults with the previous mel backward (ks.CUDA_MEL_BWD off)
                 "default_op": (None, None, None, None)}  # the defaults, every call through its custom op (ks.DIRECT off)


def _arm_backend(arm: str) -> str:
    base = arm.split("@")[0]
    return base if base in KERNEL_ARMS else "reference"


def _is_variant(arm: str) -> bool:
    return arm.startswith("cuda@") and arm[5:].split(":")[0] in CUDA_VARIANTS


class _variant_ctx:
    """Context of arm ``cuda@<name>[:a<tt>x<nt>][:s<tt>x<nt>]``: kernel variant flags, forced tiles and the
    mel-backward path and the host path (``kc.VARIANT``, ``kc.CONFIG``, ``ks.CUDA_MEL_BWD``, ``ks.DIRECT``),
    restored on exit; a no-op for the other arms. (Changing the flags or tiles drops the cached launch plans:
    the next call of each arm recomputes its plan once, inside a device-time call's 1 ms head start.)"""

    def __init__(self, arm: str):
        self.flags, self.tiles, self.fused, self.direct = None, {}, True, True
        if "@" in arm:
            name, *tiles = arm.split("@", 1)[1].split(":")
            self.fused = name != "default_unfused"
            self.direct = name != "default_op"
            warp, fast, lean, reg = CUDA_VARIANTS[name]
            self.flags = kc.variant(analysis=dict(warp=warp, fast=fast, lean=lean, reg=reg),
                                    synthesis=dict(warp=warp, fast=fast))
            for t in tiles:
                kind = {"a": "analysis", "s": "synthesis"}[t[0]]
                tt, nt = (int(v) for v in t[1:].split("x"))
                self.tiles[kind] = (tt, nt)

    def __enter__(self):
        if self.flags is not None:
            self.flags.__enter__()
        self.saved = dict(kc.CONFIG), ks.CUDA_MEL_BWD, ks.DIRECT
        if self.tiles:
            kc.CONFIG.update(self.tiles)
        ks.CUDA_MEL_BWD, ks.DIRECT = self.fused, self.direct
        return self

    def __exit__(self, *exc):
        if kc.CONFIG != self.saved[0]:
            kc.CONFIG.clear()
            kc.CONFIG.update(self.saved[0])
        ks.CUDA_MEL_BWD, ks.DIRECT = self.saved[1], self.saved[2]
        if self.flags is not None:
            self.flags.__exit__(*exc)


_DEVICE = "cuda"  # where _inputs puts the signals ("cpu" for --host-cpu)


def _inputs(cfg, op, B):
    """``(spec, inputs, F, T, N)`` of one row: a seeded 0.1-scale noise waveform ``(B, sr * secs)``, or
    for the inverse its reference (log-amplitude, phase)."""
    name, sr, secs, n_fft, hop, win, n_mels, _ = cfg
    spec = STFTSpec(n_fft, hop, win)
    N = sr * secs
    gen = torch.Generator(device=_DEVICE).manual_seed(0)
    x = 0.1 * torch.randn(B, N, device=_DEVICE, generator=gen)
    la, ph = amp_phase(x, spec, backend="reference")
    F, T = la.shape[-2:]
    inputs = (la.contiguous(), ph.contiguous()) if op == "from_amp_phase" else (x,)
    return spec, inputs, F, T, N


def _runner(cfg, op, spec, inputs, arm):
    """The callable that one repetition of ``arm`` times (``*_fwd_bwd``: forward + autograd.grad)."""
    fn = make_op(op, spec, cfg[1], cfg[6], _arm_backend(arm))
    if arm == "compiled":
        fn = torch.compile(fn, fullgraph=False, dynamic=False)
    if not op.endswith("fwd_bwd"):
        return lambda fn=fn: fn(*inputs)
    ins = tuple(t.detach().requires_grad_() for t in inputs)
    with _variant_ctx(arm):
        outs = fn(*ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    grads = tuple(torch.randn_like(o) for o in outs)
    return fwd_bwd(fn, ins, grads)


def bench_one(cfg, op, B, flush, peak_bw, compile_arm: bool, reps: int, eager_ms: float | None = None,
              arms: tuple[str, ...] = ("cuda", "triton", "eager", "compiled")):
    """One row: every arm timed round-robin in this process (:func:`time_arms`); ``row[arm]`` the median
    device ms, ``row[arm + "_min"]`` / ``row[arm + "_max"]`` its spread, ``row[arm + "_wall"]`` the median
    wall ms of a waited-for call; ``eager_ms``: reuse this eager time."""
    spec, inputs, F, T, N = _inputs(cfg, op, B)
    row = dict(config=cfg[0], op=op, batch=B, reps=reps)
    runs = {}
    for arm in arms:
        if arm == "compiled" and not compile_arm:
            continue
        if arm == "eager" and eager_ms is not None:
            row["eager"] = eager_ms
            continue
        t0 = time.time()
        try:
            run = _runner(cfg, op, spec, inputs, arm)
            with _variant_ctx(arm):  # read at launch time (forward and backward): held around each call
                run()
            torch.cuda.synchronize()
            runs[arm] = run
        except Exception as exc:  # noqa: BLE001 - report compile failures as such
            row[arm] = None
            row[arm + "_error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        row[arm + "_first_s"] = round(time.time() - t0, 1)
    if runs:
        times = time_arms(runs, flush, reps, ctx=_variant_ctx)
        for arm, tk in times.items():
            ts = tk["device"]
            row[arm] = statistics.median(ts)
            row[arm + "_min"], row[arm + "_max"] = min(ts), max(ts)
            row[arm + "_wall"] = statistics.median(tk["wall"])
            row[arm + "_wall_min"], row[arm + "_wall_max"] = min(tk["wall"]), max(tk["wall"])
    M = cfg[6] if "mel" in op else 0
    row["bytes"] = minimal_bytes(op, B, N, F, T, M)
    for k in [a for a in row if a in KERNEL_ARMS or _is_variant(a)]:
        if row.get(k):
            row[k + "_hbm_frac"] = row["bytes"] / (row[k] * 1e-3) / peak_bw
            for arm in ("eager", "compiled"):
                if row.get(arm):
                    row[f"{k}_x_{arm}"] = row[arm] / row[k]
                if row.get(arm + "_wall") and row.get(k + "_wall"):
                    row[f"{k}_x_{arm}_wall"] = row[arm + "_wall"] / row[k + "_wall"]
    return row


def fmt(v, spec="{:.3f}"):
    return "-" if v is None else spec.format(v)


def cell(r, arm) -> str:
    """``median (min..max)`` ms of ``arm`` in row ``r``."""
    if r.get(arm) is None:
        return "-"
    if r.get(arm + "_min") is None:
        return fmt(r[arm])
    return f"{r[arm]:.3f} ({r[arm + '_min']:.3f}..{r[arm + '_max']:.3f})"


def _walls(r, arms) -> str:
    """Median wall ms of each arm, with the (min..max) of its repetitions."""
    return " / ".join(fmt(r.get(a + "_wall")) if r.get(a + "_wall_min") is None else
                      f"{r[a + '_wall']:.3f} ({r[a + '_wall_min']:.3f}..{r[a + '_wall_max']:.3f})" for a in arms)


def table(rows) -> str:
    """Markdown table of the cuda / triton arms against the eager and compiled chains: device ms as
    ``median (min..max)``, ratios of medians, and the median wall ms of a waited-for call."""
    arms = ("cuda", "triton", "eager", "compiled")
    lines = ["| config | op | B | cuda ms | triton ms | eager ms | compiled ms | cuda x eager | cuda x compiled "
             "| triton x eager | cuda HBM % of min bytes | wall ms cuda / triton / eager / compiled | cuda x eager wall |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hbm = r.get("cuda_hbm_frac")
        lines.append(
            f"| {r['config']} | {r['op']} | {r['batch']} | {cell(r, 'cuda')} | {cell(r, 'triton')} | "
            f"{cell(r, 'eager')} | {cell(r, 'compiled')} | {fmt(r.get('cuda_x_eager'), '{:.1f}')} | "
            f"{fmt(r.get('cuda_x_compiled'), '{:.1f}')} | {fmt(r.get('triton_x_eager'), '{:.1f}')} | "
            f"{fmt(100 * hbm if hbm else None, '{:.0f}')} | {_walls(r, arms)} | {fmt(r.get('cuda_x_eager_wall'), '{:.1f}')} |"
        )
    return "\n".join(lines)


def variant_table(rows, names) -> str:
    """Markdown table of the ``cuda@<name>`` arms against the eager and compiled chains: device ms as
    ``median (min..max)``, ratio of medians, then the median wall ms of a waited-for call of each arm."""
    head = " | ".join(f"{n} ms | {n} x eager" for n in names)
    arms = ("eager", "compiled", *(f"cuda@{n}" for n in names))
    lines = [f"| config | op | B | eager ms | compiled ms | {head} | best HBM % | wall ms {' / '.join(arms)} |",
             "|---|---|---|---|---|" + "---|---|" * len(names) + "---|---|"]
    for r in rows:
        cells = " | ".join(f"{cell(r, 'cuda@' + n)} | {fmt(r.get(f'cuda@{n}_x_eager'), '{:.1f}')}" for n in names)
        best = max((r.get(f"cuda@{n}_hbm_frac") or 0.0) for n in names)
        lines.append(f"| {r['config']} | {r['op']} | {r['batch']} | {cell(r, 'eager')} | {cell(r, 'compiled')} "
                     f"| {cells} | {100 * best:.0f} | {_walls(r, arms)} |")
    return "\n".join(lines)


TUNE = {
    # dense DFT on the TF32-split padded signal (n_fft < 256): (BF bins, BT frames, BK samples, warps, stages)
    "split": [(64, 64, 32, 4, 3), (128, 128, 32, 8, 2), (64, 128, 32, 4, 3), (128, 128, 16, 8, 3)],
    "mel_split": [(32, 64, 32, 4, 3), (64, 64, 32, 8, 2), (128, 64, 16, 8, 3)],
    # two-level analysis / synthesis: (frames per program, -, -, warps, stages); default: _fft_tile_shape
    "fft": [(8, 0, 0, 8, 2), (4, 0, 0, 4, 2), (8, 0, 0, 4, 2), (16, 0, 0, 8, 2), (2, 0, 0, 4, 2), (16, 0, 0, 4, 2)],
    "fft_synthesis": [(4, 0, 0, 8, 2), (1, 0, 0, 4, 2), (2, 0, 0, 4, 2)],
    # dense synthesis (n_fft < 256): (BT frames, BF bins, BN samples, warps, stages), tf32x3 / TF32-split
    "synthesis": [(64, 32, 64, 4, 2), (64, 64, 64, 8, 2), (128, 32, 64, 8, 2), (32, 32, 64, 4, 2)],
    "synthesis_split": [(64, 32, 64, 4, 2), (64, 32, 128, 8, 2), (32, 32, 256, 8, 2)],
    # analysis DFT path: dense one-GEMM (DENSE_MAX_WIN huge) or two-level (DENSE_MAX_WIN 0)
    "path": ["dense", "fft"],
    # CUDA kernels: (frames per block, threads); kernels/_spectral_cuda.py CONFIG
    "cuda_analysis": [(16, 512), (8, 512), (4, 256)],
    "cuda_synthesis": [(16, 512), (8, 256), (8, 512), (32, 512)],
    # the same under the warp_fast variant (threads a multiple of 32 wpf(n_fft); synthesis <= 384: registers)
    "cuda_analysis_warp": [(8, 256), (16, 512), (4, 128), (8, 128), (16, 256)],
    "cuda_synthesis_warp": [(16, 384), (8, 256), (16, 256)],
}
TUNE_CASES = {
    "split": [(0, "amp_phase"), (2, "power")],
    "mel_split": [(3, "log_mel_whisper"), (2, "log_mel_db")],
    "fft": [(0, "amp_phase"), (5, "amp_phase"), (2, "power")],
    "fft_synthesis": [(0, "from_amp_phase"), (5, "from_amp_phase"), (2, "from_amp_phase")],
    "synthesis": [(0, "from_amp_phase"), (2, "from_amp_phase")],
    "synthesis_split": [(0, "from_amp_phase"), (2, "from_amp_phase")],
    "path": [(0, "amp_phase"), (2, "power"), (3, "log_mel_whisper"), (4, "log_mel_natural_mag"), (5, "amp_phase"),
             (5, "log_mel_db")],
    "cuda_analysis": [(0, "amp_phase"), (3, "log_mel_whisper"), (5, "amp_phase"), (4, "log_mel_natural_mag")],
    "cuda_synthesis": [(0, "from_amp_phase"), (5, "from_amp_phase"), (2, "from_amp_phase")],
    "cuda_analysis_warp": [(0, "amp_phase"), (3, "log_mel_whisper")],
    "cuda_synthesis_warp": [(0, "from_amp_phase")],
}


def tune(flush, peak_bw, reps, kernels, batch=32):
    """Time each variant of each kernel's block shapes on its cases (eager chain once per case)."""
    out = []
    for kernel in kernels:
        variants = TUNE[kernel]
        for ci, op in TUNE_CASES[kernel]:
            if kernel.startswith("cuda_"):
                # every tile of the case in one round-robin row (arms cuda@<variant>:<a|s><tt>x<nt>)
                name = "warp_fast" if kernel.endswith("_warp") else "default"
                kind = "a" if "analysis" in kernel else "s"
                arms = {f"cuda@{name}:{kind}{tt}x{nt}": (tt, nt) for tt, nt in variants}
                r = bench_one(CONFIGS[ci], op, batch, flush, peak_bw, False, reps, arms=("eager", *arms))
                for arm, v in arms.items():
                    ms, eager = r.get(arm), r.get("eager")
                    ratio = f"{eager / ms:.2f}x eager" if (ms and eager) else r.get(arm + "_error", "")
                    print(f"tune {kernel} {CONFIGS[ci][0]} {op} B={batch} {v}: {cell(r, arm)} ms "
                          f"(eager {cell(r, 'eager')}) {ratio}", flush=True)
                    out.append(dict(kernel=kernel, config=CONFIGS[ci][0], op=op, variant=v, ms=ms, eager=eager,
                                    min=r.get(arm + "_min"), max=r.get(arm + "_max")))
                continue
            saved = (dict(ks.CONFIG), ks.DENSE_MAX_WIN, ks.FFT_SYNTHESIS_MIN_NFFT, ks.SYNTHESIS_SPLIT, ks.FFT_MIN_NFFT)
            if kernel in ("synthesis", "synthesis_split"):
                ks.FFT_SYNTHESIS_MIN_NFFT = 10**9
                ks.SYNTHESIS_SPLIT = kernel == "synthesis_split"
            eager = None
            for v in variants:
                if kernel == "path":
                    ks.DENSE_MAX_WIN = 10**9 if v == "dense" else 0
                    ks.FFT_MIN_NFFT = 10**9 if v == "dense" else saved[4]
                else:
                    ks.CONFIG[kernel] = v
                try:
                    r = bench_one(CONFIGS[ci], op, batch, flush, peak_bw, False, reps, eager_ms=eager,
                                  arms=("triton", "eager"))
                    ms, eager = r.get("triton"), r.get("eager")
                except Exception as exc:  # noqa: BLE001
                    ms = None
                    print(kernel, v, "error", exc, file=sys.stderr)
                ratio = f"{eager / ms:.2f}x eager" if (ms and eager) else ""
                print(f"tune {kernel} {CONFIGS[ci][0]} {op} B={batch} {v}: {fmt(ms)} ms (eager {fmt(eager)}) {ratio}",
                      flush=True)
                out.append(dict(kernel=kernel, config=CONFIGS[ci][0], op=op, variant=v, ms=ms, eager=eager))
            ks.CONFIG.clear()
            ks.CONFIG.update(saved[0])
            ks.DENSE_MAX_WIN, ks.FFT_SYNTHESIS_MIN_NFFT, ks.SYNTHESIS_SPLIT, ks.FFT_MIN_NFFT = saved[1:]
    return out


def check_large(B: int = 16, n: int = 480000, backends: tuple[str, ...] = ("triton", "cuda")) -> dict:
    """Kernel vs reference at AP-BWE's 48 kHz size (the shape of the reported 0.266-LSD run), eager and
    inside ``torch.compile(mode="reduce-overhead")`` with cold table caches."""
    from sigkit.kernels import device_cache

    spec = STFTSpec(1024, 80, 320)
    x = 0.1 * torch.randn(B, n, device="cuda", generator=torch.Generator(device="cuda").manual_seed(1))
    la_r, ph_r = amp_phase(x.double(), spec, backend="reference")
    out = {}
    for backend in backends:
        device_cache._CACHE.clear()
        out[backend] = _check_large_one(x, spec, la_r, ph_r, n, backend)
    return out


def _check_large_one(x, spec, la_r, ph_r, n, backend) -> dict:
    def body(v):
        la, ph = amp_phase(v, spec, backend=backend)
        return la, ph, from_amp_phase(la, ph, spec, length=v.shape[-1], backend=backend)

    out = {}
    for name, fn in (("eager", body), ("reduce-overhead", torch.compile(body, mode="reduce-overhead"))):
        for _ in range(3):
            la, ph, y = (t.clone() for t in fn(x))
        mag = la_r.exp() - 1e-4
        big = mag > 1e-3 * mag.amax(dim=-2, keepdim=True)
        d = torch.remainder(ph.double() - ph_r, 2 * torch.pi)
        d = torch.minimum(d, 2 * torch.pi - d)
        y_r = from_amp_phase(la_r, ph_r, spec, length=n, backend="reference")
        out[name] = dict(log_amp=float((la.double() - la_r)[big].abs().max()),
                         log_amp_all_bins=float((la.double() - la_r).abs().max()), phase=float(d[big].max()),
                         inverse_rel=float((y.double() - y_r).norm() / y_r.norm()))
    return out


OVERHEAD_CASES = [(0, "amp_phase"), (2, "power"), (3, "log_mel_whisper"), (4, "log_mel_natural_mag"), (5, "log_mel_db"),
                  (0, "from_amp_phase"), (0, "amp_phase_fwd_bwd"), (3, "log_mel_whisper_fwd_bwd")]


def launch_overhead(arms=("cuda", "cuda@default_op", "eager"), calls: int = 200, batches=(1, 32)) -> list[dict]:
    """Host time per call (no sync; what a batch-1 call pays on top of its kernels; ``*_fwd_bwd``: forward +
    ``autograd.grad``) and back-to-back device time per call (20 calls between two events, L2 warm) for the
    ops of :data:`OVERHEAD_CASES`; arms as the table's (``cuda@default_op``: every call through its custom op)."""
    out = []
    for ci, op in OVERHEAD_CASES:
        cfg = CONFIGS[ci]
        for B in batches:
            spec, inputs, _, _, _ = _inputs(cfg, op.replace("_fwd_bwd", ""), B)
            for arm in arms:
                run = _runner(cfg, op, spec, inputs, arm)
                with _variant_ctx(arm):
                    for _ in range(3):
                        run()
                    torch.cuda.synchronize()
                    n = calls if B == 1 else 20
                    t0 = time.perf_counter()
                    for _ in range(n):
                        run()
                    host_us = (time.perf_counter() - t0) / n * 1e6
                    torch.cuda.synchronize()
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    for _ in range(20):
                        run()
                    end.record()
                    torch.cuda.synchronize()
                r = dict(config=cfg[0], op=op, batch=B, arm=arm, host_us=round(host_us, 1),
                         device_ms=round(start.elapsed_time(end) / 20, 4))
                print("overhead", json.dumps(r), flush=True)
                out.append(r)
    return out


def host_profile(items: str, calls: int = 300, top: int = 25) -> None:
    """cProfile of ``calls`` back-to-back calls of each ``cfg:op:B[:arm]`` item (no sync in between): where the
    host time of a call goes. With ``--host-cpu`` it runs on CPU tensors (see :func:`stub_cuda_launch`)."""
    import cProfile
    import pstats

    for item in filter(None, items.split(",")):
        ci, op, B, *rest = item.split(":", 3)
        arm = rest[0] if rest else "cuda"
        cfg = CONFIGS[int(ci)]
        spec, inputs, _, _, _ = _inputs(cfg, op.replace("_fwd_bwd", ""), int(B))
        run = _runner(cfg, op, spec, inputs, arm)
        with _variant_ctx(arm):
            for _ in range(5):
                run()
            if op.endswith("fwd_bwd") and torch.cuda.is_available():
                # autograd runs the backward on its device thread, which cProfile does not see: torch's profiler
                # (CPU activity) times every op and autograd node on every thread
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tp:
                    for _ in range(calls // 10):
                        run()
                    torch.cuda.synchronize()
                print(f"# host profile (torch.profiler, CPU time): {cfg[0]} {op} B={B} {arm}, {calls // 10} calls", flush=True)
                print(tp.key_averages().table(sort_by="cpu_time_total", row_limit=top), flush=True)
                continue
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(calls):
                run()
            prof.disable()
        print(f"# host profile: {cfg[0]} {op} B={B} {arm}, {calls} calls", flush=True)
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def stub_cuda_launch() -> None:
    """For ``--host-cpu`` only (this process, never the library): let CPU tensors pass for CUDA tensors and make
    every CUDA kernel launch a no-op that still packs its arguments, so that the Python host path of
    ``backend="cuda"`` (dispatch, routing, plans, tables, argument packing) can be timed on a machine without a
    GPU. Outputs are garbage (nothing runs); the eager arm is torch's CPU chain and not comparable."""
    torch.Tensor.is_cuda = property(lambda self: True)
    kc.unavailable_reason = lambda: None
    kc._sms = lambda index: 132
    kc._raw_stream = lambda index: 0
    kc._Launcher._launch = staticmethod(lambda *args: 0)
    torch.cuda.is_current_stream_capturing = lambda: False
    torch.cuda.synchronize = lambda *a, **k: None

    class _Kernel:
        func = 1

        def set_shared_memory_config(self, smem):
            pass

    def kernel_of(device, key, smem=0):
        k = kc._KERNELS.get(key)
        if k is None:
            k = kc._KERNELS[key] = kc._Launcher(_Kernel(), 0)
        return k

    kc._kernel_of = kernel_of
    kc._kernel = lambda device, name, kind, smem=0, **kw: kernel_of(device, kc._kernel_key(0, name, kind, **kw))


def host_cpu(arms=("cuda", "cuda@default_op"), calls: int = 2000, rounds: int = 5) -> list[dict]:
    """Host microseconds per call of the CUDA path with the launch stubbed (:func:`stub_cuda_launch`), on CPU
    tensors at batch 1, arms side by side: the fastest of ``rounds`` rounds of ``calls`` calls each."""
    global _DEVICE
    _DEVICE = "cpu"
    stub_cuda_launch()
    out = []
    for ci, op in OVERHEAD_CASES:
        cfg = CONFIGS[ci]
        spec, inputs, _, _, _ = _inputs(cfg, op.replace("_fwd_bwd", ""), 1)
        r = dict(config=cfg[0], op=op, batch=1)
        for arm in arms:
            run = _runner(cfg, op, spec, inputs, arm)
            with _variant_ctx(arm):
                for _ in range(20):
                    run()
                best = float("inf")
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        run()
                    best = min(best, (time.perf_counter() - t0) / calls * 1e6)
            r[arm] = round(best, 1)
        print("host-cpu", json.dumps(r), flush=True)
        out.append(r)
    return out


def profile(items: str) -> None:
    """One call of each ``cfg:op:B[:arm]`` item (``op`` as in :data:`CONFIGS`, or ``<op>_bwd``: the backward
    only) between ``cudaProfilerStart`` and ``cudaProfilerStop``, inside an NVTX range named after the item,
    after two warm-up calls (NVRTC compilation and caches outside the profiled region). For
    ``ncu --profile-from-start off --nvtx``."""
    for item in filter(None, items.split(",")):
        ci, op, B, *rest = item.split(":", 3)
        arm = rest[0] if rest else "cuda"
        cfg = CONFIGS[int(ci)]
        bwd_only = op.endswith("_bwd") and not op.endswith("fwd_bwd")
        base = op[:-4] if bwd_only else op
        spec, inputs, _, _, _ = _inputs(cfg, base, int(B))
        fn = make_op(base, spec, cfg[1], cfg[6], _arm_backend(arm))
        with _variant_ctx(arm):
            if bwd_only:
                ins = tuple(t.detach().requires_grad_() for t in inputs)
                outs = fn(*ins)
                outs = outs if isinstance(outs, tuple) else (outs,)
                grads = tuple(torch.randn_like(o) for o in outs)

                run = functools.partial(torch.autograd.grad, outs, ins, grads, retain_graph=True)
            else:
                run = functools.partial(fn, *inputs)
            for _ in range(2):
                run()
            torch.cuda.synchronize()
            label = f"{cfg[0]} {op} B={B} {arm}"
            torch.cuda.nvtx.range_push(label)
            torch.cuda.cudart().cudaProfilerStart()
            run()
            torch.cuda.synchronize()
            torch.cuda.cudart().cudaProfilerStop()
            torch.cuda.nvtx.range_pop()
        print("profiled:", label, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 32 only, no compiled arm")
    ap.add_argument("--tune", default=None, help="sweep block shapes of these kernels (comma list of "
                    "split,mel_split,fft,fft_synthesis,synthesis,synthesis_split,path) instead of the table")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--check-large", action="store_true", help="errors at (16, 480000), eager and CUDA graphs")
    ap.add_argument("--batches", default="32,1")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", default=None, help="write the rows here")
    ap.add_argument("--arms", default="cuda,triton,eager,compiled", help="comma list of cuda,triton,eager,compiled")
    ap.add_argument("--configs", default=None, help="comma list of config indices (default: all)")
    ap.add_argument("--ops", default=None, help="comma list of ops to keep (default: each config's)")
    ap.add_argument("--cuda-variants", default=None, help="comma list of " + ",".join(CUDA_VARIANTS) +
                    ": time the CUDA kernels under each variant (arms cuda@<name>) next to --arms")
    ap.add_argument("--compile-ops", default=None, help="comma list: the compiled arm only for these ops")
    ap.add_argument("--launch-overhead", action="store_true", help="host us per call and back-to-back device ms "
                    "(arms from --arms, default cuda,cuda@default_op,eager)")
    ap.add_argument("--host-profile", default=None, help="comma list of cfg:op:B[:arm]: cProfile of back-to-back calls")
    ap.add_argument("--host-cpu", action="store_true", help="no GPU: host us per call of the CUDA path on CPU tensors "
                    "with the kernel launch stubbed (this process only), arms cuda and cuda@default_op; with "
                    "--host-profile: the same, profiled")
    ap.add_argument("--profile", default=None, help="comma list of cfg:op:B[:arm] (op may end in _bwd: backward "
                    "only): one call each between cudaProfilerStart/Stop, for ncu --profile-from-start off")
    ap.add_argument("--static-regs", action="store_true", help="NVRTC-compile the CUDA kernels of the benchmark "
                    "configs (default tiles and variants) for sm_90 and print registers/spills (no GPU needed)")
    args = ap.parse_args(argv)
    if args.static_regs:
        for _, _, _, n_fft, hop, win, _, _ in CONFIGS:
            for epi in range(6):  # the full tile and variant flags a batch-size call runs (AUTO / VARIANT)
                tt, nt, fl = kc.analysis_plan(n_fft, mel=epi == kc.EPI_MEL, epi=epi)
                report = kc.compile_offline("analysis", "stft_analysis", n_fft=n_fft, tt=tt, nt=nt, EPI=epi, POWER=2,
                                            LOG=3, **fl)
                print(n_fft, "analysis EPI", epi, (tt, nt), fl, *[ln.strip() for ln in report.splitlines()[-2:]])
            for mode in range(4):
                tt, nt, fl = kc.synthesis_plan(n_fft, hop, win, mode)
                report = kc.compile_offline("synthesis", "stft_synthesis", n_fft=n_fft, tt=tt, nt=nt,
                                            extra=kc.extra_frames(hop, win), MODE=mode, **fl)
                print(n_fft, hop, win, "synthesis MODE", mode, (tt, nt), fl, *[ln.strip() for ln in report.splitlines()[-2:]])
        return 0
    if args.host_cpu:
        if args.host_profile:
            global _DEVICE
            _DEVICE = "cpu"
            stub_cuda_launch()
            host_profile(args.host_profile)
        else:
            host_cpu()
        return 0
    if not torch.cuda.is_available():
        print("bench/spectral.py needs a CUDA GPU", file=sys.stderr)
        return 2
    if args.profile:
        profile(args.profile)
        return 0
    if args.host_profile:
        host_profile(args.host_profile)
        return 0
    flush = Flusher()
    peak_bw = hbm_bandwidth(flush)
    dev = torch.cuda.get_device_name()
    print(f"# {dev}, torch {torch.__version__}, measured copy bandwidth {peak_bw / 1e9:.0f} GB/s", flush=True)
    if args.launch_overhead:
        arms = ("cuda", "cuda@default_op", "eager") if args.arms == ap.get_default("arms") else tuple(args.arms.split(","))
        launch_overhead(arms, batches=[int(b) for b in args.batches.split(",")])
        return 0
    if args.check_large:
        print("check-large", json.dumps(check_large()), flush=True)
        return 0
    if args.tune:
        rows = tune(flush, peak_bw, args.reps, args.tune.split(","))
    else:
        rows = []
        batches = [32] if args.quick else [int(b) for b in args.batches.split(",")]
        arms = tuple(a for a in args.arms.split(",") if a)
        names = args.cuda_variants.split(",") if args.cuda_variants else []
        arms += tuple(f"cuda@{n}" for n in names)
        cfgs = CONFIGS if args.configs is None else [CONFIGS[int(i)] for i in args.configs.split(",")]
        keep = set(args.ops.split(",")) if args.ops else None
        for B in batches:
            for cfg in cfgs:
                for op in cfg[-1]:
                    if keep is not None and op not in keep:
                        continue
                    # the compiled chain at batch 32, forward ops (device time: ~10 s of compile each)
                    compile_arm = (not (args.quick or args.no_compile) and B == 32
                                   and not op.endswith("fwd_bwd")
                                   and (args.compile_ops is None or op in args.compile_ops.split(",")))
                    r = bench_one(cfg, op, B, flush, peak_bw, compile_arm, args.reps, arms=arms)
                    rows.append(r)
                    print(json.dumps(r), flush=True)
        print(table(rows))
        if names:
            print(variant_table(rows, names))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(device=dev, torch=torch.__version__, bandwidth=peak_bw, rows=rows), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
