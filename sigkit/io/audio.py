"""Audio files through soundfile (libsndfile): wav, flac and ogg/vorbis.

Waveforms are ``Tensor[C, T]`` float32 in [-1, 1] (channels first, as torchaudio). Every failure a user
can cause raises :class:`sigkit.errors.AudioFileError` (or :class:`~sigkit.errors.InputError` for a bad
tensor) with the file name and what to do.

What is detected in a bad file:

* missing file or a folder; a file libsndfile cannot open (not audio, unknown format, no permission);
* zero-length audio (a header with no frames);
* a truncated **WAV**: the RIFF ``data`` chunk declares more bytes than the file holds (libsndfile
  would silently return the frames that are there);
* a truncated or corrupt **FLAC**: the decoder loses sync, or fewer frames decode than STREAMINFO
  declares;
* NaN or Inf samples (float subtypes).

Not detected: a truncated **OGG/Vorbis** file ends cleanly at the last complete page (the container has
no total frame count in its header), so it loads as a shorter file.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sigkit.errors import AudioFileError, InputError

__all__ = ["AudioInfo", "audio_info", "load_audio", "save_audio", "SUBTYPE_ALIASES"]

PathLike = str | os.PathLike

# friendly names -> libsndfile subtypes
SUBTYPE_ALIASES = {
    "int16": "PCM_16",
    "pcm16": "PCM_16",
    "pcm_16": "PCM_16",
    "16": "PCM_16",
    "int24": "PCM_24",
    "pcm24": "PCM_24",
    "pcm_24": "PCM_24",
    "24": "PCM_24",
    "int32": "PCM_32",
    "pcm32": "PCM_32",
    "pcm_32": "PCM_32",
    "32": "PCM_32",
    "float": "FLOAT",
    "float32": "FLOAT",
    "double": "DOUBLE",
    "float64": "DOUBLE",
    "vorbis": "VORBIS",
}
_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG"}


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says.

    Attributes:
        sr: sample rate in Hz.
        channels: number of channels C.
        frames: number of samples per channel T.
        format: libsndfile container name (``"WAV"``, ``"FLAC"``, ``"OGG"``).
        subtype: libsndfile sample encoding (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``, ...).
    """

    sr: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sr


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file; pass a .wav, .flac or .ogg file")


def _libsndfile_reason(err: Exception) -> str:
    text = str(err).split(":", 1)[-1].strip() if "Error" in str(err) else str(err)
    return text.replace("\n", " ").strip() or type(err).__name__


def audio_info(path: PathLike) -> AudioInfo:
    """Read an audio file's header (sample rate, channels, frames, format, subtype) without decoding it.

    Batch tools use it to write outputs in the input's format and subtype.

    Args:
        path: a wav, flac or ogg file.

    Returns:
        :class:`AudioInfo`.

    Raises:
        AudioFileError: the file is missing or not readable audio.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "a.flac")
    >>> save_audio(p, torch.zeros(2, 800), 16000, subtype="PCM_24")
    >>> audio_info(p)
    AudioInfo(sr=16000, channels=2, frames=800, format='FLAC', subtype='PCM_24')
    """
    import soundfile as sf

    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, TypeError) as err:
        raise AudioFileError(
            f"{path}: not a readable audio file ({_libsndfile_reason(err)}); "
            "expected wav, flac or ogg — check the file is complete and is audio"
        ) from err
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, compare the ``data`` chunk's declared size with the bytes present.

    Returns a description of the shortfall, or None if the file is complete (or not a plain RIFF wav,
    or written by a streaming writer that leaves the size field 0 / 0xFFFFFFFF).
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):
                    return None
                have = size - (pos + 8)
                if have < csize:
                    return f"its data chunk declares {csize} bytes but only {have} are present"
                return None
            pos += 8 + csize + (csize & 1)
    return None


