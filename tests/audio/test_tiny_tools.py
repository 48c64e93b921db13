"""Tools of sigkit.audio.tiny on a checkpoint trained here: export (ONNX, int8, header), classify, CV."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sigkit.audio.tiny import MFCCCNN, LogMelFrontend, MFCCFrontend, TinyTransformer
from sigkit.audio.tiny.export import export_onnx, int8_tensors, onnx_logits, read_c_header
from sigkit.audio.tiny.infer import classify_main, crossval_main, load_classifier

from sigkit.errors import CheckpointError
from sigkit.io import save_audio

# one worker runs the whole file under `pytest -n 2 --dist loadgroup`, so module fixtures run once
pytestmark = pytest.mark.xdist_group("tiny_tools")

CONFIG = """
model:
  class_path: sigkit.audio.tiny.TinyClassifierModule
  init_args:
    model:
      class_path: sigkit.audio.tiny.TinyTransformer
      init_args:
        frontend:
          class_path: sigkit.audio.tiny.LogMelFrontend
          init_args: {{sr: 8000, n_fft: 256, hop: 256, n_mels: 16}}
        n_classes: {n_classes}
        clip_samples: {clip_samples}
        dim: 8
        heads: 2
        ffn: 16
    lr: 0.01
data:
  class_path: {data}
trainer:
  max_epochs: {epochs}
  accelerator: cpu
  enable_progress_bar: false
  enable_model_summary: false
"""


def _fit(tmp: Path, config: str, *extra: str) -> int:
    from sigkit.train.cli import run_lightning_cli

    (tmp / "cfg.yaml").write_text(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_lightning_cli(
            ["fit", "-c", str(tmp / "cfg.yaml"), "--trainer.default_root_dir", str(tmp), *extra]
        )


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A 3-class tiny model trained 2 epochs on 1-s synthetic clips at 8 kHz through `sigkit fit`."""
    tmp = tmp_path_factory.mktemp("tiny_fit")
    data = (
        "sigkit.audio.tiny.data.SyntheticDataModule\n  init_args: {n_classes: 3, n_train: 6, n_val: 4, "
        "sr: 8000, duration: 1.0, batch_size: 6}"
    )
    assert _fit(tmp, CONFIG.format(n_classes=3, clip_samples=8000, data=data, epochs=2)) == 0
    return tmp / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"


def test_export_round_trips(ckpt, tmp_path, capsys):
    from sigkit.audio.tiny.export import main

    out = tmp_path / "export"
    assert main(["--ckpt", str(ckpt), "--out", str(out), "--latency-runs", "3", "--max-drop", "100"]) == 0
    text = capsys.readouterr().out
    for key in ("parameters", "latency/clip", "float", "int8", "drop"):
        assert key in text
    report = json.loads((out / "report.json").read_text())
    assert report["params"] == sum(p.numel() for p in load_classifier(ckpt).parameters())
    assert report["n_val"] == 12 and 0.0 <= report["int8_acc"] <= 100.0
    assert report["float_acc"] - report["int8_acc"] == pytest.approx(report["drop"])

    # float ONNX equals PyTorch on the validation features
    module = load_classifier(ckpt)
    model = module.model
    feats = model.frontend(torch.randn(5, model.clip_samples))
    with torch.no_grad():
        ref = model.forward_features(feats).numpy()
    np.testing.assert_allclose(
        onnx_logits(out / "model_float.onnx", feats.numpy()), ref, rtol=1e-4, atol=1e-5
    )
    # int8 ONNX stays close to float (8-bit weights and activations) and keeps most decisions
    q = onnx_logits(out / "model_int8.onnx", feats.numpy())
    assert np.abs(q - ref).max() < 0.2 * np.abs(ref).max() + 0.05

    # the C header holds exactly the int8 graph's tensors, and the shapes
    header = (out / "model_int8.h").read_text()
    parsed = read_c_header(out / "model_int8.h")
    tensors = int8_tensors(out / "model_int8.onnx")
    int8_weights = [n for n, a in tensors.items() if a.dtype == np.int8 and a.ndim >= 2]
    assert int8_weights, "no int8 weight tensors in the quantised graph"
    assert len(parsed) == len(tensors)
    for name, arr in tensors.items():
        c_name = "tiny_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
        np.testing.assert_array_equal(parsed[c_name], arr.reshape(-1))
    for line in (
        "#define TINY_N_FEATURES 16",
        "#define TINY_N_FRAMES 32",
        "#define TINY_N_CLASSES 3",
        "#define TINY_FRONTEND_SR 8000",
        "#define TINY_DIM 8",
        '"dog", "rain", "crackling_fire"',
    ):
        assert line in header


