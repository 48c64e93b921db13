"""File I/O: audio (soundfile), resampling (torchaudio sinc, soxr), images and videos (OpenCV).

>>> from sigkit.io import load_audio, save_audio, resample, read_image, read_video
"""

from sigkit.io.audio import SUBTYPE_ALIASES, AudioInfo, audio_info, load_audio, save_audio
from sigkit.io.image import (
    VIDEO_CODECS,
    iter_video_frames,
    read_image,
    read_video,
    read_video_frames,
    write_image,
    write_video,
)
from sigkit.io.resample import RESAMPLE_METHODS, check_rate, resample

__all__ = [
    "AudioInfo",
    "audio_info",
    "load_audio",
    "save_audio",
    "SUBTYPE_ALIASES",
    "resample",
    "check_rate",
    "RESAMPLE_METHODS",
    "read_image",
    "write_image",
    "read_video",
    "read_video_frames",
    "iter_video_frames",
    "write_video",
    "VIDEO_CODECS",
]