def load_audio(
    path: PathLike, sr: int | None = None, mono: bool = False, resample_method: str = "sinc"
) -> tuple[torch.Tensor, int]:
    """Load an audio file as a float32 ``Tensor[C, T]`` in [-1, 1].

    Args:
        path: a wav, flac or ogg file.
        sr: resample to this rate in Hz (``None`` keeps the file's rate).
        mono: average the channels to one (``C = 1``).
        resample_method: ``"sinc"`` (torchaudio, AP-BWE's filter) or ``"soxr"``; see :func:`resample`.

    Returns:
        ``(wave, sr)``: ``wave`` of shape ``(C, T)`` float32 and its sample rate in Hz.

    Raises:
        AudioFileError: missing, unreadable, truncated or empty file, or NaN/Inf samples.
        SampleRateError: ``sr`` is not a positive whole number.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> save_audio(p, 0.5 * torch.ones(2, 480), 48000)
    >>> wave, rate = load_audio(p, sr=16000, mono=True)
    >>> wave.shape, rate, wave.dtype
    (torch.Size([1, 160]), 16000, torch.float32)
    """
    import soundfile as sf

    path = Path(path)
    info = audio_info(path)
    if info.frames == 0:
        raise AudioFileError(f"{path}: zero-length audio (the file holds no samples); remove or re-export it")
    if info.format == "WAV":
        short = _wav_truncation(path)
        if short:
            raise AudioFileError(f"{path}: truncated wav file ({short}); re-copy or re-export the file")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as err:
        raise AudioFileError(
            f"{path}: decoding failed ({_libsndfile_reason(err)}); the file is truncated or corrupt — "
            "re-copy or re-export it"
        ) from err
    if data.shape[0] == 0:
        raise AudioFileError(
            f"{path}: zero-length audio (no samples could be decoded); remove or re-export it"
        )
    if info.format != "OGG" and data.shape[0] < info.frames:
        raise AudioFileError(
            f"{path}: truncated file (header declares {info.frames} frames, only {data.shape[0]} decode); "
            "re-copy or re-export it"
        )
    finite = np.isfinite(data)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0, 0])
        raise AudioFileError(
            f"{path}: contains NaN or Inf samples (first at frame {frame}, {frame / file_sr:.3f} s); "
            "fix the program that wrote it"
        )
    wave = torch.from_numpy(np.ascontiguousarray(data.T))
    if mono and wave.shape[0] > 1:
        wave = wave.mean(dim=0, keepdim=True)
    if sr is not None:
        from sigkit.io.resample import resample

        wave = resample(wave, file_sr, sr, method=resample_method)
        file_sr = int(sr)
    return wave, int(file_sr)


def _as_numpy_frames(wave, path: Path) -> np.ndarray:
    """``(C, T)`` or ``(T,)`` tensor/array -> ``(T, C)`` float array for soundfile."""
    arr = wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else np.asarray(wave)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise InputError(f"{path}: wave must have shape (C, T) or (T,), got {tuple(arr.shape)}")
    if arr.shape[1] == 0:
        raise InputError(f"{path}: refusing to write zero-length audio (wave has shape {tuple(arr.shape)})")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: wave must be floating point in [-1, 1], got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: wave holds NaN or Inf values; nothing was written")
    return np.ascontiguousarray(arr.T)


def save_audio(
    path: PathLike,
    wave: torch.Tensor | np.ndarray,
    sr: int,
    subtype: str | None = None,
    format: str | None = None,
) -> None:
    """Write a waveform to wav, flac or ogg, atomically (temporary name in the same folder, then rename).

    Args:
        path: output file; the format follows the extension (``.wav``, ``.flac``, ``.ogg``) unless
            ``format`` is given. Missing parent folders are created.
        wave: ``(C, T)`` or ``(T,)`` float tensor/array in [-1, 1]. Values outside are clipped when the
            subtype is integer PCM.
        sr: sample rate in Hz.
        subtype: libsndfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``, ...) or an alias
            (``"int16"``, ``"int24"``, ``"float"``); ``None`` is the format's default (PCM_16 for wav/flac,
            VORBIS for ogg).
        format: libsndfile container name, overriding the extension.

    Raises:
        InputError: bad shape, dtype, NaN/Inf values, or a subtype the format cannot hold.
        AudioFileError: the file cannot be written (folder not writable, disk full).

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "sub", "a.wav")
    >>> save_audio(p, torch.zeros(1, 100), 8000, subtype="float")
    >>> audio_info(p).subtype
    'FLOAT'
    """
    import soundfile as sf

    from sigkit.io.resample import check_rate

    path = Path(path)
    sr = check_rate(sr, "sr")
    fmt = format.upper() if format else _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown audio extension {path.suffix!r}; use .wav, .flac or .ogg (or pass format=)"
        )
    if subtype is not None:
        subtype = SUBTYPE_ALIASES.get(str(subtype).lower(), str(subtype).upper())
        if not sf.check_format(fmt, subtype):
            allowed = ", ".join(sorted(sf.available_subtypes(fmt)))
            raise InputError(f"{path}: format {fmt} cannot hold subtype {subtype}; use one of {allowed}")
    data = _as_numpy_frames(wave, path)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        sf.write(tmp, data, sr, subtype=subtype, format=fmt)
        os.replace(tmp, path)
        tmp = None
    except (RuntimeError, OSError) as err:
        raise AudioFileError(
            f"{path}: cannot write audio ({err}); check the folder exists and is writable"
        ) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
