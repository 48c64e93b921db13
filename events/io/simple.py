"""``.npz``, HDF5 (DSEC and v2e layouts, Metavision ``CD/events`` read-only) and text ``t x y p``."""
from __future__ import annotations

import zipfile

import numpy as np

from sigkit.errors import MediaFileError

from ..stream import Events
from ._common import atomic_path, corrupt


# ------------------------------------------------------------------ npz
def write_npz(path, events: Events) -> None:
    """``{t int64 us, x, y int16, p int8 +1/-1, height, width}`` (compressed)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, t=events.t, x=events.x, y=events.y, p=events.p,
                                height=-1 if events.height is None else events.height,
                                width=-1 if events.width is None else events.width)


def read_npz(path) -> Events:
    """Our own layout, vid2e chunks ``{x, y, t (ns), p}`` or e-NeRF ``{position, timestamp (ns), polarity}``."""
    try:
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise MediaFileError(f"{path}: no such event file") from None
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
        raise corrupt(path, f"not a readable .npz ({err})") from None
    if {"position", "timestamp", "polarity"} <= d.keys():       # Robust/Deblur e-NeRF raw_events.npz
        pos = d["position"]
        return Events.from_arrays(d["timestamp"] // 1000, pos[:, 0], pos[:, 1], d["polarity"])
    if not {"t", "x", "y", "p"} <= d.keys():
        raise MediaFileError(f"{path}: .npz has keys {sorted(d)}; expected t, x, y, p")
    h = int(d.get("height", -1)) if "height" in d else -1
    w = int(d.get("width", -1)) if "width" in d else -1
    t = d["t"]
    if "height" not in d and t.dtype.kind in "iu" and len(t) and t.max() > 1e13:   # vid2e: nanoseconds
        t = t // 1000
    return Events.from_arrays(t, d["x"], d["y"], d["p"], h if h >= 0 else None, w if w >= 0 else None)


# ------------------------------------------------------------------ HDF5
def _h5py():
    import h5py

    return h5py


def ms_to_idx(t_rel_us: np.ndarray) -> np.ndarray:
    """DSEC's index: entry ``ms`` is the first event with ``t >= ms * 1000`` (``t`` relative, sorted).

    >>> ms_to_idx(np.array([0, 999, 1000, 2500])).tolist()
    [0, 2, 3]
    """
    n_ms = int(t_rel_us[-1] // 1000) + 1 if len(t_rel_us) else 1
    return np.searchsorted(t_rel_us, np.arange(n_ms, dtype=np.int64) * 1000, side="left").astype(np.uint64)


def write_dsec(path, events: Events) -> None:
    """DSEC ``events.h5``: ``events/{x,y,t,p}`` (t: uint32 us after ``t_offset``), ``ms_to_idx``, ``t_offset``.

    DSEC compresses with Blosc (needs ``hdf5plugin``); we use gzip, which every HDF5 reader has.
    """
    h5py = _h5py()
    t0 = int(events.t[0]) if len(events) else 0
    rel = events.t - t0
    if len(rel) and rel.max() >= 2**32:
        raise MediaFileError(f"{path}: DSEC stores uint32 microseconds; the stream spans {rel.max()} us > 71 min")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("events")
            kw = dict(compression="gzip", compression_opts=4) if len(events) else {}
            g.create_dataset("x", data=events.x.astype(np.uint16), **kw)
            g.create_dataset("y", data=events.y.astype(np.uint16), **kw)
            g.create_dataset("t", data=rel.astype(np.uint32), **kw)
            g.create_dataset("p", data=events.polarity01(), **kw)
            f.create_dataset("ms_to_idx", data=ms_to_idx(rel))
            f.create_dataset("t_offset", data=np.int64(t0))
            if events.height is not None:
                f.attrs["height"], f.attrs["width"] = events.height, events.width


def write_v2e_h5(path, events: Events) -> None:
    """v2e's ``--dvs_h5``: dataset ``events`` N x 4 uint32 ``[t_us, x, y, p(0/1)]``, gzip."""
    h5py = _h5py()
    if len(events) and (events.t.min() < 0 or events.t.max() >= 2**32):
        raise MediaFileError(f"{path}: v2e's layout stores uint32 microseconds; shift the timestamps to start at 0")
    arr = np.stack([events.t, events.x, events.y, events.polarity01()], 1).astype(np.uint32) \
        if len(events) else np.zeros((0, 4), np.uint32)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("events", data=arr, compression="gzip" if len(events) else None)
            if events.height is not None:
                f.attrs["height"], f.attrs["width"] = events.height, events.width


