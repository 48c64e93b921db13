"""Datasets: a generic audio-folder dataset and the synthetic corpora (:mod:`sigkit.data.synth`).

>>> from sigkit.data import AudioFolderDataset, SyntheticSpeechDataset, SyntheticESCDataset
"""

from sigkit.data.folder import AUDIO_EXTENSIONS, AudioFolderDataset, find_audio_files
from sigkit.data.synth import SyntheticESCDataset, SyntheticSpeechDataset

__all__ = [
    "AudioFolderDataset",
    "find_audio_files",
    "AUDIO_EXTENSIONS",
    "SyntheticSpeechDataset",
    "SyntheticESCDataset",
]
