"""Images and videos through OpenCV, as torch tensors in RGB order.

Images are ``(H, W, C)`` (``C = 3`` for RGB, 1 for gray; ``channels_first=True`` gives ``(C, H, W)``);
videos are ``(T, H, W, C)``. ``uint8`` keeps the file's values; a float dtype scales to [0, 1].
Writers take the same layouts (uint8, uint16 for PNG/TIFF, or float in [0, 1]) and write atomically.

Detected in bad input: missing file, a file OpenCV cannot decode (not an image/video, or an image cut
short — a JPEG without its end-of-image marker counts as truncated), a video with no decodable frames,
and a video that decodes clearly fewer frames than its container declares (truncated).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from sigkit.errors import InputError, MediaFileError

__all__ = [
    "read_image",
    "write_image",
    "read_video",
    "read_video_frames",
    "iter_video_frames",
    "write_video",
    "VIDEO_CODECS",
]

PathLike = str | os.PathLike

# extension -> default fourcc; FFV1 is lossless.
VIDEO_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".m4v": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
_MODES = ("rgb", "gray", "bgr")


def _cv2():
    import cv2

    return cv2


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaFileError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise MediaFileError(f"{path}: is a folder, not a file")


def _to_tensor(arr: np.ndarray, dtype: torch.dtype, channels_first: bool, scale: float) -> torch.Tensor:
    if arr.ndim == 2:
        arr = arr[..., None]
    t = torch.from_numpy(np.ascontiguousarray(arr))
    if dtype.is_floating_point:
        t = t.to(dtype) / scale
    elif dtype != t.dtype:
        raise InputError(f"dtype must be torch.uint8 (the file's values) or a float dtype, got {dtype}")
    return t.movedim(-1, -3) if channels_first else t


def _convert_color(arr: np.ndarray, mode: str) -> np.ndarray:
    cv2 = _cv2()
    if mode not in _MODES:
        raise InputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if arr.ndim == 2 or arr.shape[-1] == 1:
        return (
            arr
            if mode == "gray"
            else cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB if mode == "rgb" else cv2.COLOR_GRAY2BGR)
        )
    if arr.shape[-1] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    if mode == "rgb":
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if mode == "gray":
        return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
    return arr


def read_image(
    path: PathLike, mode: str = "rgb", dtype: torch.dtype = torch.uint8, channels_first: bool = False
) -> torch.Tensor:
    """Read an image file (PNG, JPEG, BMP, TIFF, ... anything OpenCV decodes).

    Args:
        path: image file.
        mode: ``"rgb"`` (3 channels), ``"gray"`` (1 channel) or ``"bgr"`` (OpenCV's order).
        dtype: ``torch.uint8`` keeps 8-bit values (16-bit files come back as their uint16 values in a
            ``torch.uint16`` tensor); a float dtype gives values in [0, 1].
        channels_first: return ``(C, H, W)`` instead of ``(H, W, C)``.

    Returns:
        ``(H, W, C)`` (or ``(C, H, W)``) tensor.

    Raises:
        MediaFileError: missing, undecodable or truncated file.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> write_image(p, torch.full((4, 6, 3), 200, dtype=torch.uint8))
    >>> read_image(p, dtype=torch.float32, channels_first=True).shape
    torch.Size([3, 4, 6])
    """
    cv2 = _cv2()
    path = Path(path)
    _check_file(path)
    raw = np.fromfile(str(path), dtype=np.uint8)
    if raw[:2].tobytes() == b"\xff\xd8" and b"\xff\xd9" not in raw[-4096:].tobytes():
        raise MediaFileError(
            f"{path}: truncated JPEG (no end-of-image marker); re-copy or re-export the file"
        )
    arr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if arr is None:
        raise MediaFileError(
            f"{path}: not a readable image (OpenCV could not decode it; the file is "
            "truncated, corrupt or not an image)"
        )
    arr = _convert_color(arr, mode)
    scale = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    if arr.dtype == np.uint16 and dtype == torch.uint8:
        dtype = torch.uint16
    return _to_tensor(arr, dtype, channels_first, scale)


def _image_to_numpy(img, channels_first: bool, what: str) -> np.ndarray:
    """``(H, W[, C])`` uint8/uint16/float [0, 1] tensor or array -> OpenCV array in BGR order."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if channels_first and arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise InputError(
            f"{what}: image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
            f"{' after moving channels last' if channels_first else ''}, got {tuple(arr.shape)}"
        )
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InputError(f"{what}: image holds NaN or Inf values; nothing was written")
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif arr.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{what}: image dtype must be uint8, uint16 or float in [0, 1], got {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0] + ([3] if arr.shape[-1] == 4 else [])]
    return np.ascontiguousarray(arr)


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}"


