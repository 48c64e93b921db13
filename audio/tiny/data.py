"""DataModules for sound classification: ESC-50 (official layout), any folder-per-class set, and the
synthetic environmental corpus (the default, so every config runs on a fresh machine).

Every DataModule yields batches ``(wave, label)``: mono waveforms ``(B, clip_samples)`` float32 at
``sr`` Hz (resampled from the file's rate, cut or zero-padded to ``duration`` seconds) and class
indices ``(B,)`` long; it exposes ``class_names`` (index -> name) once set up. The test split is the
validation split (ESC-50's protocol evaluates on the held-out fold).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sigkit.errors import DatasetError, InputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def fit_length(wave: Tensor, n_samples: int, offset: int = 0) -> Tensor:
    """Cut ``(..., T)`` to ``n_samples`` starting at ``offset``, or zero-pad its end to ``n_samples``.

    >>> fit_length(torch.ones(5), 3).tolist(), fit_length(torch.ones(2), 4).tolist()
    ([1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0])
    """
    if wave.shape[-1] >= n_samples:
        return wave[..., offset : offset + n_samples]
    return torch.nn.functional.pad(wave, (0, n_samples - wave.shape[-1]))


class ClipDataset(Dataset):
    """Audio files (or in-memory waveforms) with labels, as fixed-length mono clips.

    Args:
        items: file paths, or waveforms ``(T,)`` already at ``sr``.
        labels: class index of each item.
        sr: sample rate in Hz the files are resampled to.
        n_samples: clip length in samples.
        random_crop: take a random window of longer clips (training) instead of the start.
        cache: keep loaded clips in memory (per worker process).

    ``dataset[i]`` is ``(wave (n_samples,) float32, label int)``.

    >>> ds = ClipDataset([torch.ones(3), torch.ones(8)], [0, 1], sr=8000, n_samples=4)
    >>> ds[0][0].tolist(), ds[1][1]
    ([1.0, 1.0, 1.0, 0.0], 1)
    """

    def __init__(
        self,
        items: Sequence[str | Path | Tensor],
        labels: Sequence[int],
        sr: int,
        n_samples: int,
        random_crop: bool = False,
        cache: bool = True,
    ) -> None:
        if len(items) != len(labels):
            raise InputError(f"ClipDataset: {len(items)} items but {len(labels)} labels")
        self.items, self.labels = list(items), [int(x) for x in labels]
        self.sr, self.n_samples, self.random_crop, self.cache = sr, n_samples, random_crop, cache
        self._cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int) -> Tensor:
        """The whole (uncut) mono waveform ``(T,)`` of item ``i`` at ``sr``."""
        if i in self._cache:
            return self._cache[i]
        item = self.items[i]
        if isinstance(item, Tensor):
            wave = item.float()
        else:
            from sigkit.io import load_audio

            wave = load_audio(item, sr=self.sr, mono=True)[0][0]
        if self.cache:
            self._cache[i] = wave
        return wave

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        wave = self.load(i)
        offset = 0
        if self.random_crop and wave.shape[-1] > self.n_samples:
            offset = random.randint(0, wave.shape[-1] - self.n_samples)
        return fit_length(wave, self.n_samples, offset), self.labels[i]


class _ClipDataModule(pl.LightningDataModule):
    """Train/val ``ClipDataset`` pairs and their loaders; subclasses fill ``_make_splits``."""

    def __init__(self, sr: int, duration: float, batch_size: int, num_workers: int, cache: bool) -> None:
        super().__init__()
        if sr <= 0 or duration <= 0:
            raise InputError(f"sr and duration must be positive, got sr={sr}, duration={duration}")
        self.sr, self.duration = int(sr), float(duration)
        self.clip_samples = round(self.sr * self.duration)
        self.batch_size, self.num_workers, self.cache = batch_size, num_workers, cache
        self.class_names: list[str] = []
        self.train_set: ClipDataset | None = None
        self.val_set: ClipDataset | None = None

    def _make_splits(self) -> tuple[list, list[int], list, list[int], list[str]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _make_splits() (base class of the data modules)")

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        tr_items, tr_labels, va_items, va_labels, self.class_names = self._make_splits()
        self.train_set = ClipDataset(tr_items, tr_labels, self.sr, self.clip_samples, True, self.cache)
        self.val_set = ClipDataset(va_items, va_labels, self.sr, self.clip_samples, False, self.cache)

    def _loader(self, ds: ClipDataset | None, shuffle: bool) -> DataLoader:
        if ds is None:
            raise DatasetError(f"{type(self).__name__}: call setup() before asking for a loader")
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)


def read_esc50_meta(root: str | Path) -> list[dict[str, str]]:
    """Rows of ``ROOT/meta/esc50.csv`` (official columns), checked against ``ROOT/audio/``.

    Raises:
        DatasetError: the folder, the csv or a listed file is missing, or the csv lacks a column.
    """
    root = Path(root)
    meta, audio = root / "meta" / "esc50.csv", root / "audio"
    hint = (
        "pass --data.root the folder of the official ESC-50 checkout (github.com/karolpiczak/ESC-50), "
        "which holds audio/ and meta/esc50.csv"
    )
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; {hint}")
    if not meta.is_file() or not audio.is_dir():
        raise DatasetError(f"{root}: missing {'meta/esc50.csv' if not meta.is_file() else 'audio/'}; {hint}")
    with open(meta, newline="") as fh:
        reader = csv.DictReader(fh)
        missing_cols = [c for c in ESC50_COLUMNS[:5] if c not in (reader.fieldnames or [])]
        if missing_cols:
            raise DatasetError(
                f"{meta}: columns {missing_cols} missing (header {reader.fieldnames}); "
                f"expected {','.join(ESC50_COLUMNS)}"
            )
        rows = list(reader)
    absent = [r["filename"] for r in rows if not (audio / r["filename"]).is_file()]
    if absent:
        raise DatasetError(
            f"{audio}: {len(absent)} file(s) listed in meta/esc50.csv are missing (first: "
            f"{absent[0]}); re-download or re-extract the dataset"
        )
    return rows


class ESC50DataModule(_ClipDataModule):
    """ESC-50 (Piczak 2015) from its official layout, with the 5-fold protocol.

    ``ROOT/audio/{fold}-{clip}-{take}-{target}.wav`` and ``ROOT/meta/esc50.csv``
    (``filename,fold,target,category,esc10,src_file,take``). Fold ``fold`` is the validation (and test)
    set, the other four train. Labels are ESC-50's targets 0-49 (``class_names[target]`` is the
    category); ``esc10=True`` keeps the ESC-10 subset, relabelled 0-9 in the order of the original
    targets. Clips (5 s, 44.1 kHz) are resampled to ``sr``.

    With ``root=None`` (the configs' default, so they run on a machine without the dataset) a synthetic
    stand-in in the same layout is written once by :func:`sigkit.data.synth.write_esc50_layout` (12
    classes with their real ESC-50 targets, 10 clips each) under the temporary folder and used instead;
    a line says so. Its accuracy says nothing about ESC-50.

    Args:
        root: the dataset folder, or ``None`` for the synthetic stand-in.
        fold: validation fold, 1-5.
        esc10: use the 10-class ESC-10 subset.
        sr: sample rate in Hz fed to the model.
        duration: clip length in seconds.
        batch_size, num_workers: loader settings.
        cache: keep decoded clips in memory (2,000 clips at 16 kHz take 640 MB).

    >>> ESC50DataModule(root="/data/ESC-50", fold=1).clip_samples
    80000
    """

    N_TARGETS = 50

    def __init__(
        self,
        root: str | None = None,
        fold: int = 1,
        esc10: bool = False,
        sr: int = 16000,
        duration: float = 5.0,
        batch_size: int = 32,
        num_workers: int = 0,
        cache: bool = True,
    ) -> None:
        super().__init__(sr, duration, batch_size, num_workers, cache)
        self.save_hyperparameters()
        if fold not in (1, 2, 3, 4, 5):
            raise InputError(f"ESC-50 fold must be 1-5 (the validation fold), got {fold}")
        self.root, self.fold, self.esc10 = (None if root is None else Path(root)), int(fold), esc10

    def _make_splits(self):
        if self.root is None:
            self.root = synthetic_esc50_root()
        rows = read_esc50_meta(self.root)
        if self.esc10:
            rows = [r for r in rows if r["esc10"].strip().lower() == "true"]
        names = {int(r["target"]): r["category"] for r in rows}
        if self.esc10:
            remap = {t: i for i, t in enumerate(sorted(names))}
            class_names = [names[t] for t in sorted(names)]
        else:
            bad = sorted(t for t in names if not 0 <= t < self.N_TARGETS)
            if bad:
                raise DatasetError(f"{self.root}: meta/esc50.csv has targets {bad} outside ESC-50's 0-49")
            remap = {t: t for t in names}
            class_names = [names.get(t, f"target_{t}") for t in range(self.N_TARGETS)]
        audio = self.root / "audio"
        tr = [(audio / r["filename"], remap[int(r["target"])]) for r in rows if int(r["fold"]) != self.fold]
        va = [(audio / r["filename"], remap[int(r["target"])]) for r in rows if int(r["fold"]) == self.fold]
        if not tr or not va:
            raise DatasetError(
                f"{self.root}: fold {self.fold} leaves an empty {'training' if not tr else 'validation'} "
                "set; meta/esc50.csv must list clips of all five folds"
            )
        return [p for p, _ in tr], [y for _, y in tr], [p for p, _ in va], [y for _, y in va], class_names


def synthetic_esc50_root(n_per_class: int = 10, seed: int = 0) -> Path:
    """A synthetic corpus in the ESC-50 layout (written once, then reused) under the temporary folder."""
    import os
    import shutil
    import tempfile

    from sigkit.data.synth import write_esc50_layout

    root = Path(tempfile.gettempdir()) / f"sigkit_esc50_synthetic_n{n_per_class}_s{seed}"
    if not (root / "meta" / "esc50.csv").is_file():
        print(f"ESC50DataModule: no --data.root given; writing a synthetic ESC-50-layout stand-in to {root}")
        part = Path(tempfile.mkdtemp(prefix=root.name + ".part", dir=root.parent))
        write_esc50_layout(part, n_per_class=n_per_class, seed=seed)
        try:
            os.replace(part, root)
        except OSError:  # another process finished first
            shutil.rmtree(part, ignore_errors=True)
    else:
        print(f"ESC50DataModule: no --data.root given; using the synthetic stand-in at {root}")
    return root


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def _class_folders(root: Path) -> dict[str, list[Path]]:
    classes = {
        d.name: _audio_files(d) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }
    return {k: v for k, v in classes.items() if v}


class FolderDataModule(_ClipDataModule):
    """Any folder-per-class dataset: ``ROOT/<class>/**/*.wav|flac|ogg``.

    If ``ROOT/train/<class>/`` and ``ROOT/val/<class>/`` exist they are the splits; otherwise each class
    is split at random (seeded) with ``val_fraction`` of its files for validation. Class indices follow
    the sorted class-folder names.

    Args:
        root: the dataset folder.
        val_fraction: share of each class held out when there is no ``train/``/``val/`` split.
        seed: seed of that split.
        sr, duration, batch_size, num_workers, cache: as :class:`ESC50DataModule`.

    >>> FolderDataModule(root="my_sounds", sr=16000, duration=1.0).clip_samples
    16000
    """

    def __init__(
        self,
        root: str,
        val_fraction: float = 0.2,
        seed: int = 0,
        sr: int = 16000,
        duration: float = 5.0,
        batch_size: int = 32,
        num_workers: int = 0,
        cache: bool = True,
    ) -> None:
        super().__init__(sr, duration, batch_size, num_workers, cache)
        self.save_hyperparameters()
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.root, self.val_fraction, self.seed = Path(root), val_fraction, seed

    def _make_splits(self):
        root = self.root
        if not root.is_dir():
            raise DatasetError(
                f"{root}: no such folder; pass --data.root a folder with one sub-folder of "
                "audio files per class"
            )
        if (root / "train").is_dir() and (root / "val").is_dir():
            train, val = _class_folders(root / "train"), _class_folders(root / "val")
            names = sorted(set(train) | set(val))
        else:
            classes = _class_folders(root)
            names, train, val = sorted(classes), {}, {}
            rng = random.Random(self.seed)
            for name, files in classes.items():
                files = list(files)
                rng.shuffle(files)
                n_val = max(1, round(len(files) * self.val_fraction)) if len(files) > 1 else 0
                val[name], train[name] = files[:n_val], files[n_val:]
        if len(names) < 2:
            raise DatasetError(
                f"{root}: found {len(names)} class folder(s) with audio files; need at least 2 "
                f"(ROOT/<class>/*.wav)"
            )
        index = {n: i for i, n in enumerate(names)}
        tr = [(p, index[n]) for n in names for p in train.get(n, [])]
        va = [(p, index[n]) for n in names for p in val.get(n, [])]
        if not va:
            raise DatasetError(
                f"{root}: no validation files; give each class at least 2 files or a val/ folder"
            )
        return [p for p, _ in tr], [y for _, y in tr], [p for p, _ in va], [y for _, y in va], names


class SyntheticDataModule(_ClipDataModule):
    """The synthetic environmental corpus of :mod:`sigkit.data.synth` (the default: needs no files).

    Clips of the first ``n_classes`` classes of ``sigkit.data.synth.ENV_CLASSES`` (dog, rain,
    crackling_fire, ...), each drawn with its own seed: the validation clips use seeds the training
    clips never use, so the validation split is held out. Clips are synthesised once, in memory.

    Args:
        n_classes: classes used (2-12).
        n_train, n_val: clips per class in each split.
        seed: corpus seed.
        sr, duration, batch_size, num_workers: as :class:`ESC50DataModule`.

    >>> dm = SyntheticDataModule(n_classes=3, n_train=2, n_val=1, sr=8000, duration=0.5, batch_size=4)
    >>> dm.setup("fit")
    >>> wave, label = next(iter(dm.val_dataloader()))
    >>> wave.shape, label.tolist(), dm.class_names, len(dm.train_set)
    (torch.Size([3, 4000]), [0, 1, 2], ['dog', 'rain', 'crackling_fire'], 6)
    """

    def __init__(
        self,
        n_classes: int = 10,
        n_train: int = 40,
        n_val: int = 20,
        seed: int = 0,
        sr: int = 16000,
        duration: float = 5.0,
        batch_size: int = 32,
        num_workers: int = 0,
    ) -> None:
        super().__init__(sr, duration, batch_size, num_workers, cache=True)
        self.save_hyperparameters()
        from sigkit.data.synth.environmental import ENV_CLASSES

        if not 2 <= n_classes <= len(ENV_CLASSES):
            raise InputError(f"SyntheticDataModule: n_classes must be 2-{len(ENV_CLASSES)}, got {n_classes}")
        if n_train < 1 or n_val < 1:
            raise InputError(f"SyntheticDataModule: n_train and n_val must be >= 1, got {n_train}, {n_val}")
        self.n_classes, self.n_train, self.n_val, self.seed = n_classes, n_train, n_val, seed

    def _make_splits(self):
        from sigkit.data.synth.environmental import ENV_CLASSES, environmental

        def clips(first_seed: int, n: int) -> tuple[list[Tensor], list[int]]:
            items, labels = [], []
            for c in range(self.n_classes):
                for i in range(n):
                    wave = environmental(c, seconds=self.duration, sr=self.sr, seed=first_seed + i)
                    items.append(torch.from_numpy(wave))
                    labels.append(c)
            return items, labels

        base = 1_000_000 * self.seed
        tr_items, tr_labels = clips(base, self.n_train)
        va_items, va_labels = clips(base + self.n_train, self.n_val)  # seeds after the training ones
        return tr_items, tr_labels, va_items, va_labels, list(ENV_CLASSES[: self.n_classes])
