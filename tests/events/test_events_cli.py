"""``sigkit events`` end to end on tiny files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sigkit.events import SimConfig, simulate
from sigkit.events.io import read, write
from sigkit.events.scenes import sliding_texture

from sigkit.cli import main as sigkit_main


@pytest.fixture
def video(tmp_path):
    from sigkit.io import write_video

    fr, _ = sliding_texture(24, 32, 0.3, 30, speed_px_s=40.0)
    d = tmp_path / "in"
    d.mkdir()
    write_video(d / "clip.avi", (fr.clamp(0, 1) * 255).to(torch.uint8)[..., None].expand(-1, -1, -1, 3), fps=30)
    (d / "broken.mp4").write_bytes(b"not a video")
    return d


def test_simulate_batch_resumes_and_reports(video, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["events", "simulate", str(video), str(out), "--camera", "dvs128", "--preset", "noisy", "--keep-size",
            "--device", "cpu", "-q"]
    assert sigkit_main(args) == 1                           # the broken file fails, the clip succeeds
    ev = read(out / "clip.h5")
    assert len(ev) > 100 and ev.sensor_size == (24, 32)
    errors = (out / "errors.jsonl").read_text().strip().splitlines()
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "not a readable video" in errors[0]
    sigkit_main(args)
    assert "skipped 1" in capsys.readouterr().out            # resumed: the finished file is not redone


def test_simulate_unknown_preset(video, tmp_path):
    assert sigkit_main(["events", "simulate", str(video), str(tmp_path / "o"), "--preset", "loud"]) == 1


def test_convert_and_vpr(tmp_path, capsys):
    # two traversals of the same sliding wall (different noise seeds); poses = wall offset in pixels
    fr, ts = sliding_texture(32, 32, 1.2, 200, speed_px_s=25.0)
    ref = simulate(fr, ts, SimConfig(bandwidth_model=False, shot_rate=2.0, seed=1))
    qry = simulate(fr, ts, SimConfig(bandwidth_model=False, shot_rate=2.0, seed=2))
    write(tmp_path / "ref.aedat4", ref)
    assert sigkit_main(["events", "convert", str(tmp_path / "ref.aedat4"), str(tmp_path / "ref.h5")]) == 0
    write(tmp_path / "qry.npz", qry)
    poses = np.stack([ts * 1e6, ts * 25.0], 1)
    np.savetxt(tmp_path / "poses.csv", poses, delimiter=",")
    rc = sigkit_main(["events", "vpr", str(tmp_path / "ref.h5"), str(tmp_path / "qry.npz"), "--ref-poses",
                      str(tmp_path / "poses.csv"), "--query-poses", str(tmp_path / "poses.csv"), "--window-ms", "50",
                      "--scale", "0.5", "--patch", "4", "--tolerance", "2", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "Recall@1:" in out
    r1 = float(out.split("Recall@1:")[1].split()[0])
    assert r1 >= 0.8


def test_unknown_command(capsys):
    assert sigkit_main(["events", "dance"]) == 2


def test_simulate_backend_option(video, tmp_path):
    base = ["events", "simulate", str(video), "--camera", "dvs128", "--preset", "clean", "--keep-size", "--device", "cpu",
            "-q", "--pattern", "clip.avi"]
    outs = {}
    for backend in ("torch", "auto"):
        out = tmp_path / backend
        assert sigkit_main(base[:3] + [str(out)] + base[3:] + ["--backend", backend]) == 0
        outs[backend] = read(out / "clip.h5")
    # float32 simulators: the torch reference in float32, numba (auto on CPU) in float64 arithmetic
    assert len(outs["torch"]) > 100 and abs(len(outs["torch"]) - len(outs["auto"])) <= 0.01 * len(outs["torch"])
    with pytest.raises(SystemExit):
        sigkit_main(base[:3] + [str(tmp_path / "x")] + base[3:] + ["--backend", "cuda"])
