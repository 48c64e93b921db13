"""A generic Dataset over audio files: a folder, a list file, or a list of paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from sigkit.errors import DatasetError, InputError

__all__ = ["AudioFolderDataset", "find_audio_files", "AUDIO_EXTENSIONS"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def find_audio_files(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
    recursive: bool = True,
) -> list[Path]:
    """Audio files from a folder (sorted, recursive by default), a list file, or a sequence of paths.

    A list file (``.txt``/``.lst``/``.scp``) has one path per line, relative to the list file's folder
    unless absolute; blank lines and ``#`` comments are skipped; AP-BWE-style ``id|path`` lines use the path.

    Raises:
        DatasetError: missing folder or list file, or no audio files found.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "b").mkdir(); _ = (d / "b" / "x.wav").write_bytes(b"")
    >>> [p.name for p in find_audio_files(d)]
    ['x.wav']
    """
    exts = tuple(e.lower() for e in extensions)
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if not root.exists():
            raise DatasetError(f"{root}: no such folder or list file; check the path")
        if root.is_dir():
            it = root.rglob("*") if recursive else root.iterdir()
            files = sorted(
                p for p in it if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")
            )
            if not files:
                raise DatasetError(
                    f"{root}: no audio files ({', '.join(exts)}) {'under' if recursive else 'in'} this folder"
                )
            return files
        if root.suffix.lower() in (".txt", ".lst", ".scp"):
            files = []
            for line in root.read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                p = Path(line.split("|")[-1].strip())
                files.append(p if p.is_absolute() else root.parent / p)
            if not files:
                raise DatasetError(f"{root}: the list file names no audio files")
            return files
        if root.suffix.lower() in exts:
            return [root]
        raise DatasetError(f"{root}: neither a folder, a list file (.txt/.lst/.scp) nor an audio file")
    files = [Path(p) for p in source]
    if not files:
        raise DatasetError("AudioFolderDataset: the list of files is empty")
    return files


class AudioFolderDataset(Dataset):
    """Audio files as waveforms, optionally resampled and cut/padded to a fixed length.

    Args:
        source: a folder (searched recursively for ``extensions``), a list file, or a list of paths.
        sr: resample every file to this rate in Hz (``None`` keeps each file's rate).
        segment: fixed length in samples (after resampling): longer files are cropped (a random window when
            ``random_crop``, else the start), shorter ones zero-padded at the end. ``None``: whole files.
        mono: average channels to one.
        random_crop: random window (training) or the first ``segment`` samples (evaluation).
        resample_method: ``"sinc"`` (torchaudio, AP-BWE's filter) or ``"soxr"``.
        return_path: items are ``(wave, path)`` instead of ``wave``.

    ``dataset[i]`` is a float32 ``(C, T)`` tensor (``C = 1`` with ``mono``). Bad files raise
    :class:`~sigkit.errors.AudioFileError` naming the file when they are read.

    >>> import tempfile, os, torch
    >>> from sigkit.io import save_audio
    >>> d = tempfile.mkdtemp(); save_audio(os.path.join(d, "a.wav"), torch.ones(2, 300), 16000)
    >>> ds = AudioFolderDataset(d, sr=8000, segment=200, random_crop=False)
    >>> ds[0].shape, len(ds)
    (torch.Size([1, 200]), 1)
    """

    def __init__(
        self,
        source,
        sr: int | None = None,
        segment: int | None = None,
        mono: bool = True,
        random_crop: bool = True,
        extensions: Sequence[str] = AUDIO_EXTENSIONS,
        recursive: bool = True,
        resample_method: str = "sinc",
        return_path: bool = False,
    ) -> None:
        if segment is not None and segment < 1:
            raise InputError(f"AudioFolderDataset: segment must be >= 1 sample, got {segment}")
        if sr is not None:
            from sigkit.io.resample import check_rate

            sr = check_rate(sr, "sr")
        self.files = find_audio_files(source, extensions, recursive)
        self.sr, self.segment, self.mono = sr, segment, mono
        self.random_crop, self.resample_method, self.return_path = random_crop, resample_method, return_path

    def __len__(self) -> int:
        return len(self.files)

    def fit(self, wave: torch.Tensor) -> torch.Tensor:
        """Crop or zero-pad ``(C, T)`` to ``segment`` samples as configured."""
        if self.segment is None:
            return wave
        t = wave.shape[-1]
        if t > self.segment:
            start = int(torch.randint(0, t - self.segment + 1, ())) if self.random_crop else 0
            return wave[..., start : start + self.segment]
        return torch.nn.functional.pad(wave, (0, self.segment - t))

    def __getitem__(self, i: int):
        from sigkit.io import load_audio

        path = self.files[i]
        wave, _ = load_audio(path, sr=self.sr, mono=self.mono, resample_method=self.resample_method)
        wave = self.fit(wave)
        return (wave, str(path)) if self.return_path else wave
