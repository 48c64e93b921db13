"""AP-BWE's data: VCTK-0.92 in its official on-disk layouts, or a synthetic speech-like corpus.

Narrowband inputs are made the official way: the wideband audio is resampled down to the input rate
and back up to the target rate with torchaudio's sinc resampler (:func:`sigkit.io.resample`,
``method="sinc"``), then cut to the wideband length. Training takes random 8000-sample crops
(zero-padded when shorter); validation and test take whole utterances with batch size 1.

Layouts read under ``root`` (the ``VCTK-Corpus-0.92`` folder; nothing is ever downloaded):

1. AP-BWE's prepared layout: ``wav48/{train,test}/<id>.wav`` (or ``wav16/...``), selected by
   ``training.txt`` / ``test.txt`` (lines ``p225_001|...``, only the id is used) when present;
   the training files were silence-trimmed by the official ``flac2wav.py``.
2. The corpus as distributed: ``wav48_silence_trimmed/<spk>/<id>_mic1.flac`` or
   ``wav48_origin/<spk>/<id>_mic1.flac`` (mic1 only). The official speaker split applies: test speakers
   p360, p361, p362, p363, p364, p374, p376, s5; p280 and p315 are in neither split; the file lists
   filter further when present. Training files from ``wav48_origin`` are trimmed with
   ``vctk-silence-labels/vctk-silences.0.92.txt`` (0.1 s margins, as ``flac2wav.py``) when that
   file is there; test files are never trimmed (the official protocol).

With ``root=None`` the corpus is synthetic speech-like audio (:mod:`sigkit.data.synth`), so every
config runs on a fresh machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sigkit.errors import ConfigError, DatasetError
from sigkit.io import load_audio, resample

TEST_SPEAKERS = ("p360", "p361", "p362", "p363", "p364", "p374", "p376", "s5")
EXCLUDED_SPEAKERS = ("p280", "p315")
SILENCE_LABELS = "vctk-silence-labels/vctk-silences.0.92.txt"


@dataclass(frozen=True)
class Utterance:
    """One source: a file (``path``) or a waveform (``wave`` ``(T,)`` at ``sr`` Hz), with trim bounds."""

    uid: str
    path: Path | None = None
    wave: Tensor | None = None
    sr: int | None = None
    trim: tuple[float, float] | None = None  # seconds, margins already applied


def make_narrowband(wave: Tensor, sr: int, sr_in: int, sr_out: int) -> tuple[Tensor, Tensor]:
    """The official pair: ``(wideband at sr_out, narrowband at sr_in sinc-upsampled to sr_out)``.

    Args:
        wave: ``(..., T)`` audio at ``sr`` Hz.
        sr, sr_in, sr_out: source, narrowband and target rates in Hz.

    Returns:
        ``(wb, nb)``, both ``(..., T')`` with ``T' = ceil(T * sr_out / sr)``.

    >>> wb, nb = make_narrowband(torch.randn(48000), 48000, 8000, 16000)
    >>> wb.shape, nb.shape
    (torch.Size([16000]), torch.Size([16000]))
    """
    wb = resample(wave, sr, sr_out)
    nb = resample(resample(wave, sr, sr_in), sr_in, sr_out)[..., : wb.shape[-1]]
    return wb, nb


def read_silence_labels(path: Path, margin: float = 0.1) -> dict[str, tuple[float, float]]:
    """Read ``vctk-silences.0.92.txt`` (``p225_001 0.260 1.620``) as ``{id: (start - margin, end + margin)}``.

    The start is clamped at 0; the end is clamped to the file's length when the audio is cut.
    """
    labels = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            uid, start, end = parts
            labels[uid] = (max(0.0, float(start) - margin), float(end) + margin)
    return labels


def _read_ids(path: Path) -> set[str] | None:
    if not path.is_file():
        return None
    return {line.split("|")[0].strip() for line in path.read_text().splitlines() if line.strip()}


def discover_vctk(root: str | Path, sr_out: int = 48000) -> dict[str, list[Utterance]]:
    """Find the train and test utterances of a VCTK-0.92 folder in one of the layouts above.

    Returns:
        ``{"train": [...], "test": [...]}`` sorted by id.

    Raises:
        DatasetError: the folder is missing or holds none of the layouts.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: no such VCTK folder; pass --data.root the VCTK-Corpus-0.92 folder "
            "(or leave it out to train on the synthetic corpus)"
        )
    lists = {"train": _read_ids(root / "training.txt"), "test": _read_ids(root / "test.txt")}
    for prepared in (f"wav{sr_out // 1000}", "wav48", "wav16"):
        if (root / prepared / "train").is_dir() and (root / prepared / "test").is_dir():
            out = {}
            for split, sub in (("train", "train"), ("test", "test")):
                files = sorted((root / prepared / sub).glob("*.wav"))
                keep = lists[split]
                out[split] = [Utterance(f.stem, path=f) for f in files if keep is None or f.stem in keep]
            if out["train"] and out["test"]:
                return out
    for raw in ("wav48_origin", "wav48_silence_trimmed"):
        files = sorted((root / raw).glob("*/*_mic1.flac"))
        if not files:
            continue
        labels_file = root / SILENCE_LABELS
        labels = read_silence_labels(labels_file) if raw == "wav48_origin" and labels_file.is_file() else {}
        out = {"train": [], "test": []}
        for f in files:
            uid, spk = f.name.split("_mic")[0], f.parent.name
            if spk in EXCLUDED_SPEAKERS:
                continue
            split = "test" if spk in TEST_SPEAKERS else "train"
            if lists[split] is not None and uid not in lists[split]:
                continue
            out[split].append(Utterance(uid, path=f, trim=labels.get(uid) if split == "train" else None))
        if out["train"] and out["test"]:
            return out
    raise DatasetError(
        f"{root}: not a VCTK-0.92 folder in a known layout: expected wav48/{{train,test}}/*.wav (AP-BWE's "
        "prepared layout) or wav48_origin/<speaker>/*_mic1.flac / "
        "wav48_silence_trimmed/<speaker>/*_mic1.flac "
        "with both the train and the test speakers (p360, p361, ...) present"
    )


