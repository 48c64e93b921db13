"""Regenerate ``event_frames.png``: a bar sweeping across a textured background, seen by the ideal
pixel, the DVS128-nominal pixel in bright light and the same pixel 100x darker (motion blur from the
bandwidth model).  Run: ``python events/docs/make_event_frames.py``."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from sigkit.events import SimConfig, simulate  # noqa: E402
from sigkit.events.representations import event_frame  # noqa: E402


def clip(light: float, h: int = 48, w: int = 96, fps: float = 2000.0, dur: float = 0.12):
    ts = torch.arange(int(dur * fps) + 1, dtype=torch.float64) / fps
    xx = torch.arange(w, dtype=torch.float64)[None, :]
    yy = torch.arange(h, dtype=torch.float64)[:, None]
    frames = []
    for t in ts:
        bg = 0.35 + 0.1 * torch.sin(2 * math.pi * (xx / 13 + yy / 17))
        bar = ((xx - (10 + 600 * t)).abs() < 4).double()       # 600 px/s
        frames.append(light * (bg * (1 - bar) + 0.95 * bar))
    return torch.stack(frames).float(), ts.numpy()


def main() -> None:
    cases = [("ideal pixel", 1.0, SimConfig(bandwidth_model=False)),
             ("DVS128 nominal, bright", 1.0, SimConfig()),
             ("DVS128 nominal, 100x darker", 0.01, SimConfig())]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.3))
    for ax, (name, light, cfg) in zip(axes, cases, strict=False):
        fr, ts = clip(light)
        ev = simulate(fr, ts, cfg)
        win = ev.slice_time(50_000, 70_000)
        img = event_frame(win, 48, 96, mode="signed")
        ax.imshow(img, cmap="bwr", vmin=-3, vmax=3)
        ax.set_title(f"{name}\n{len(ev)} events", fontsize=8)
        ax.axis("off")
    fig.suptitle("signed event frames, 20 ms window (red ON, blue OFF)", fontsize=9)
    fig.tight_layout()
    out = Path(__file__).with_name("event_frames.png")
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