def write_image(
    path: PathLike,
    img: torch.Tensor | np.ndarray,
    channels_first: bool = False,
    params: list[int] | None = None,
) -> None:
    """Write an RGB(A) or gray image; the format follows the extension. Atomic (temporary name + rename).

    Args:
        path: output file (``.png``, ``.jpg``, ``.bmp``, ``.tif``, ...); parent folders are created.
        img: ``(H, W)``, ``(H, W, 1|3|4)`` (or ``(C, H, W)`` with ``channels_first``) in RGB order, uint8,
            uint16 (PNG/TIFF) or float in [0, 1] (clipped, rounded to uint8).
        channels_first: ``img`` is ``(C, H, W)``.
        params: OpenCV ``imencode`` parameters, e.g. ``[cv2.IMWRITE_JPEG_QUALITY, 95]``.

    Raises:
        InputError: unsupported shape or dtype, NaN/Inf values.
        MediaFileError: the extension cannot be encoded or the file cannot be written.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> write_image(p, torch.rand(5, 7))
    >>> read_image(p, mode="gray").shape
    torch.Size([5, 7, 1])
    """
    cv2 = _cv2()
    path = Path(path)
    arr = _image_to_numpy(img, channels_first, str(path))
    try:
        ok, buf = cv2.imencode(path.suffix, arr, params or [])
    except cv2.error as err:
        raise MediaFileError(
            f"{path}: OpenCV cannot encode this image as {path.suffix!r} ({err}); "
            "use .png, .jpg, .bmp or .tif"
        ) from err
    if not ok:
        raise MediaFileError(f"{path}: OpenCV cannot encode this image as {path.suffix!r}; use .png or .jpg")
    try:
        tmp = _atomic_target(path)
        buf.tofile(str(tmp))
        os.replace(tmp, path)
    except OSError as err:
        raise MediaFileError(f"{path}: cannot write ({err}); check the folder is writable") from err