def read_h5(path) -> Events:
    """DSEC, v2e or Metavision (``CD/events``, uncompressed or with the ECF plugin installed) layouts."""
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise MediaFileError(f"{path}: no such event file") from None
    except OSError as err:
        raise corrupt(path, f"not a readable HDF5 file ({err})") from None
    try:
        with f:
            hw = (int(f.attrs["height"]), int(f.attrs["width"])) if "height" in f.attrs else (None, None)
            if "events" in f and isinstance(f["events"], h5py.Group):
                g = f["events"]
                n = {len(g[k]) for k in ("x", "y", "t", "p")}
                if len(n) != 1:
                    raise corrupt(path, f"events/x,y,t,p have different lengths {sorted(n)}")
                t0 = int(np.asarray(f["t_offset"])) if "t_offset" in f else 0
                return Events.from_arrays(g["t"][:].astype(np.int64) + t0, g["x"][:], g["y"][:], g["p"][:], *hw)
            if "events" in f:
                a = f["events"][:]
                if a.ndim != 2 or a.shape[1] < 4:
                    raise corrupt(path, f"dataset 'events' has shape {a.shape}; v2e writes N x 4")
                return Events.from_arrays(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], *hw)
            if "CD" in f and "events" in f["CD"]:
                a = f["CD/events"][:]
                return Events.from_arrays(a["t"], a["x"], a["y"], a["p"])
    except (KeyError, ValueError) as err:
        raise corrupt(path, f"unexpected HDF5 content ({err})") from None
    raise MediaFileError(f"{path}: HDF5 file has no DSEC 'events/' group, v2e 'events' dataset or 'CD/events'")


# ------------------------------------------------------------------ text
def write_txt(path, events: Events) -> None:
    """RPG/v2e ``events.txt``: one ``t x y p`` line per event, ``t`` in seconds (6 decimals = exact us),
    ``p`` 1/0; a ``#`` header line carries the sensor size."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"# t[s] x y p(1=ON,0=OFF) height={events.height} width={events.width}\n")
            if len(events):
                sec, us = np.divmod(events.t, 1_000_000)
                lines = np.char.add(np.char.add(sec.astype(str), "."), np.char.zfill(us.astype(str), 6))
                rows = np.stack([lines, events.x.astype(str), events.y.astype(str), events.polarity01().astype(str)], 1)
                fh.write("\n".join(" ".join(r) for r in rows))
                fh.write("\n")


def read_txt(path, time_unit: str = "s") -> Events:
    """``t x y p`` per line (``#`` comments; an optional first ``width height`` line); ``time_unit`` "s" or "us"."""
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        raise MediaFileError(f"{path}: no such event file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise corrupt(path, f"not a text file ({err})") from None
    h = w = None
    rows = []
    for i, line in enumerate(text.splitlines()):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            for tok in s.split():
                if tok.startswith("height=") and tok[7:].isdigit():
                    h = int(tok[7:])
                if tok.startswith("width=") and tok[6:].isdigit():
                    w = int(tok[6:])
            continue
        parts = s.split()
        if not rows and len(parts) == 2 and all(p.isdigit() for p in parts):
            w, h = int(parts[0]), int(parts[1])
            continue
        if len(parts) < 4:
            raise corrupt(path, f"line {i + 1} has {len(parts)} columns; expected 't x y p'")
        rows.append(parts[:4])
    if not rows:
        return Events.empty(h, w)
    try:
        a = np.asarray(rows, dtype=np.float64)
    except ValueError:
        raise corrupt(path, "a line holds a non-numeric value") from None
    scale = {"s": 1e6, "us": 1.0}[time_unit]
    return Events.from_arrays(np.round(a[:, 0] * scale), a[:, 1], a[:, 2], a[:, 3], h, w)


