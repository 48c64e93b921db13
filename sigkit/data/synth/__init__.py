"""Synthetic corpora, deterministic by seed: speech-like utterances and environmental sounds,
as arrays, as torch Datasets, or written to disk in the VCTK-0.92 and ESC-50 layouts.

>>> from sigkit.data.synth import speech_like, environmental, write_vctk_layout, write_esc50_layout
"""

from sigkit.data.synth.datasets import SyntheticESCDataset, SyntheticSpeechDataset
from sigkit.data.synth.environmental import ENV_CLASSES, ESC10, ESC50_TARGETS, environmental
from sigkit.data.synth.layouts import (
    ESC50_COLUMNS,
    VCTK_SPEAKERS,
    VCTK_TEST_SPEAKERS,
    VCTK_TRAIN_SPEAKERS,
    WrittenCorpus,
    vctk_speakers,
    write_esc50_layout,
    write_vctk_layout,
)
from sigkit.data.synth.speech import VOWELS, Speaker, make_speaker, speech_like, speech_like_with_text

__all__ = [
    "speech_like",
    "speech_like_with_text",
    "Speaker",
    "make_speaker",
    "VOWELS",
    "environmental",
    "ENV_CLASSES",
    "ESC50_TARGETS",
    "ESC10",
    "write_vctk_layout",
    "write_esc50_layout",
    "vctk_speakers",
    "WrittenCorpus",
    "VCTK_SPEAKERS",
    "VCTK_TRAIN_SPEAKERS",
    "VCTK_TEST_SPEAKERS",
    "ESC50_COLUMNS",
    "SyntheticSpeechDataset",
    "SyntheticESCDataset",
]