@pytest.mark.parametrize("kind", ["patch", "cnn"])
def test_onnx_matches_pytorch_for_other_models(kind, tmp_path):
    if kind == "patch":
        model = TinyTransformer(
            LogMelFrontend(sr=8000, n_fft=256, hop=128, n_mels=20),
            4,
            4000,
            tokens="patch",
            patch=(5, 4),
            dim=8,
            heads=2,
            ffn=16,
        )
    else:
        model = MFCCCNN(
            MFCCFrontend(sr=8000, n_fft=256, hop=128, n_mfcc=13, n_mels=32),
            4,
            4000,
            channels=(4, 8),
            hidden=16,
        )
    model.eval()
    feats = model.frontend(torch.randn(3, 4000))
    path = export_onnx(model, tmp_path / "m.onnx", feats[:1])
    with torch.no_grad():
        np.testing.assert_allclose(
            onnx_logits(path, feats.numpy()), model.forward_features(feats).numpy(), rtol=1e-4, atol=1e-5
        )


def test_classify_folder_with_a_broken_file(ckpt, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    from sigkit.data.synth.environmental import environmental

    save_audio(src / "dog.wav", environmental("dog", 1.0, 22050, seed=7)[None], 22050)  # resampled to 8 kHz
    save_audio(src / "sub" / "rain.flac", environmental("rain", 2.5, 8000, seed=7)[None], 8000)  # 3 windows
    save_audio(src / "short.wav", environmental("crackling_fire", 0.3, 8000, seed=7)[None], 8000)  # padded
    (src / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    argv = [str(src), str(out), "--ckpt", str(ckpt), "-r", "-q", "--top-k", "2"]
    assert classify_main(argv) == 1  # one input failed
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == ["dog.wav", "short.wav", "sub/rain.flac"]
    names = {"dog", "rain", "crackling_fire"}
    for r in rows:
        assert {r["label_1"], r["label_2"]} <= names and r["label_1"] != r["label_2"]
        p1, p2 = float(r["prob_1"]), float(r["prob_2"])
        assert 1.0 >= p1 >= p2 >= 0.0 and p1 + p2 <= 1.0 + 1e-5
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [Path(e["input"]).name for e in errors] == ["broken.wav"]
    # a rerun resumes: the three done files are skipped, the csv still lists them
    assert classify_main(argv) == 1
    with open(out / "predictions.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3


def test_load_classifier_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_classifier(tmp_path / "none.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a tiny-classifier checkpoint"):
        load_classifier(tmp_path / "junk.ckpt")


def test_esc50_crossval_prints_mean_and_std(tmp_path, capsys):
    from test_tiny_data import write_esc50_fixture

    root = write_esc50_fixture(tmp_path / "ESC-50", seconds=0.5)
    data = (
        "sigkit.audio.tiny.ESC50DataModule\n  init_args: {root: none, sr: 8000, duration: 0.5, batch_size: 8}"
    )
    (tmp_path / "cv.yaml").write_text(CONFIG.format(n_classes=50, clip_samples=4000, data=data, epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = crossval_main(
            [
                "-c",
                str(tmp_path / "cv.yaml"),
                "--data.init_args.root",
                str(root),
                "--folds",
                "1,2",
                "--out",
                str(tmp_path / "cv"),
            ]
        )
    assert code == 0
    text = capsys.readouterr().out
    accs = [float(line.split()[-1].rstrip("%")) for line in text.splitlines() if line.startswith("fold ")]
    assert len(accs) == 2 and all(0.0 <= a <= 100.0 for a in accs)
    summary = [line for line in text.splitlines() if line.startswith("ESC-50 2-fold accuracy")]
    assert summary and f"{np.mean(accs):.2f} +- {np.std(accs, ddof=1):.2f} %" in summary[0]
    assert (tmp_path / "cv" / "fold2" / "lightning_logs").is_dir()


def test_clip_probabilities_windows():
    from sigkit.audio.tiny.infer import clip_probabilities

    class Spy(torch.nn.Module):
        clip_samples = 4

        def forward(self, x):
            self.seen = x.clone()
            return torch.stack([x.sum(1), -x.sum(1)], dim=1)

    spy = Spy()
    p = clip_probabilities(spy, torch.arange(10.0))
    # windows every 4 samples, the last one ending at the end (overlapping, not zero-padded)
    torch.testing.assert_close(spy.seen, torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]]))
    expected = torch.softmax(torch.tensor([[6.0, -6], [22, -22], [30, -30]]), dim=-1).mean(0)
    torch.testing.assert_close(p, expected)
    clip_probabilities(spy, torch.arange(3.0))
    torch.testing.assert_close(spy.seen, torch.tensor([[0.0, 1, 2, 0]]))  # short: zero-padded as in training