class BWEDataset(Dataset):
    """``{"wb": (T,), "nb": (T,), "sr_in": int}`` examples made from utterances.

    Args:
        items: the utterances.
        sr_out: target rate in Hz.
        sr_in: the narrowband rates; in training one is drawn per example (AP-BWE*), otherwise every
            utterance appears once per rate.
        segment: crop length in samples at ``sr_out`` (``None``: whole utterances).
        train: random rate and crop per example.
    """

    def __init__(
        self,
        items: list[Utterance],
        sr_out: int,
        sr_in: tuple[int, ...],
        segment: int | None = 8000,
        train: bool = True,
    ) -> None:
        self.items, self.sr_out, self.rates, self.segment, self.train = (
            items,
            sr_out,
            tuple(sr_in),
            segment,
            train,
        )

    def __len__(self) -> int:
        return len(self.items) * (1 if self.train else len(self.rates))

    def _load(self, item: Utterance) -> tuple[Tensor, int]:
        if item.wave is not None:
            wave, sr = item.wave, int(item.sr)
        else:
            wave, sr = load_audio(item.path, mono=True)
            wave = wave[0]
        if item.trim is not None:
            wave = wave[round(item.trim[0] * sr) : round(item.trim[1] * sr)]
        return wave, sr

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        if self.train:
            item, rate = self.items[index], self.rates[int(torch.randint(len(self.rates), ()))]
        else:
            item, rate = self.items[index // len(self.rates)], self.rates[index % len(self.rates)]
        wave, sr = self._load(item)
        wb, nb = make_narrowband(wave, sr, rate, self.sr_out)
        if self.segment is not None:
            if wb.shape[-1] >= self.segment:
                start = int(torch.randint(wb.shape[-1] - self.segment + 1, ())) if self.train else 0
                wb, nb = wb[start : start + self.segment], nb[start : start + self.segment]
            else:
                pad = self.segment - wb.shape[-1]
                wb, nb = torch.nn.functional.pad(wb, (0, pad)), torch.nn.functional.pad(nb, (0, pad))
        return {"wb": wb.float(), "nb": nb.float(), "sr_in": rate}


def synthetic_utterances(n: int, seconds: float, sr: int, seed: int, prefix: str) -> list[Utterance]:
    """``n`` speech-like utterances of ``seconds`` at ``sr`` Hz (:func:`sigkit.data.synth.speech_like`).

    >>> u = synthetic_utterances(2, 0.5, 16000, seed=0, prefix="val")
    >>> [x.uid for x in u], tuple(u[0].wave.shape)
    (['val_0000', 'val_0001'], (8000,))
    """
    from sigkit.data.synth import speech_like

    out = []
    for i in range(n):
        wave = speech_like(seconds, sr, seed=seed + i)
        out.append(
            Utterance(f"{prefix}_{i:04d}", wave=torch.as_tensor(wave, dtype=torch.float32).reshape(-1), sr=sr)
        )
    return out


class VCTKDataModule(pl.LightningDataModule):
    """VCTK-0.92 (official split and protocol) or the synthetic default, for AP-BWE.

    Args:
        root: the ``VCTK-Corpus-0.92`` folder; ``None`` uses the synthetic corpus.
        sr_out: target rate in Hz.
        sr_in: narrowband rate in Hz, or a list for AP-BWE* (random input rate).
        segment: training crop in samples at ``sr_out`` (8000 official).
        batch_size: training batch (16 official); validation and test use 1.
        num_workers: loader workers.
        val_count: how many test utterances to validate on (``None``: all, as the official script).
        synthetic_train, synthetic_val: utterance counts of the synthetic corpus.
        synthetic_seconds: their length in seconds.
        seed: seed of the synthetic corpus.

    >>> dm = VCTKDataModule(sr_out=16000, sr_in=8000, batch_size=2, synthetic_train=2, synthetic_val=1,
    ...                     synthetic_seconds=0.6)
    >>> dm.setup("fit"); b = next(iter(dm.train_dataloader()))
    >>> b["wb"].shape, b["nb"].shape, b["sr_in"].tolist()
    (torch.Size([2, 8000]), torch.Size([2, 8000]), [8000, 8000])
    """

    def __init__(
        self,
        root: str | None = None,
        sr_out: int = 16000,
        sr_in: int | list[int] = 8000,
        segment: int = 8000,
        batch_size: int = 16,
        num_workers: int = 0,
        val_count: int | None = None,
        synthetic_train: int = 256,
        synthetic_val: int = 16,
        synthetic_seconds: float = 2.0,
        seed: int = 1234,
    ) -> None:
        super().__init__()
        rates = tuple(int(r) for r in (sr_in if isinstance(sr_in, (list, tuple)) else [sr_in]))
        if any(r >= sr_out for r in rates):
            raise ConfigError(f"VCTKDataModule: input rates {list(rates)} must be below sr_out={sr_out} Hz")
        self.root, self.sr_out, self.rates = root, int(sr_out), rates
        self.segment, self.batch_size, self.num_workers, self.val_count = (
            segment,
            batch_size,
            num_workers,
            val_count,
        )
        self.synthetic = (synthetic_train, synthetic_val, synthetic_seconds, seed)
        self.splits: dict[str, list[Utterance]] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        if self.root is None:
            n_train, n_val, seconds, seed = self.synthetic
            self.splits = {
                "train": synthetic_utterances(n_train, seconds, self.sr_out, seed, "train"),
                "test": synthetic_utterances(n_val, seconds, self.sr_out, seed + 10_000_000, "test"),
            }
        else:
            self.splits = discover_vctk(self.root, self.sr_out)

    def _loader(self, items: list[Utterance], train: bool) -> DataLoader:
        ds = BWEDataset(items, self.sr_out, self.rates, self.segment if train else None, train=train)
        return DataLoader(
            ds,
            batch_size=self.batch_size if train else 1,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        items = self.splits["train"]
        if len(items) < self.batch_size:
            raise DatasetError(
                f"only {len(items)} training utterances for batch_size={self.batch_size}; "
                "lower --data.batch_size or add data"
            )
        return self._loader(items, train=True)

    def val_dataloader(self) -> DataLoader:
        items = self.splits["test"]
        if self.val_count is not None:
            items = random.Random(0).sample(items, min(self.val_count, len(items)))
        return self._loader(items, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits["test"], train=False)
