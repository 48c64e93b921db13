"""Tiny sound transformers (Elliott et al., arXiv 2103.12157): ~6k-parameter BERT-style classifiers.

>>> from sigkit.audio.tiny import TinyTransformer, LogMelFrontend, count_parameters
>>> count_parameters(TinyTransformer(LogMelFrontend(n_mels=40, hop=1024), n_classes=50, clip_samples=80000))
6114
"""

from sigkit.audio.tiny.augment import (
    SpecAugment,
    WaveAugment,
    add_noise,
    mixup,
    random_gain,
    spec_augment,
    time_shift,
)
from sigkit.audio.tiny.data import ClipDataset, ESC50DataModule, FolderDataModule, read_esc50_meta
from sigkit.audio.tiny.frontends import LogMelFrontend, MFCCFrontend, WaveChunkFrontend, normalize_clip
from sigkit.audio.tiny.model import MFCCCNN, TinyTransformer, count_parameters
from sigkit.audio.tiny.module import TinyClassifierModule

__all__ = [
    "LogMelFrontend",
    "MFCCFrontend",
    "WaveChunkFrontend",
    "normalize_clip",
    "SpecAugment",
    "WaveAugment",
    "spec_augment",
    "mixup",
    "time_shift",
    "random_gain",
    "add_noise",
    "TinyTransformer",
    "MFCCCNN",
    "count_parameters",
    "TinyClassifierModule",
    "ESC50DataModule",
    "FolderDataModule",
    "ClipDataset",
    "read_esc50_meta",
]
