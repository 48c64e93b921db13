"""Event filters: background-activity (BA) denoising and a refractory filter.

Both keep per-pixel state in numpy arrays.  The BA filter is one pass over the events in Python
(about 1 M events per few seconds); the refractory filter's paralyzable form is vectorised per pixel.
"""
from __future__ import annotations

import numpy as np

from sigkit.errors import InputError

from .stream import Events


def background_activity_filter(ev: Events, dt_us: int, height: int | None = None, width: int | None = None,
                               include_self: bool = False) -> Events:
    """Keep an event if one of its 8 neighbours (and itself, with ``include_self``) fired within the
    previous ``dt_us`` microseconds (the classic BA filter; jAER's BackgroundActivityFilter).

    >>> ev = Events.from_arrays([0, 10, 5000], [1, 2, 9], [1, 1, 9], [1, 1, 1], 12, 12)
    >>> background_activity_filter(ev, 100).t.tolist()      # the second event has a neighbour 10 us earlier
    [10]
    """
    if dt_us <= 0:
        raise InputError(f"dt_us must be > 0; got {dt_us}")
    h, w = (height, width) if height is not None else ev.sensor_size
    # "last timestamp" map padded by one pixel; an event's support = latest neighbour time before it
    last = np.full((h + 2, w + 2), np.iinfo(np.int64).min // 2, dtype=np.int64)
    keep = np.zeros(len(ev), bool)
    xs, ys, ts = ev.x.astype(np.int64) + 1, ev.y.astype(np.int64) + 1, ev.t
    offs = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if include_self or (dy, dx) != (0, 0)]
    for i in range(len(ev)):
        y, x, t = ys[i], xs[i], ts[i]
        sup = max(last[y + dy, x + dx] for dy, dx in offs)
        keep[i] = t - sup <= dt_us
        last[y, x] = t
    return ev.select(keep)


def refractory_filter(ev: Events, refractory_us: int, paralyzable: bool = False) -> Events:
    """Drop events closer than ``refractory_us`` to the pixel's previous *kept* event (non-paralyzable,
    as hardware, v2e and ESIM), or to its previous event of any kind (``paralyzable``, as Tonic).

    >>> ev = Events.from_arrays([0, 60, 120, 200], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], 1, 1)
    >>> refractory_filter(ev, 100).t.tolist(), refractory_filter(ev, 100, paralyzable=True).t.tolist()
    ([0, 120], [0])
    """
    if refractory_us < 0:
        raise InputError(f"refractory_us must be >= 0; got {refractory_us}")
    pix = ev.y.astype(np.int64) * (int(ev.x.max()) + 1 if len(ev) else 1) + ev.x.astype(np.int64)
    order = np.lexsort((ev.t, pix))                     # per pixel, in time order
    keep = np.zeros(len(ev), bool)
    p_sorted, t_sorted = pix[order], ev.t[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends, strict=False):
        tt = t_sorted[s:e]
        if paralyzable:
            k = np.r_[True, np.diff(tt) > refractory_us]
        else:
            k = np.zeros(len(tt), bool)
            last = None
            for j, tj in enumerate(tt):
                if last is None or tj - last > refractory_us:
                    k[j], last = True, tj
        keep[order[s:e]] = k
    return ev.select(keep)
