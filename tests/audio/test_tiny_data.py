"""DataModules of sigkit.audio.tiny: ESC-50 (fixture in the official layout), folder-per-class, synthetic."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from sigkit.audio.tiny.data import ESC50DataModule, FolderDataModule, SyntheticDataModule, read_esc50_meta

from sigkit.errors import DatasetError, InputError
from sigkit.io import save_audio

ESC_SR = 44100
# (target, category, esc10) of the fixture's classes; tone frequency = 200 Hz * (index + 1)
CLASSES = [(0, "dog", True), (10, "rain", True), (14, "chirping_birds", False), (38, "clock_tick", True)]


def _tone(freq: float, sr: int, seconds: float) -> torch.Tensor:
    t = torch.arange(int(sr * seconds)) / sr
    return 0.5 * torch.sin(2 * math.pi * freq * t)[None]


def write_esc50_fixture(root: Path, seconds: float = 0.25) -> Path:
    """ESC-50's layout: audio/{fold}-{clip}-{take}-{target}.wav at 44.1 kHz and meta/esc50.csv, 5 folds."""
    (root / "meta").mkdir(parents=True)
    rows = []
    for fold in range(1, 6):
        for idx, (target, category, esc10) in enumerate(CLASSES):
            clip = 100000 + 10 * fold + idx
            name = f"{fold}-{clip}-A-{target}.wav"
            save_audio(root / "audio" / name, _tone(200.0 * (idx + 1), ESC_SR, seconds), ESC_SR)
            rows.append([name, fold, target, category, esc10, clip, "A"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def esc50_root(tmp_path_factory) -> Path:
    return write_esc50_fixture(tmp_path_factory.mktemp("ESC-50"))


class TestESC50:
    def test_fold_protocol_and_labels(self, esc50_root):
        dm = ESC50DataModule(str(esc50_root), fold=3, sr=16000, duration=0.25, batch_size=4)
        dm.setup("fit")
        assert len(dm.class_names) == 50 and dm.class_names[10] == "rain" and dm.class_names[1] == "target_1"
        assert [dm.class_names[t] for t, _, _ in CLASSES] == ["dog", "rain", "chirping_birds", "clock_tick"]
        val_names = [Path(p).name for p in dm.val_set.items]
        assert len(val_names) == 4 and all(n.startswith("3-") for n in val_names)
        assert len(dm.train_set) == 16 and not any(Path(p).name.startswith("3-") for p in dm.train_set.items)
        # labels are the ESC-50 targets, the last field of the file names
        items, labels = dm.val_set.items + dm.train_set.items, dm.val_set.labels + dm.train_set.labels
        assert labels == [int(Path(p).stem.split("-")[-1]) for p in items]
        wave, label = next(iter(dm.val_dataloader()))
        assert wave.shape == (4, 4000) and wave.dtype == torch.float32 and label.tolist() == [0, 10, 14, 38]

    def test_resampled_from_44k1_keeps_the_tone(self, esc50_root):
        dm = ESC50DataModule(str(esc50_root), fold=1, sr=8000, duration=0.25)
        dm.setup()
        index = {t: i for i, (t, _, _) in enumerate(CLASSES)}
        for i, label in enumerate(dm.val_set.labels):
            wave, _ = dm.val_set[i]
            assert wave.shape == (2000,)
            peak_hz = int(torch.fft.rfft(wave).abs().argmax()) * 8000 / 2000
            assert peak_hz == pytest.approx(200.0 * (index[label] + 1), abs=4.0)
        assert float(dm.val_set[0][0].abs().max()) == pytest.approx(0.5, abs=0.02)

    def test_duration_pads_and_crops(self, esc50_root):
        dm = ESC50DataModule(str(esc50_root), fold=1, sr=8000, duration=0.5)
        dm.setup()
        wave, _ = dm.val_set[0]
        assert wave.shape == (4000,) and bool((wave[2000:] == 0).all()) and bool((wave[:2000] != 0).any())

    def test_esc10_subset(self, esc50_root):
        dm = ESC50DataModule(str(esc50_root), fold=5, esc10=True, sr=8000, duration=0.25)
        dm.setup()
        assert dm.class_names == ["dog", "rain", "clock_tick"]
        assert sorted(set(dm.train_set.labels)) == [0, 1, 2] and len(dm.val_set) == 3

    def test_errors_name_the_input_and_the_fix(self, esc50_root, tmp_path):
        with pytest.raises(DatasetError, match="no such folder.*--data.root"):
            ESC50DataModule(str(tmp_path / "nowhere")).setup()
        with pytest.raises(DatasetError, match="missing meta/esc50.csv"):
            (tmp_path / "audio").mkdir()
            ESC50DataModule(str(tmp_path)).setup()
        with pytest.raises(InputError, match="fold must be 1-5"):
            ESC50DataModule(str(esc50_root), fold=0)
        broken = tmp_path / "broken"
        (broken / "audio").mkdir(parents=True)
        (broken / "meta").mkdir()
        (broken / "meta" / "esc50.csv").write_text((esc50_root / "meta" / "esc50.csv").read_text())
        with pytest.raises(DatasetError, match=r"20 file\(s\) listed .* are missing \(first: 1-"):
            read_esc50_meta(broken)


class TestFolderDataModule:
    def _make(self, root: Path, per_class: int = 5) -> None:
        for c, name in enumerate(["cat", "bird"]):
            for i in range(per_class):
                save_audio(root / name / f"{i}.wav", _tone(300.0 * (c + 1), 16000, 0.1), 16000)

    def test_random_split_per_class(self, tmp_path):
        self._make(tmp_path)
        dm = FolderDataModule(str(tmp_path), val_fraction=0.4, sr=16000, duration=0.1)
        dm.setup()
        assert dm.class_names == ["bird", "cat"]
        assert sorted(dm.val_set.labels) == [0, 0, 1, 1] and len(dm.train_set) == 6
        assert not set(map(str, dm.val_set.items)) & set(map(str, dm.train_set.items))
        for path, label in zip(dm.train_set.items, dm.train_set.labels, strict=True):
            assert Path(path).parent.name == dm.class_names[label]

    def test_train_val_folders(self, tmp_path):
        self._make(tmp_path / "train", 3)
        self._make(tmp_path / "val", 1)
        dm = FolderDataModule(str(tmp_path), sr=8000, duration=0.1)
        dm.setup()
        assert len(dm.train_set) == 6 and len(dm.val_set) == 2 and dm.val_set[0][0].shape == (800,)

    def test_errors(self, tmp_path):
        with pytest.raises(DatasetError, match="one sub-folder of audio files per class"):
            FolderDataModule(str(tmp_path / "none")).setup()
        save_audio(tmp_path / "only" / "a.wav", _tone(300.0, 8000, 0.1), 8000)
        with pytest.raises(DatasetError, match="need at least 2"):
            FolderDataModule(str(tmp_path)).setup()


def test_synthetic_validation_clips_are_held_out():
    dm = SyntheticDataModule(n_classes=3, n_train=2, n_val=2, sr=8000, duration=0.5)
    dm.setup()
    assert (
        dm.class_names == ["dog", "rain", "crackling_fire"]
        and len(dm.train_set) == 6
        and len(dm.val_set) == 6
    )
    for tr in dm.train_set.items:
        for va in dm.val_set.items:
            assert not torch.equal(tr, va)
    again = SyntheticDataModule(n_classes=3, n_train=2, n_val=2, sr=8000, duration=0.5)
    again.setup()
    torch.testing.assert_close(again.val_set[1][0], dm.val_set[1][0])


def test_esc50_without_root_uses_a_synthetic_stand_in(monkeypatch, tmp_path, capsys):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    import sigkit.data.synth as synth

    calls = []
    real = synth.write_esc50_layout

    def small(out_dir, n_per_class=10, seed=0, **kw):  # the real writer, fewer and shorter clips
        calls.append(n_per_class)
        return real(out_dir, n_per_class=5, seed=seed, sr=8000, seconds=0.5, classes=["dog", "rain", "siren"])

    monkeypatch.setattr(synth, "write_esc50_layout", small)
    dm = ESC50DataModule(None, fold=2, sr=8000, duration=0.5)
    dm.setup()
    assert "writing a synthetic ESC-50-layout stand-in" in capsys.readouterr().out
    assert sorted(set(dm.val_set.labels)) == [0, 10, 42] and len(dm.val_set) == 3 and len(dm.train_set) == 12
    ESC50DataModule(None, fold=1, sr=8000, duration=0.5).setup()  # the layout is reused, not rewritten
    assert calls == [10] and "using the synthetic stand-in" in capsys.readouterr().out
