"""``sigkit events``: simulate | control | vpr | convert.

* ``sigkit events simulate VIDEO_OR_DIR OUT --camera davis346 --preset noisy [--format dsec]``: videos ->
  event files on the batch runner (resumable, errors.jsonl, summary line);
* ``sigkit events control OUT_DIR [--step 0.01]``: fast/slow vs fixed biases in closed loop on a
  synthetic scene with an illumination step; writes ``control.png`` and ``control.csv``;
* ``sigkit events vpr REF QUERY --ref-poses R.csv --query-poses Q.csv``: Recall@N of the paper's protocol;
* ``sigkit events convert IN OUT [--layout dsec]``: between event-file formats.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

from sigkit.errors import InputError, MediaFileError

from . import io as evio
from .presets import CAMERAS, PRESETS, make_config
from .simulate import simulate

VIDEO_PATTERN = "*.mp4,*.avi,*.mkv,*.mov,*.webm"
_SUFFIX = {"dsec": ".h5", "v2e": ".h5", "npz": ".npz", "txt": ".txt", "aedat2": ".aedat", "aedat4": ".aedat4",
           "evt2": ".raw", "evt3": ".raw"}


def load_video_intensity(path: Path, size: tuple[int, int] | None, gamma: float = 1.0,
                         max_frames: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """A video as ``(T, H, W)`` float32 linear intensity in [0, 1] (grey; ``pixel / 255`` raised to
    ``gamma``, e.g. 2.2 to undo display gamma) resized to ``size = (H, W)``, and timestamps (s)."""
    import cv2

    from sigkit.io import read_video

    frames, fps, ts = read_video(path, mode="gray", dtype=torch.float32, max_frames=max_frames)
    fr = frames[..., 0].numpy()
    if size is not None and fr.shape[1:] != size:
        fr = np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in fr])
    if len(fr) < 2:
        raise MediaFileError(f"{path}: the video has {len(fr)} frame(s); at least 2 are needed")
    return torch.from_numpy(np.clip(fr, 0, 1) ** gamma), np.asarray(ts, np.float64)


def _simulate_main(argv: list[str]) -> int:
    from sigkit.batch import add_batch_arguments, per_item, resolve_device, run_from_args

    p = argparse.ArgumentParser(prog="sigkit events simulate", description="videos -> event files")
    add_batch_arguments(p, pattern=VIDEO_PATTERN)
    p.add_argument("--camera", default="davis346", help=f"one of {', '.join(sorted(CAMERAS))}")
    p.add_argument("--preset", default="nominal", help=f"one of {', '.join(sorted(PRESETS))}")
    p.add_argument("--format", default="dsec", choices=sorted(_SUFFIX), help="output layout (default dsec .h5)")
    p.add_argument("--keep-size", action="store_true", help="simulate at the video's size, not the camera's")
    p.add_argument("--gamma", type=float, default=1.0, help="pixel/255 ** gamma is the linear intensity")
    p.add_argument("--no-bandwidth", action="store_true", help="ideal pixel (no bandwidth model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "numba", "triton"],
                   help="simulator back end (auto: numba on CPU, Triton on CUDA; all give the same events)")
    a = p.parse_args(argv)
    over = {"seed": a.seed}
    if a.no_bandwidth:
        over["bandwidth_model"] = False
    cfg, size = make_config(a.camera, a.preset, **over)
    device = resolve_device(a.device)

    def load(path: Path):
        return load_video_intensity(path, None if a.keep_size else size, a.gamma, a.max_frames)

    def one(job):
        frames, ts = job.data
        return simulate(frames, ts, cfg, device=device, backend=a.backend)

    def save(ev, path: Path):
        evio.write(path, ev, layout=a.format)

    return run_from_args(a, load=load, process=per_item(one), save=save, out_suffix=_SUFFIX[a.format],
                         desc="events simulate")


def _control_main(argv: list[str]) -> int:
    from .bias import BiasMap, FastSlowController, FixedBiases, plot_control, run_closed_loop
    from .scenes import sliding_texture
    from .simulate import SimConfig

    p = argparse.ArgumentParser(prog="sigkit events control",
                                description="fast/slow vs fixed biases under an illumination step")
    p.add_argument("output", metavar="OUT_DIR")
    p.add_argument("--step", type=float, default=0.01, help="light factor at the step (0.01: 100x darker)")
    p.add_argument("--step-time", type=float, default=1.2)
    p.add_argument("--seconds", type=float, default=4.2)
    p.add_argument("--fps", type=float, default=100.0)
    p.add_argument("--speed", type=float, default=30.0, help="texture speed in pixels/s")
    p.add_argument("--size", default="24x32", help="HxW of the simulated sensor")
    p.add_argument("--ip-to-it-fa", type=float, default=800.0, help="photocurrent per unit intensity (fA)")
    p.add_argument("--refractory-at-57", type=float, default=150e-6, help="refractory (s) at RefrBp 57")
    a = p.parse_args(argv)
    try:
        h, w = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {a.size!r}: give HxW, e.g. 24x32") from None
    frames, ts = sliding_texture(h, w, a.seconds, a.fps, a.speed, a.step_time, a.step)
    bmap = BiasMap(base=SimConfig(ip_to_it_fa=a.ip_to_it_fa, substep_fraction=1.0, ringing_rad_per_substep=0.0),
                   refractory_at_57=a.refractory_at_57)
    logs = {}
    for name, ctl in (("fixed", FixedBiases()), ("fast+slow", FastSlowController.for_sensor(h, w))):
        logs[name] = run_closed_loop(frames, ts, ctl, bmap)[0]
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    plot_control(logs, str(out / "control.png"), title=f"light x{a.step:g} at {a.step_time:g} s")
    with open(out / "control.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        cols = list(logs["fixed"].as_arrays())
        wr.writerow(["run", *cols])
        for name, log in logs.items():
            arr = log.as_arrays()
            for i in range(len(arr["t"])):
                wr.writerow([name, *(arr[c][i] for c in cols)])
    lo, hi = logs["fast+slow"].rate_low, logs["fast+slow"].rate_high
    for name, log in logs.items():
        r = log.as_arrays()["rate"]
        print(f"{name}: final rate {r[-1]:.0f} ev/s (bounds {lo:.0f}..{hi:.0f}); inside in last 3 windows: "
              f"{bool(np.all((r[-3:] >= lo) & (r[-3:] <= hi)))}")
    print(f"wrote {out / 'control.png'} and {out / 'control.csv'}")
    return 0


def _read_poses(path: str) -> np.ndarray:
    try:
        arr = np.loadtxt(path, delimiter=",", ndmin=2, comments="#")
    except (OSError, ValueError) as err:
        raise MediaFileError(f"{path}: cannot read poses ({err}); give CSV rows 't_us,x,y'") from None
    if arr.shape[1] < 2:
        raise MediaFileError(f"{path}: poses need at least 2 columns 't_us,x[,y...]'")
    return arr


def _vpr_main(argv: list[str]) -> int:
    from .vpr import evaluate

    p = argparse.ArgumentParser(prog="sigkit events vpr", description="Recall@N of event-frame place recognition")
    p.add_argument("reference")
    p.add_argument("query")
    p.add_argument("--ref-poses", required=True, help="CSV t_us,x,y of the reference traversal")
    p.add_argument("--query-poses", required=True, help="CSV t_us,x,y of the query traversal")
    p.add_argument("--window-ms", type=float, default=66.0)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=5.0, help="correct if within this distance (pose units)")
    p.add_argument("--json", default=None, help="also write the recalls here")
    a = p.parse_args(argv)
    rec = evaluate(evio.read(a.reference), evio.read(a.query), _read_poses(a.ref_poses), _read_poses(a.query_poses),
                   int(a.window_ms * 1000), a.scale, a.patch, a.tolerance)
    for n, r in rec.items():
        print(f"Recall@{n}: {r:.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps({f"R@{n}": r for n, r in rec.items()}, indent=1))
    return 0


def _convert_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="sigkit events convert", description="between event-file formats")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--layout", default=None, choices=sorted(_SUFFIX), help="default: from OUT's suffix")
    a = p.parse_args(argv)
    ev = evio.read(a.input)
    evio.write(a.output, ev, layout=a.layout)
    print(f"{a.input} -> {a.output}: {len(ev)} events")
    return 0


COMMANDS = {"simulate": _simulate_main, "control": _control_main, "vpr": _vpr_main, "convert": _convert_main}


def main(argv: list[str] | None = None) -> int:
    """Entry of ``sigkit events``; ``argv`` without the leading ``events``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: sigkit events {simulate,control,vpr,convert} ...  (--help after a command for its arguments)")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"sigkit events: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])
