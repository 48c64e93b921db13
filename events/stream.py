"""The :class:`Events` container every part of :mod:`sigkit.events` passes around.

Encoding (fixed for the whole package):

* ``t``: int64 **microseconds** (absolute, as the sensor or simulator stamped them), sorted ascending;
* ``x``, ``y``: int16 pixel column / row, ``0 <= x < width``, ``0 <= y < height``;
* ``p``: int8 polarity **+1 (ON, brighter) / -1 (OFF, darker)**; ``polarity01()`` gives 1/0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sigkit.errors import InputError


@dataclass
class Events:
    """A stream of DVS events as four aligned numpy arrays plus the sensor size.

    Args:
        t: ``(N,)`` int64 timestamps in microseconds.
        x: ``(N,)`` int16 columns.
        y: ``(N,)`` int16 rows.
        p: ``(N,)`` int8 polarity in {+1, -1}.
        height, width: sensor size in pixels (``None`` where unknown).

    >>> ev = Events.from_arrays(t=[5, 1], x=[0, 2], y=[1, 1], p=[1, 0], height=2, width=3)
    >>> ev.t.tolist(), ev.p.tolist()        # sorted by time, 0/1 polarity converted to -1/+1
    ([1, 5], [-1, 1])
    >>> len(ev), ev.duration_us
    (2, 4)
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    height: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        _check_aligned(self)

    @classmethod
    def from_arrays(cls, t, x, y, p, height: int | None = None, width: int | None = None,
                    sort: bool = True) -> Events:
        """Build from any array-likes; ``p`` may be 0/1, False/True or -1/+1 (0 and -1 mean OFF)."""
        t = np.asarray(t)
        if t.dtype.kind == "f":
            t = np.round(t).astype(np.int64)
        t = t.astype(np.int64, copy=False)
        pa = np.asarray(p)
        p = np.where(pa.astype(np.float64) > 0, 1, -1).astype(np.int8)
        ev = cls(t, np.asarray(x).astype(np.int16), np.asarray(y).astype(np.int16), p,
                 None if height is None else int(height), None if width is None else int(width))
        if height is not None and width is not None and len(ev):
            if ev.x.min() < 0 or ev.y.min() < 0 or ev.x.max() >= width or ev.y.max() >= height:
                raise InputError(f"Events: coordinates fall outside the sensor ({width}x{height}); "
                                 "pass the right height/width")
        return ev.sorted() if sort else ev

    @classmethod
    def empty(cls, height: int | None = None, width: int | None = None) -> Events:
        """An empty stream."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.int16), np.zeros(0, np.int8),
                   height, width)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration_us(self) -> int:
        """Time from first to last event in microseconds (0 when fewer than two events)."""
        return int(self.t[-1] - self.t[0]) if len(self) > 1 else 0

    @property
    def sensor_size(self) -> tuple[int, int]:
        """``(height, width)``; taken from the coordinates when not stored."""
        h = self.height if self.height is not None else (int(self.y.max()) + 1 if len(self) else 0)
        w = self.width if self.width is not None else (int(self.x.max()) + 1 if len(self) else 0)
        return h, w

    def polarity01(self) -> np.ndarray:
        """Polarity as uint8 1 (ON) / 0 (OFF)."""
        return (self.p > 0).astype(np.uint8)

    def sorted(self) -> Events:
        """A copy ordered by time (stable: simultaneous events keep their order)."""
        if len(self) and np.all(self.t[1:] >= self.t[:-1]):
            return self
        o = np.argsort(self.t, kind="stable")
        return Events(self.t[o], self.x[o], self.y[o], self.p[o], self.height, self.width)

    def select(self, mask: np.ndarray) -> Events:
        """The events where ``mask`` (bool ``(N,)``) or an index array selects."""
        return Events(self.t[mask], self.x[mask], self.y[mask], self.p[mask], self.height, self.width)

    def slice_time(self, t_start_us: int, t_end_us: int) -> Events:
        """Events with ``t_start_us <= t < t_end_us`` (binary search; the stream must be sorted)."""
        i0, i1 = np.searchsorted(self.t, [t_start_us, t_end_us], side="left")
        return Events(self.t[i0:i1], self.x[i0:i1], self.y[i0:i1], self.p[i0:i1], self.height, self.width)

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        """Join streams (re-sorted by time); the sensor size is taken from the first part."""
        if not parts:
            return Events.empty()
        ev = Events(np.concatenate([e.t for e in parts]), np.concatenate([e.x for e in parts]),
                    np.concatenate([e.y for e in parts]), np.concatenate([e.p for e in parts]),
                    parts[0].height, parts[0].width)
        return ev.sorted()

    def equals(self, other: Events) -> bool:
        """True when all four fields are identical (the sensor size is not compared)."""
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in "txyp")

    def __repr__(self) -> str:
        span = f", t=[{self.t[0]}..{self.t[-1]}] us" if len(self) else ""
        return f"Events(n={len(self)}, size={self.height}x{self.width}{span})"


def _check_aligned(ev: Events | EventTensors) -> None:
    """Raise unless the fields ``t, x, y, p`` of ``ev`` have one length."""
    n = len(ev.t)
    for name in ("x", "y", "p"):
        if len(getattr(ev, name)) != n:
            raise InputError(f"{type(ev).__name__}: field {name!r} has {len(getattr(ev, name))} entries but t has {n}; "
                             "give t, x, y, p of one length")


@dataclass
class EventTensors:
    """Events kept where they were simulated: four aligned torch tensors (same encoding as :class:`Events`).

    What ``simulate(..., output="torch")`` returns, so GPU code (event frames, voxel grids, losses) can use
    the events without a copy to the host.

    Args:
        t: ``(N,)`` int64 microseconds, sorted ascending (ties: by pixel index ``y * width + x``).
        x, y: ``(N,)`` int16 column / row.  p: ``(N,)`` int8 +1 (ON) / -1 (OFF).
        height, width: sensor size in pixels.

    >>> import torch
    >>> et = EventTensors(torch.tensor([3, 7]), torch.tensor([1, 0], dtype=torch.int16),
    ...                   torch.tensor([0, 1], dtype=torch.int16), torch.tensor([1, -1], dtype=torch.int8), 2, 2)
    >>> len(et), et.numpy().t.tolist(), et.device.type
    (2, [3, 7], 'cpu')
    """

    t: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    p: torch.Tensor
    height: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        _check_aligned(self)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def device(self) -> torch.device:
        """The tensors' device."""
        return self.t.device

    def numpy(self) -> Events:
        """The same events as :class:`Events` (numpy, on the host)."""
        return Events(self.t.cpu().numpy(), self.x.cpu().numpy(), self.y.cpu().numpy(), self.p.cpu().numpy(),
                      self.height, self.width)

    @classmethod
    def from_events(cls, ev: Events, device: str | torch.device = "cpu") -> EventTensors:
        """Tensors (on ``device``) holding the events of ``ev``."""
        as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        return cls(as_t(ev.t), as_t(ev.x), as_t(ev.y), as_t(ev.p), ev.height, ev.width)
