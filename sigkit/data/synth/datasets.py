"""In-memory torch Datasets over the synthetic corpora, for configs that run without any files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sigkit.data.synth.environmental import ENV_CLASSES, environmental
from sigkit.data.synth.layouts import vctk_speakers
from sigkit.data.synth.speech import make_speaker, speech_like
from sigkit.errors import InputError

__all__ = ["SyntheticSpeechDataset", "SyntheticESCDataset"]


def _item_seed(seed: int, i: int, salt: int) -> int:
    return int(np.random.default_rng([seed, i, salt]).integers(2**31))


class SyntheticSpeechDataset(Dataset):
    """``n`` speech-like utterances (:func:`~sigkit.data.synth.speech_like`), made on first access.

    Args:
        n: number of utterances.
        sr: sample rate in Hz (<= 48000).
        seconds: length of every utterance.
        seed: corpus seed; item ``i`` is the same for the same (seed, i, sr, seconds).
        n_speakers: voices, assigned round-robin (VCTK ids, see :func:`~sigkit.data.synth.vctk_speakers`).
        cache: keep made items in memory (per worker process).

    ``dataset[i]`` is a float32 ``(1, round(seconds * sr))`` waveform; ``dataset.speaker(i)`` its speaker id.

    >>> ds = SyntheticSpeechDataset(4, sr=8000, seconds=0.5, n_speakers=2)
    >>> again = SyntheticSpeechDataset(4, 8000, 0.5, n_speakers=2)
    >>> ds[0].shape, ds.speaker(1), bool(torch.equal(ds[3], again[3]))
    (torch.Size([1, 4000]), 'p360', True)
    """

    def __init__(
        self,
        n: int,
        sr: int = 16000,
        seconds: float = 1.0,
        seed: int = 0,
        n_speakers: int = 8,
        cache: bool = True,
    ) -> None:
        if n < 1:
            raise InputError(f"SyntheticSpeechDataset: n must be >= 1, got {n}")
        self.n, self.sr, self.seconds, self.seed, self.cache = n, sr, seconds, seed, cache
        self.speakers = vctk_speakers(n_speakers)
        self._voices = {s: make_speaker(s, seed=seed) for s in self.speakers}
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.n

    def speaker(self, i: int) -> str:
        """Speaker id of item ``i``."""
        return self.speakers[i % len(self.speakers)]

    def __getitem__(self, i: int) -> torch.Tensor:
        if not -self.n <= i < self.n:
            raise IndexError(f"SyntheticSpeechDataset index {i} out of range for {self.n} items")
        i = i % self.n
        if i in self._cache:
            return self._cache[i]
        wave = speech_like(
            self.seconds, self.sr, seed=_item_seed(self.seed, i, 1), speaker=self._voices[self.speaker(i)]
        )
        out = torch.from_numpy(wave)[None]
        if self.cache:
            self._cache[i] = out
        return out


class SyntheticESCDataset(Dataset):
    """``n_per_class`` environmental clips of each class (:func:`~sigkit.data.synth.environmental`).

    Args:
        n_per_class: clips per class.
        sr: sample rate in Hz (<= 48000). seconds: clip length.
        seed: corpus seed. classes: subset of :data:`~sigkit.data.synth.ENV_CLASSES` (default all twelve).
        cache: keep made items in memory (per worker process).

    ``dataset[i]`` is ``(wave (1, T) float32, label int)``, ``label`` indexing ``dataset.classes``;
    items are ordered class by class. ``dataset.labels`` lists every item's label.

    >>> ds = SyntheticESCDataset(2, sr=8000, seconds=0.5, classes=["siren", "rain"])
    >>> len(ds), ds.classes, ds[3][0].shape, ds[3][1]
    (4, ['siren', 'rain'], torch.Size([1, 4000]), 1)
    """

    def __init__(
        self,
        n_per_class: int = 8,
        sr: int = 16000,
        seconds: float = 1.0,
        seed: int = 0,
        classes: Sequence[str] | None = None,
        cache: bool = True,
    ) -> None:
        if n_per_class < 1:
            raise InputError(f"SyntheticESCDataset: n_per_class must be >= 1, got {n_per_class}")
        self.classes = list(classes or ENV_CLASSES)
        bad = [c for c in self.classes if c not in ENV_CLASSES]
        if bad:
            raise InputError(
                f"SyntheticESCDataset: unknown classes {bad}; choose from {', '.join(ENV_CLASSES)}"
            )
        self.n_per_class, self.sr, self.seconds, self.seed, self.cache = n_per_class, sr, seconds, seed, cache
        self._cache: dict[int, tuple[torch.Tensor, int]] = {}

    @property
    def class_names(self) -> list[str]:
        """Alias of ``classes`` (label index -> name)."""
        return self.classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> list[int]:
        return [i // self.n_per_class for i in range(len(self))]

    def __len__(self) -> int:
        return self.n_per_class * len(self.classes)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"SyntheticESCDataset index {i} out of range for {len(self)} items")
        i = i % len(self)
        if i in self._cache:
            return self._cache[i]
        label, k = divmod(i, self.n_per_class)
        c = self.classes[label]
        wave = environmental(
            c, self.seconds, self.sr, seed=_item_seed(self.seed, k, ENV_CLASSES.index(c) + 7)
        )
        item = (torch.from_numpy(wave)[None], label)
        if self.cache:
            self._cache[i] = item
        return item
