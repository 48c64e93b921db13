"""Prophesee RAW files: EVT 2.0 and EVT 3.0 (read, vectorised; write, for tests and export).

Header: ``% key value`` lines (``% evt 3.0``, ``% format EVT3;height=720;width=1280``,
``% geometry 1280x720``) ending with ``% end`` or at the first byte that is not ``%``.

EVT 2.0, 32-bit little-endian words, type = bits 31..28: CD_OFF 0x0, CD_ON 0x1 (``t_low`` bits
27..22, ``x`` 21..11, ``y`` 10..0), EVT_TIME_HIGH 0x8 (bits 27..0 = ``t >> 6``), EXT_TRIGGER 0xA,
OTHERS 0xE, CONTINUED 0xF; ``t = time_high << 6 | t_low`` (us).

EVT 3.0, 16-bit little-endian words, type = bits 15..12: ADDR_Y 0x0 (y 10..0), ADDR_X 0x2 (x 10..0,
polarity bit 11; one event), VECT_BASE_X 0x3 (x and polarity), VECT_12 0x4 / VECT_8 0x5 (valid masks
of 12 / 8 pixels from base x, which then advances by 12 / 8), TIME_LOW 0x6 and TIME_HIGH 0x8 (12 bits
each of a 24-bit time, whose wrap-arounds are counted), CONTINUED_4 0x7, EXT_TRIGGER 0xA, OTHERS 0xE,
CONTINUED_12 0xF.
"""
from __future__ import annotations

import re

import numpy as np

from ..stream import Events
from ._common import atomic_path, corrupt, read_bytes


def _header(data: bytes, path) -> tuple[dict, int]:
    pos, hdr = 0, {}
    while pos < len(data) and data[pos:pos + 1] == b"%":
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise corrupt(path, "header line without end")
        line = data[pos + 1:nl].decode("ascii", "replace").strip()
        pos = nl + 1
        if line == "end":
            break
        key, _, val = line.partition(" ")
        hdr[key] = val.strip()
    return hdr, pos


def _geometry(hdr: dict) -> tuple[int | None, int | None]:
    fmt = hdr.get("format", "")
    h = re.search(r"height=(\d+)", fmt)
    w = re.search(r"width=(\d+)", fmt)
    if h and w:
        return int(h.group(1)), int(w.group(1))
    g = re.match(r"(\d+)x(\d+)", hdr.get("geometry", ""))
    return (int(g.group(2)), int(g.group(1))) if g else (None, None)