def _open_video(path: Path):
    cv2 = _cv2()
    _check_file(path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise MediaFileError(
            f"{path}: not a readable video (OpenCV could not open it; the file is "
            "truncated, corrupt or not a video)"
        )
    return cap


def iter_video_frames(
    path: PathLike,
    mode: str = "rgb",
    dtype: torch.dtype = torch.uint8,
    start: int = 0,
    max_frames: int | None = None,
    channels_first: bool = False,
) -> Iterator[tuple[float, torch.Tensor]]:
    """Decode a video frame by frame (constant memory).

    Yields ``(timestamp_s, frame)`` with ``frame`` ``(H, W, C)`` (or ``(C, H, W)``) as in :func:`read_image`
    and ``timestamp_s`` the container's presentation time in seconds (``index / fps`` where the container
    gives none). After the last frame it checks the count against the container's frame count.

    Args:
        path: video file (mp4, avi, mkv, ... whatever OpenCV's FFmpeg backend opens).
        mode, dtype, channels_first: as :func:`read_image`.
        start: first frame index to return.
        max_frames: stop after this many frames.

    Raises:
        MediaFileError: missing/unopenable file, no decodable frames, or clearly fewer frames than the
            container declares (more than ``max(2, 2%)`` missing: the file is truncated).

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "v.avi")
    >>> write_video(p, torch.zeros(3, 8, 8, 3, dtype=torch.uint8), fps=10)
    >>> [round(t, 2) for t, f in iter_video_frames(p)]
    [0.0, 0.1, 0.2]
    """
    cv2 = _cv2()
    path = Path(path)
    if start < 0 or (max_frames is not None and max_frames < 0):
        raise InputError(f"{path}: start and max_frames must be >= 0, got {start}, {max_frames}")
    cap = _open_video(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index, given, last_ts = 0, 0, -1.0
        while max_frames is None or given < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            if index >= start:
                ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if ts <= last_ts or (ts == 0.0 and index > 0):
                    ts = index / fps if fps > 0 else float(index)
                last_ts = ts
                arr = _convert_color(frame, mode)
                yield ts, _to_tensor(arr, dtype, channels_first, 255.0)
                given += 1
            index += 1
        stopped_early = max_frames is not None and given >= max_frames
        if index == 0:
            raise MediaFileError(f"{path}: the video has no decodable frames; the file is empty or corrupt")
        if not stopped_early and declared > 0 and index < declared - max(2, int(0.02 * declared)):
            raise MediaFileError(
                f"{path}: truncated video (container declares {declared} frames, only {index} "
                "decode); re-copy or re-export the file"
            )
    finally:
        cap.release()


def read_video(
    path: PathLike,
    mode: str = "rgb",
    dtype: torch.dtype = torch.uint8,
    start: int = 0,
    max_frames: int | None = None,
    channels_first: bool = False,
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Decode a whole video (or ``max_frames`` of it from ``start``) into memory.

    Returns:
        ``(frames, fps, timestamps)``: ``frames`` ``(T, H, W, C)`` (``(T, C, H, W)`` with
        ``channels_first``), uint8 or float in [0, 1]; ``fps`` the container's frame rate (0.0 if unknown);
        ``timestamps`` ``(T,)`` float64 seconds. Errors as :func:`iter_video_frames`, plus MediaFileError
        when ``start`` is past the end.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "v.mkv")
    >>> write_video(p, torch.rand(4, 16, 16, 3), fps=25)
    >>> frames, fps, ts = read_video(p, dtype=torch.float32)
    >>> frames.shape, fps, ts.tolist()
    (torch.Size([4, 16, 16, 3]), 25.0, [0.0, 0.04, 0.08, 0.12])
    """
    cv2 = _cv2()
    path = Path(path)
    cap = _open_video(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    cap.release()
    stamps, frames = [], []
    for ts, frame in iter_video_frames(path, mode, dtype, start, max_frames, channels_first):
        stamps.append(ts)
        frames.append(frame)
    if not frames:
        raise MediaFileError(f"{path}: no frames at or after frame {start}; the video is shorter than that")
    return torch.stack(frames), fps, torch.tensor(stamps, dtype=torch.float64)


read_video_frames = read_video
"""Alias of :func:`read_video` (the name the shared API list uses)."""


def write_video(
    path: PathLike,
    frames: torch.Tensor | np.ndarray,
    fps: float,
    codec: str | None = None,
    channels_first: bool = False,
) -> None:
    """Write ``(T, H, W, C)`` RGB (or ``(T, H, W)`` gray) frames as a video, atomically.

    Args:
        path: output file; the codec follows the extension (:data:`VIDEO_CODECS`: ``.mp4`` mp4v, ``.avi``
            MJPG, ``.mkv`` FFV1 lossless) unless ``codec`` (a fourcc such as ``"FFV1"``) is given.
        frames: uint8 or float in [0, 1]; ``(T, C, H, W)`` with ``channels_first``.
        fps: frame rate (> 0).
        codec: fourcc override.

    Raises:
        InputError: bad shape/dtype/fps.
        MediaFileError: OpenCV has no writer for this codec/extension, or the file cannot be written.

    >>> import tempfile, os, torch
    >>> p = os.path.join(tempfile.mkdtemp(), "v.mkv")
    >>> x = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    >>> write_video(p, x, fps=30)
    >>> bool((read_video(p)[0] == x).all())  # FFV1 is lossless
    True
    """
    cv2 = _cv2()
    path = Path(path)
    if not fps or fps <= 0:
        raise InputError(f"{path}: fps must be > 0, got {fps}")
    if len(frames) == 0:
        raise InputError(f"{path}: no frames to write")
    fourcc = codec or VIDEO_CODECS.get(path.suffix.lower())
    if fourcc is None:
        raise MediaFileError(
            f"{path}: unknown video extension {path.suffix!r}; use one of "
            f"{', '.join(VIDEO_CODECS)} or pass codec="
        )
    first = _image_to_numpy(frames[0], channels_first, str(path))
    h, w = first.shape[:2]
    color = first.ndim == 3
    tmp = _atomic_target(path)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h), color)
    try:
        if not writer.isOpened():
            raise MediaFileError(
                f"{path}: OpenCV cannot write codec {fourcc!r} into {path.suffix!r}; "
                "use .mp4 (mp4v), .avi (MJPG) or .mkv (FFV1), or check the folder is writable"
            )
        for i, frame in enumerate(frames):
            arr = _image_to_numpy(frame, channels_first, str(path))
            if arr.shape[:2] != (h, w) or (arr.ndim == 3) != color:
                raise InputError(
                    f"{path}: frame {i} has shape {tuple(arr.shape)}, frame 0 has {tuple(first.shape)}"
                )
            if arr.dtype != np.uint8:
                arr = (arr // 257).astype(np.uint8)
            writer.write(arr[..., :3] if color else arr)
        writer.release()
        os.replace(tmp, path)
    finally:
        writer.release()
        if tmp.exists():
            tmp.unlink()
