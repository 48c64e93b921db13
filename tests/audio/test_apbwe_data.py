"""AP-BWE data: the official VCTK layouts on tiny fixtures, the split, trimming, narrowband making."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sigkit.audio.apbwe.data import (
    BWEDataset,
    VCTKDataModule,
    discover_vctk,
    make_narrowband,
    read_silence_labels,
)

from sigkit.errors import DatasetError
from sigkit.io import save_audio
from sigkit.metrics import lsd
from sigkit.spectral import STFTSpec, spectrogram

SR = 48000


def tone(seconds: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * SR), generator=g)


@pytest.fixture
def raw_vctk(tmp_path) -> Path:
    """VCTK-Corpus-0.92 as distributed: wav48_origin/<spk>/<id>_mic1.flac (+ mic2 files to ignore)."""
    root = tmp_path / "VCTK-Corpus-0.92"
    for k, (spk, n) in enumerate([("p225", 2), ("p280", 1), ("p360", 1), ("s5", 1)]):
        for i in range(1, n + 1):
            save_audio(
                root / "wav48_origin" / spk / f"{spk}_{i:03d}_mic1.flac", tone(0.5, k * 10 + i)[None], SR
            )
            save_audio(root / "wav48_origin" / spk / f"{spk}_{i:03d}_mic2.flac", tone(0.5, 99)[None], SR)
    labels = root / "vctk-silence-labels" / "vctk-silences.0.92.txt"
    labels.parent.mkdir(parents=True)
    labels.write_text("p225_001 0.150 0.300\np360_001 0.100 0.200\n")
    return root


@pytest.fixture
def prepared_vctk(tmp_path) -> Path:
    """AP-BWE's prepared layout: wav48/{train,test}/<id>.wav with training.txt / test.txt."""
    root = tmp_path / "VCTK-Corpus-0.92"
    for split, ids in (("train", ["p225_001", "p226_001", "p226_002"]), ("test", ["p360_001", "s5_002"])):
        for i, uid in enumerate(ids):
            save_audio(root / "wav48" / split / f"{uid}.wav", tone(0.4, i)[None], SR)
    (root / "training.txt").write_text(
        "p225_001|VCTK-Corpus-0.92/wav48/train/p225_001.wav\n"
        "p226_002|VCTK-Corpus-0.92/wav48/train/p226_002.wav\n"
    )
    (root / "test.txt").write_text("p360_001|x\ns5_002|x\n")
    return root


class TestVCTKLayouts:
    def test_raw_layout_split_and_trim(self, raw_vctk):
        splits = discover_vctk(raw_vctk)
        assert [u.uid for u in splits["train"]] == ["p225_001", "p225_002"]  # p280 excluded, mic2 ignored
        assert [u.uid for u in splits["test"]] == ["p360_001", "s5_001"]
        assert splits["train"][0].trim == pytest.approx((0.05, 0.4))  # 0.1 s margins as flac2wav.py
        assert splits["train"][1].trim is None and splits["test"][0].trim is None  # test is untrimmed
        ds = BWEDataset(splits["train"], 16000, (8000,), segment=None, train=False)
        item = ds[0]
        assert item["wb"].shape == (int(0.35 * 16000),) and item["sr_in"] == 8000

    def test_prepared_layout_uses_file_lists(self, prepared_vctk):
        splits = discover_vctk(prepared_vctk, sr_out=48000)
        assert [u.uid for u in splits["train"]] == ["p225_001", "p226_002"]
        assert [u.uid for u in splits["test"]] == ["p360_001", "s5_002"]

    def test_datamodule_on_fixture(self, prepared_vctk):
        dm = VCTKDataModule(root=str(prepared_vctk), sr_out=16000, sr_in=[4000, 8000], batch_size=2)
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        assert batch["wb"].shape == (2, 8000) and batch["nb"].shape == (2, 8000)  # 0.4 s -> zero-padded crop
        assert float(batch["wb"][:, 6400:].abs().max()) == 0.0
        test = list(dm.test_dataloader())
        assert len(test) == 4 and [int(b["sr_in"]) for b in test] == [
            4000,
            8000,
            4000,
            8000,
        ]  # every rate per file
        assert test[0]["wb"].shape == (1, 6400)

    def test_missing_or_wrong_folder(self, tmp_path):
        with pytest.raises(DatasetError, match="no such VCTK folder"):
            discover_vctk(tmp_path / "nope")
        (tmp_path / "empty").mkdir()
        with pytest.raises(DatasetError, match="not a VCTK-0.92 folder"):
            discover_vctk(tmp_path / "empty")

    def test_silence_labels(self, tmp_path):
        f = tmp_path / "s.txt"
        f.write_text("p225_001 0.050 1.620\nbad line\n")
        assert read_silence_labels(f) == {"p225_001": (0.0, pytest.approx(1.72))}


class TestNarrowband:
    def test_official_pair_is_band_limited(self):
        x = tone(0.5, 3)
        wb, nb = make_narrowband(x, SR, 8000, 16000)
        assert wb.shape == nb.shape == (8000,)
        S_nb, S_wb = spectrogram(nb, STFTSpec(1024, 256)), spectrogram(wb, STFTSpec(1024, 256))
        high = slice(int(4400 / 8000 * 512), None)  # above the 4 kHz cut (and the filter and window leakage)
        assert float(S_nb[high].sum() / S_wb[high].sum()) < 3e-3  # > 25 dB down (edges and leakage)
        low = slice(0, int(3000 / 8000 * 512))
        assert abs(float(S_nb[low].sum() / S_wb[low].sum()) - 1) < 0.03
        assert float(lsd(nb, wb)) > 1.0

    def test_training_crop(self):
        from sigkit.audio.apbwe.data import Utterance

        items = [Utterance("a", wave=tone(1.0, 1), sr=SR)]
        ds = BWEDataset(items, 16000, (2000, 4000, 8000), segment=8000, train=True)
        torch.manual_seed(0)
        rates = {ds[0]["sr_in"] for _ in range(30)}
        assert rates == {2000, 4000, 8000}  # AP-BWE*: a random rate per example
        assert ds[0]["wb"].shape == (8000,)


def test_reads_the_synthetic_vctk_writer(tmp_path):
    """`write_vctk_layout` (wav48_silence_trimmed/<spk>/<id>_mic1.flac) is read with the official split."""
    from sigkit.data.synth import write_vctk_layout

    write_vctk_layout(tmp_path / "vctk", n=4, sr=16000, n_speakers=2, seconds=(0.5, 0.6))
    splits = discover_vctk(tmp_path / "vctk", sr_out=16000)
    assert [u.uid for u in splits["train"]] == ["p225_001", "p225_002"]
    assert [u.uid for u in splits["test"]] == ["p360_001", "p360_002"]
    dm = VCTKDataModule(root=str(tmp_path / "vctk"), sr_out=16000, sr_in=8000, batch_size=2)
    dm.setup("fit")
    assert next(iter(dm.train_dataloader()))["wb"].shape == (2, 8000)
