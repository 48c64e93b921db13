"""Event-simulator throughput: input frames/s, events/s and the real-time factor at 1 kHz input.

    python bench/events_sim.py --device cuda --sizes 346x260,640x480,1280x720 --repeat 5   # auto (triton) + torch, 1-s clips
    python bench/events_sim.py --device cpu --threads 2 --backends numba,torch --sizes 346x260 --seconds 0.05
    python bench/events_sim.py --device cuda --backends triton --output numpy,torch --bandwidth on \\
        --host-copy direct,staged --keep off,on --profile

The input is a smooth texture sliding at 200 px/s sampled at ``--fps`` (1 kHz).  Per row a fresh simulator
runs a warm-up of 5 frames (compiles), then a first clip of ``seconds * fps`` frames (reported apart as
``first call``: first-use allocations such as the pinned staging ring), then ``--repeat`` more clips that
continue it; the row's figure is their median (steady state).  ``--seconds`` defaults to 1 (1000 frames:
several launches, so the numpy output's host copies overlap the kernels); 0.1 gives the earlier rows.
The torch reference runs ``--reference-seconds`` clips (0.1 s): it is ~1000x slower than the kernels.
Real-time factor = simulated seconds / wall seconds.  ``--keep off,on`` adds rows that keep every result alive (a caller that
stores them), ``--host-copy direct,staged,pageable`` compares the ways numpy output reaches the host
(:mod:`sigkit.events.hostcopy`; each numpy row lists the paths its timed calls took, ``host_paths``),
``--stream-launches`` sets the fewest launches of a streamed clip and ``--stream-tail`` its last launch's frames,
``--variants 'default;STREAM_MIN_LAUNCHES=1'`` compares settings of the simulator module's flags (rows tagged ``[...]``).
Baselines in the same run: the torch reference (``--backends torch,triton`` on CUDA, ``numba,torch`` on
CPU) and the bandwidth model off (ideal pixel).  ``--threads`` sets torch's and numba's thread counts.
Each row also prints the 1-minute load average (the development VM is shared).  v2e is not measured
(no wheel reachable from the benchmark machines).

``--output numpy,torch``: rows for events returned as numpy :class:`Events` on the host and as
:class:`EventTensors` left on the device.  ``--profile``: one more run per row with a
:class:`~sigkit.events.simulate.PhaseTimer` (CUDA events between the phases: input checks, log of the
frames, kernel, device sort, merge, copy to the host, result), printed as ``phases_ms``; with Triton also
the compiled kernel's registers and spills.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import time

import torch
from sigkit.events import SimConfig

sim_mod = importlib.import_module("sigkit.events.simulate")     # the module (the package exports the function)
impl = sim_mod                # the simulator module benchmarked (--sim-module: e.g. an older copy, as a baseline)
KERNEL_MODULE = "sigkit.kernels.events_sim"    # where --profile reads the compiled kernel's registers (--kernel-module)


def frames_on(device, h: int, w: int, n: int, fps: float, speed: float = 200.0, start: int = 0) -> torch.Tensor:
    """Frames ``start .. start + n - 1`` of the sliding texture, ``(n, h, w)`` float32 linear intensity."""
    yy = torch.arange(h, device=device, dtype=torch.float32)[:, None]
    xx = torch.arange(w, device=device, dtype=torch.float32)[None, :]
    out = []
    for k in range(start, start + n):
        x = xx + speed * k / fps
        out.append(0.5 + 0.2 * torch.sin(2 * math.pi * x / 16) + 0.15 * torch.sin(2 * math.pi * (x / 7 + yy / 11))
                   + 0.1 * torch.cos(2 * math.pi * (0.3 * x - yy) / 9))
    return torch.stack(out)


def bench_one(device: str, h: int, w: int, bandwidth: bool, seconds: float, fps: float, backend: str,
              repeat: int = 1, output: str = "numpy", profile: bool = False, keep: bool = False) -> dict:
    """One row: a fresh simulator, a 5-frame warm-up (compiles), its first clip of ``n`` frames (``first_s``,
    reported apart: first-use allocations), then ``repeat`` more clips continuing the same simulator, whose
    median wall time is the row's steady-state figure (``wall_s``; ``wall_s_all`` lists them).

    ``keep``: keep every result alive (a caller that stores them; by default each result is dropped when the
    next one arrives).  ``profile``: one more clip with a :class:`PhaseTimer` (not among the timed ones);
    ``phases_ms`` holds its per-phase GPU milliseconds (host milliseconds on the CPU).  Each clip's frames
    are made on the device before its timing starts."""
    n = int(round(seconds * fps))
    warm = 5
    sim = impl.Simulator(SimConfig(bandwidth_model=bandwidth), h, w, device)
    kw = {"output": output} if output != "numpy" else {}      # (an older --sim-module has no output argument)
    cuda = device.startswith("cuda")

    def clip(k0: int, k1: int):
        fr = frames_on(device, h, w, k1 - k0, fps, start=k0)
        ts = torch.arange(k0, k1, dtype=torch.float64) / fps
        if cuda:
            torch.cuda.synchronize()
        return fr, ts

    sim.run(*clip(0, warm + 1), backend=backend, **kw)          # warm-up (and Triton compile)
    if cuda:
        torch.cuda.synchronize()
    walls, kept, ev, paths = [], [], None, []
    for r in range(repeat + 1):        # clip 0 is the first call; each continues the same simulator on the next n frames
        fr, ts = clip(warm + 1 + r * n, warm + 1 + (r + 1) * n)
        t0 = time.perf_counter()
        ev = sim.run(fr, ts, backend=backend, **kw)
        if cuda:
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
        used = getattr(sim, "last_host_paths", None)      # how the events reached the host (numpy output, EventSink)
        paths.append("+".join(sorted(set(used))) if used else "-")
        del fr
        if keep:
            kept.append(ev)
    first, walls = walls[0], walls[1:] or walls
    dt = sorted(walls)[len(walls) // 2]
    extra = {}
    if profile:
        fr, ts = clip(warm + 1 + (repeat + 1) * n, warm + 1 + (repeat + 2) * n)
        sim.timer = sim_mod.PhaseTimer()
        t0 = time.perf_counter()
        sim.run(fr, ts, backend=backend, **kw)
        if cuda:
            torch.cuda.synchronize()
        extra["profiled_wall_ms"] = round(1e3 * (time.perf_counter() - t0), 3)
        summ = sim.timer.summary()
        sim.timer = None
        key = "gpu_ms" if cuda else "host_ms"
        extra["phases_ms"] = {k: round(v[key], 3) for k, v in summ.items()}
        extra["phases_host_ms"] = {k: round(v["host_ms"], 3) for k, v in summ.items()}
        if backend == "triton":
            extra["kernel"] = dict(importlib.import_module(KERNEL_MODULE).LAST_COMPILE)
    return dict(device=device, backend=backend, output=output, size=f"{w}x{h}", bandwidth_model=bandwidth, frames=n,
                wall_s=round(dt, 4), frames_per_s=round(n / dt, 1), events_per_s=round(len(ev) / dt, 1),
                events=len(ev), realtime_factor=round(n / fps / dt, 4), first_s=round(first, 4),
                first_realtime_factor=round(n / fps / first, 4), kept=keep, load_1min=round(os.getloadavg()[0], 2),
                wall_s_all=[round(w_, 4) for w_ in walls], host_paths=paths, **extra)


def static_registers(maxnregs: list[int], blocks: list[int]) -> list[dict]:
    """Compile the full-model kernel for sm_90a without a GPU (Triton + its bundled ``ptxas -v``) and read
    registers and spills per configuration, with the 1-warp-per-32-pixel programs one SM can hold."""
    import re
    import subprocess
    from pathlib import Path

    import triton
    from sigkit.kernels.events_sim import _events_kernel
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = "U TS CON COFF GLEAK S_IN S_OUT TREF_IN TREF_OUT PEND_IN PEND_OUT OUT_K OUT_P COUNT PARAMS T N cap".split()
    types = ["*fp32", "*fp64"] + ["*fp32"] * 5 + ["*fp64", "*fp64", "*i8", "*i8", "*i64", "*i8", "*i32", "*fp64", "i32", "i32", "i32"]
    sig = dict(zip(names, types, strict=True)) | {k: "constexpr" for k in ("BANDWIDTH", "PR_MODE", "SF_INF", "DIFF_INF",
                                                                           "RESET", "BLOCK", "SLAB", "FAST")}
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    rows = []
    for block in blocks:
        for nreg in maxnregs:
            const = dict(BANDWIDTH=True, PR_MODE=3, SF_INF=False, DIFF_INF=False, RESET=True, BLOCK=block, SLAB=max(64, block),
                         FAST=True)
            opts = dict(num_warps=max(1, block // 32)) | ({"maxnreg": nreg} if nreg else {})
            ptx = triton.compile(ASTSource(_events_kernel, sig, constexprs=const), target=GPUTarget("cuda", 90, 32),
                                 options=opts).asm["ptx"]
            f = Path(f"/tmp/events_kernel_{block}_{nreg}.ptx")
            f.write_text(ptx)
            info = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", str(f), "-o", str(f.with_suffix(".cubin"))],
                                  capture_output=True, text=True).stderr
            regs = int(re.search(r"Used (\d+) registers", info).group(1))
            spill = int(re.search(r"(\d+) bytes spill stores", info).group(1))
            warps = max(1, block // 32)
            per_sm = min(32, 65536 // (((regs * 32 + 255) // 256) * 256 * warps))   # 64 K registers, 32 blocks per SM
            rows.append(dict(block=block, maxnreg=nreg or None, regs=regs, spill_store_bytes=spill,
                             programs_per_sm=per_sm, triton=triton.__version__))
    return rows


PHASES = ("input", "pixels", "prep", "kernel", "sort", "noise", "merge", "copy", "events")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave)")
    p.add_argument("--sizes", default="346x260,640x480,1280x720")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length per timed call (1 s: steady state; "
                   "0.1 s: the earlier rows)")
    p.add_argument("--reference-seconds", type=float, default=0.1, help="clip length for the torch reference back end "
                   "(a baseline ~1000x slower than the kernels: its rate does not depend on the clip length)")
    p.add_argument("--fps", type=float, default=1000.0)
    p.add_argument("--backends", default="auto,torch",
                   help="comma-separated: auto (numba on CPU, triton on CUDA), torch, numba, triton")
    p.add_argument("--bandwidth", default="off,on", help="comma-separated: off, on (the pixel bandwidth model)")
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the median wall time is reported")
    p.add_argument("--triton-blocks", default="", help="comma-separated pixels per Triton program to compare (e.g. 32,64,128)")
    p.add_argument("--triton-maxnreg", default="", help="comma-separated register caps to compare (0: the compiler's choice)")
    p.add_argument("--output", default="numpy", help="comma-separated: numpy (Events on the host), torch (EventTensors on the device)")
    p.add_argument("--profile", action="store_true", help="time the phases of one extra run per row (CUDA events)")
    p.add_argument("--host-copy", default="", help="comma-separated EventSink modes for numpy output on CUDA: direct "
                   "(DMA into pinned result slabs), staged (pinned ring + copier threads), pageable (copies into pageable "
                   "memory); default: the package's")
    p.add_argument("--stream-launches", type=int, default=0, help="STREAM_MIN_LAUNCHES for numpy output on CUDA (0: leave)")
    p.add_argument("--stream-tail", type=int, default=0, help="STREAM_TAIL_FRAMES for numpy output on CUDA (0: leave)")
    p.add_argument("--keep", default="off", help="comma-separated off,on: on keeps every result alive (a caller "
                   "that stores them; numpy output rows only)")
    p.add_argument("--sim-module", default="sigkit.events.simulate",
                   help="module whose Simulator is timed (a saved older version as the baseline)")
    p.add_argument("--kernel-module", default="sigkit.kernels.events_sim", help="the Triton kernel module --sim-module uses "
                   "(--profile reads its registers and spills)")
    p.add_argument("--static-regs", default="", help="no GPU needed: compile for sm_90a with these register caps "
                   "(0: none) and print registers, spills and programs per SM, then exit")
    p.add_argument("--variants", default="", help="';'-separated settings of the simulator module's flags to compare, each "
                   "'NAME=INT,...' or 'default' (e.g. 'default;STREAM_MIN_LAUNCHES=1;TRITON_CHUNK=128'); empty: leave")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    global impl, KERNEL_MODULE
    impl = importlib.import_module(a.sim_module)
    KERNEL_MODULE = a.kernel_module
    if a.static_regs:
        blocks = [int(b) for b in a.triton_blocks.split(",") if b] or [impl.TRITON_BLOCK]
        for r in static_registers([int(v) for v in a.static_regs.split(",")], blocks):
            print(json.dumps(r), flush=True)
        return
    if a.threads:
        torch.set_num_threads(a.threads)
        if "numba" in a.backends:
            import numba

            numba.set_num_threads(a.threads)
    rows = []
    default_block = impl.TRITON_BLOCK
    for size in a.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        runs = []
        for backend in a.backends.split(","):
            backend = sim_mod.auto_backend(a.device) if backend == "auto" else backend
            blocks = [int(b) for b in a.triton_blocks.split(",") if b] if backend == "triton" else []
            regs = [int(b) for b in a.triton_maxnreg.split(",") if b] if backend == "triton" else []
            runs += [(backend, b, r) for b in (blocks or [None]) for r in (regs or [None])]
        # the host-copy module the timed simulator uses (a baseline copy has its own)
        host = importlib.import_module(impl.EventSink.__module__) if hasattr(impl, "EventSink") else None
        if a.stream_launches and hasattr(impl, "STREAM_MIN_LAUNCHES"):
            impl.STREAM_MIN_LAUNCHES = a.stream_launches
        if a.stream_tail and hasattr(impl, "STREAM_TAIL_FRAMES"):
            impl.STREAM_TAIL_FRAMES = a.stream_tail
        keeps = [v == "on" for v in a.keep.split(",")]
        outputs = [(o, m, k) for o in a.output.split(",")
                   for m in ([m for m in a.host_copy.split(",") if m] if o == "numpy" and host else []) or [None]
                   for k in (keeps if o == "numpy" else [False])]
        variants = [v.strip() for v in a.variants.split(";") if v.strip()]
        flag_defaults = {k: getattr(impl, k) for v in variants if v != "default"
                         for k in (kv.split("=")[0] for kv in v.split(",")) if hasattr(impl, k)}
        for (backend, block, nreg), variant in ((r, v) for r in runs for v in (variants or [None])):
            impl.TRITON_BLOCK = block or default_block
            for k, v in flag_defaults.items():
                setattr(impl, k, v)
            for kv in ([] if variant in (None, "default") else variant.split(",")):
                k, v = kv.split("=")
                if k in flag_defaults:
                    setattr(impl, k, bool(int(v)) if isinstance(flag_defaults[k], bool) else int(v))
            impl.TRITON_MAXNREG = nreg or None
            for bw in (v == "on" for v in a.bandwidth.split(",")):
                for output, mode, keep in outputs:
                    if mode:
                        host.HOST_COPY = mode
                    try:
                        secs = a.reference_seconds if backend == "torch" else a.seconds
                        r = bench_one(a.device, h, w, bw, secs, a.fps, backend, a.repeat, output, a.profile, keep)
                    except Exception as e:          # e.g. a register cap the compiler refuses: recorded, not fatal
                        r = dict(device=a.device, backend=backend, size=size, bandwidth_model=bw, output=output,
                                 error=f"{type(e).__name__}: {str(e)[:300]}")
                        print(json.dumps(r), flush=True)
                        continue
                    r["threads"] = torch.get_num_threads()
                    if output == "numpy" and host is not None and a.device.startswith("cuda") and backend == "triton":
                        tail = f", tail {impl.STREAM_TAIL_FRAMES}" if a.stream_tail else ""
                        r["output"] = f"numpy ({host.HOST_COPY}{tail})"
                    if keep:
                        r["output"] += ", kept"
                    r["backend"] = backend + (f"-b{block}" if block else "") + (f"-r{nreg}" if nreg else "") \
                        + ("" if a.sim_module == "sigkit.events.simulate" else f" ({a.sim_module.rsplit('.', 1)[-1]})") \
                        + ("" if variant is None else f" [{variant}]")
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    print(f"clips of {a.seconds:g} s (torch reference: {a.reference_seconds:g} s); x real time = median of the calls after "
          "the first (steady state); the first call apart")
    print("| device | backend | output | threads | size | bandwidth model | frames/s | events/s | x real time (1 kHz input) "
          "| first call: ms (x) | steady calls (ms) | host paths (first; steady) | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['device']} | {r['backend']} | {r['output']} | {r['threads']} | {r['size']} | "
              f"{'on' if r['bandwidth_model'] else 'off'} | {r['frames_per_s']} | {r['events_per_s']:.3g} | {r['realtime_factor']} "
              f"| {1e3 * r['first_s']:.1f} ({r['first_realtime_factor']:.3g}) "
              f"| {' / '.join(f'{1e3 * v:.1f}' for v in r['wall_s_all'])} "
              f"| {r['host_paths'][0]}; {' / '.join(r['host_paths'][1:])} | {r['load_1min']} |")
    if a.profile:
        print("\n| backend | output | size | model | " + " | ".join(PHASES) + " | profiled run (ms) | regs / spills |")
        print("| --- " * (len(PHASES) + 6) + "|")
        for r in rows:
            ph, k = r.get("phases_ms", {}), r.get("kernel", {})
            print(f"| {r['backend']} | {r['output']} | {r['size']} | {'on' if r['bandwidth_model'] else 'off'} | "
                  + " | ".join(f"{ph[p]:.2f}" if p in ph else "-" for p in PHASES)
                  + f" | {r.get('profiled_wall_ms', '-')} | {k.get('n_regs', '-')} / {k.get('n_spills', '-')} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
