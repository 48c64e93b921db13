"""Event files: ``read(path)`` recognises the format; ``write(path, events, layout=...)``.

| layout / format | read | write | notes |
| --- | --- | --- | --- |
| ``npz`` | yes | yes | ours ``{t us, x, y, p +-1, height, width}``; also vid2e and e-NeRF npz |
| ``dsec`` (``.h5``) | yes | yes | ``events/{x,y,t,p}``, ``ms_to_idx``, ``t_offset`` (gzip instead of Blosc) |
| ``v2e`` (``.h5``) | yes | yes | ``events`` N x 4 uint32 ``[t_us, x, y, p01]`` |
| Metavision ``.hdf5`` | yes | no | ``CD/events``; ECF-compressed files need Prophesee's HDF5 plugin |
| ``txt`` | yes | yes | ``t[s] x y p(0/1)`` per line |
| ``aedat2`` (``.aedat``) | yes | yes | jAER, DAVIS346 (default) or DVS128 addresses |
| ``aedat4`` | yes | yes | LZ4 / zstd / uncompressed event packets |
| ``evt2`` / ``evt3`` (``.raw``) | yes | yes | Prophesee |
"""
from __future__ import annotations

import os
from pathlib import Path

from sigkit.errors import InputError, MediaFileError

from ..stream import Events
from .aedat import read_aedat2, read_aedat4, write_aedat2, write_aedat4
from .prophesee import read_raw, write_evt2, write_evt3
from .simple import ms_to_idx, read_h5, read_npz, read_txt, write_dsec, write_npz, write_txt, write_v2e_h5

__all__ = ["read", "write", "LAYOUTS", "ms_to_idx", "read_aedat2", "read_aedat4", "read_raw", "read_h5",
           "read_npz", "read_txt"]

LAYOUTS = {"npz": write_npz, "dsec": write_dsec, "v2e": write_v2e_h5, "txt": write_txt,
           "aedat2": write_aedat2, "aedat4": write_aedat4, "evt2": write_evt2, "evt3": write_evt3}
_BY_SUFFIX = {".npz": "npz", ".h5": "dsec", ".hdf5": "dsec", ".txt": "txt", ".csv": "txt", ".aedat": "aedat2",
              ".aedat2": "aedat2", ".aedat4": "aedat4", ".raw": "evt3"}


def read(path: str | os.PathLike, **kw) -> Events:
    """Read an event file of any supported format (chosen from its magic bytes, else its suffix).

    Raises :class:`~sigkit.errors.MediaFileError` for a missing, unknown, corrupt or truncated file.

    >>> import tempfile, os
    >>> ev = Events.from_arrays([1, 2], [0, 1], [0, 0], [1, -1], 1, 2)
    >>> p = os.path.join(tempfile.mkdtemp(), "ev.h5"); write(p, ev, layout="dsec")
    >>> read(p).equals(ev)
    True
    """
    path = Path(path)
    if not path.is_file():
        raise MediaFileError(f"{path}: no such event file")
    with open(path, "rb") as fh:
        head = fh.read(16)
    suffix = path.suffix.lower()
    if head.startswith(b"#!AER-DAT4"):
        return read_aedat4(path)
    if head.startswith(b"#!AER-DAT2") or head.startswith(b"#!AER-DAT"):
        if not head.startswith(b"#!AER-DAT2"):
            raise MediaFileError(f"{path}: AEDAT version {head[9:12]!r} is not supported (2.0 and 4.0 are)")
        return read_aedat2(path, **kw)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return read_h5(path)
    if head.startswith(b"PK"):
        return read_npz(path)
    if head.startswith(b"%") or suffix == ".raw":
        return read_raw(path)
    if suffix in (".txt", ".csv"):
        return read_txt(path, **kw)
    raise MediaFileError(f"{path}: unrecognised event file (not AEDAT2/4, HDF5, npz, Prophesee RAW or text)")


def write(path: str | os.PathLike, events: Events, layout: str | None = None, **kw) -> None:
    """Write ``events`` in ``layout`` (default from the suffix: .npz, .h5 -> dsec, .txt, .aedat, .aedat4, .raw -> evt3).

    The file appears complete or not at all (written to a temporary name, then renamed).
    """
    if layout is None:
        layout = _BY_SUFFIX.get(Path(path).suffix.lower())
        if layout is None:
            raise InputError(f"{path}: can't tell the layout from the suffix; pass layout= one of {sorted(LAYOUTS)}")
    if layout not in LAYOUTS:
        raise InputError(f"unknown event-file layout {layout!r}; choose one of {sorted(LAYOUTS)}")
    if not isinstance(events, Events):
        raise InputError(f"write({path}): expected an Events object, got {type(events).__name__}")
    LAYOUTS[layout](path, events, **kw)