def _ffill(values: np.ndarray, is_set: np.ndarray, initial: int = 0) -> np.ndarray:
    """At every position, the value at the last position where ``is_set`` (``initial`` before any)."""
    idx = np.where(is_set, np.arange(len(values)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, values[np.maximum(idx, 0)], initial)
    return out


def read_raw(path) -> Events:
    """Read a Prophesee ``.raw`` file in EVT 2.0 or EVT 3.0 (from the header; EVT 2.1 is not supported)."""
    data = read_bytes(path)
    hdr, pos = _header(data, path)
    fmt = (hdr.get("format", "").split(";")[0] or ("EVT" + hdr.get("evt", "").replace(".0", ""))).upper()
    h, w = _geometry(hdr)
    body = data[pos:]
    if fmt in ("EVT2", "EVT20"):
        return _decode_evt2(body, path, h, w)
    if fmt in ("EVT3", "EVT30"):
        return _decode_evt3(body, path, h, w)
    raise corrupt(path, f"unsupported or missing RAW format {fmt or '(none)'!r} (EVT2 and EVT3 are read)")


def _decode_evt2(body: bytes, path, h, w) -> Events:
    if len(body) % 4:
        raise corrupt(path, f"EVT2 payload of {len(body)} bytes is not whole 32-bit words")
    wd = np.frombuffer(body, "<u4").astype(np.int64)
    typ = wd >> 28
    bad = ~np.isin(typ, [0x0, 0x1, 0x8, 0xA, 0xE, 0xF])
    if bad.any():
        raise corrupt(path, f"EVT2 word {int(np.argmax(bad))} has reserved type {int(typ[bad][0]):#x}")
    th = _ffill(wd & 0x0FFFFFFF, typ == 0x8)
    cd = typ <= 1
    t = (th[cd] << 6) | ((wd[cd] >> 22) & 0x3F)
    return Events.from_arrays(t, (wd[cd] >> 11) & 0x7FF, wd[cd] & 0x7FF, typ[cd], h, w)


def _decode_evt3(body: bytes, path, h, w) -> Events:
    if len(body) % 2:
        raise corrupt(path, f"EVT3 payload of {len(body)} bytes is not whole 16-bit words")
    wd = np.frombuffer(body, "<u2").astype(np.int64)
    typ = wd >> 12
    bad = ~np.isin(typ, [0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF])
    if bad.any():
        raise corrupt(path, f"EVT3 word {int(np.argmax(bad))} has reserved type {int(typ[bad][0]):#x}")
    val = wd & 0xFFF
    # time: 12 high + 12 low bits, the 24-bit time wrapping around (count the wraps of the high part)
    is_hi = typ == 0x8
    hi_seq = val[is_hi]
    wraps = np.concatenate([[0], np.cumsum(np.diff(hi_seq) < 0)]) if len(hi_seq) else hi_seq
    hi_full = np.zeros(len(wd), np.int64)
    hi_full[is_hi] = hi_seq + (wraps << 12)
    t_hi = _ffill(hi_full, is_hi)
    t_lo = _ffill(val, typ == 0x6)
    t_all = (t_hi << 12) | t_lo
    y_all = _ffill(wd & 0x7FF, typ == 0x0)
    # single events
    ax = typ == 0x2
    parts = [(t_all[ax], wd[ax] & 0x7FF, y_all[ax], (wd[ax] >> 11) & 1, np.nonzero(ax)[0])]
    # vectors: base x (set by VECT_BASE_X, advanced by 12 / 8 per vector word)
    inc = np.where(typ == 0x4, 12, np.where(typ == 0x5, 8, 0))
    cs = np.cumsum(inc) - inc
    is_base = typ == 0x3
    base_val = _ffill(wd & 0x7FF, is_base)
    base_cs = _ffill(cs, is_base)
    base_p = _ffill((wd >> 11) & 1, is_base)
    for code, nbits in ((0x4, 12), (0x5, 8)):
        k = np.nonzero(typ == code)[0]
        if not len(k):
            continue
        mask = (val[k] if nbits == 12 else val[k] & 0xFF)[:, None]
        bits = (mask >> np.arange(nbits)) & 1
        r, c = np.nonzero(bits)
        kk = k[r]
        x = base_val[kk] + (cs[kk] - base_cs[kk]) + c
        parts.append((t_all[kk], x, y_all[kk], base_p[kk], kk))
    order_key = np.concatenate([p[4] for p in parts])
    t, x, y, p = (np.concatenate([q[i] for q in parts]) for i in range(4))
    o = np.argsort(order_key, kind="stable")
    return Events.from_arrays(t[o], x[o], y[o], p[o], h, w)


def _write_raw(path, header: str, words: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(words.tobytes())


def write_evt2(path, events: Events) -> None:
    """Encode to EVT 2.0 (a TIME_HIGH word whenever ``t >> 6`` changes, then one CD word per event)."""
    t, x, y, p = events.t, events.x.astype(np.int64), events.y.astype(np.int64), events.polarity01().astype(np.int64)
    th = t >> 6
    new = np.ones(len(t), bool)
    new[1:] = th[1:] != th[:-1]
    cdw = (p << 28) | ((t & 0x3F) << 22) | (x << 11) | y
    thw = (0x8 << 28) | (th & 0x0FFFFFFF)
    out = np.empty(len(t) + int(new.sum()), np.int64)
    pos = np.arange(len(t)) + np.cumsum(new)
    out[pos] = cdw
    out[pos[new] - 1] = thw[new]
    h, w = events.sensor_size
    _write_raw(path, f"% evt 2.0\n% format EVT2;height={h};width={w}\n% geometry {w}x{h}\n% end\n",
               out.astype("<u4"))


def write_evt3(path, events: Events) -> None:
    """Encode to EVT 3.0 with TIME_HIGH / TIME_LOW / ADDR_Y words on change and one ADDR_X per event."""
    words = []
    last_hi = last_lo = last_y = None
    for t, x, y, p in zip(events.t.tolist(), events.x.tolist(), events.y.tolist(), events.polarity01().tolist(), strict=False):
        hi, lo = (t >> 12) & 0xFFF, t & 0xFFF
        if hi != last_hi:
            words.append(0x8000 | hi)
            last_hi, last_lo = hi, None
        if lo != last_lo:
            words.append(0x6000 | lo)
            last_lo = lo
        if y != last_y:
            words.append(0x0000 | y)
            last_y = y
        words.append(0x2000 | (p << 11) | x)
    h, w = events.sensor_size
    _write_raw(path, f"% evt 3.0\n% format EVT3;height={h};width={w}\n% geometry {w}x{h}\n% end\n",
               np.asarray(words, "<u2"))
