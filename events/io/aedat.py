"""jAER AEDAT-2.0 (read/write, DAVIS346 and DVS128 addresses) and iniVation AEDAT-4.0 (read/write events).

AEDAT-2.0: ``#``-prefixed header lines (first ``#!AER-DAT2.0\\r\\n``), then big-endian int32 address +
int32 timestamp (us).  DAVIS346: ``x = 345 - ((a >> 12) & 0x3FF)``, ``y = 259 - ((a >> 22) & 0x1FF)``,
``p = (a >> 11) & 1``; bit 31 marks APS samples (skipped), bit 10 special/noise-flagged events (kept).
DVS128: ``x = 127 - ((a >> 1) & 0x7F)``, ``y = (a >> 8) & 0x7F``, ``p = a & 1``, bit 15 special.

AEDAT-4.0: ``#!AER-DAT4.0\\r\\n``; a size-prefixed FlatBuffer ``IOHeader`` (``compression`` int32
enum NONE/LZ4/LZ4_HIGH/ZSTD/ZSTD_HIGH, ``dataTablePosition`` int64, ``infoNode`` XML string); then
packets ``[int32 stream id][int32 size][compressed size-prefixed FlatBuffer]``, event packets having
identifier ``EVTS`` and a vector of 16-byte structs ``{int64 t_us, int16 x, int16 y, bool on}``.
"""
from __future__ import annotations

import struct

import numpy as np

from sigkit.errors import MediaFileError

from ..stream import Events
from ._common import atomic_path, corrupt, read_bytes

AEDAT2_MAGIC = b"#!AER-DAT2.0"
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
CAMERAS2 = {"davis346": (260, 346), "dvs128": (128, 128)}


# ------------------------------------------------------------------ AEDAT 2
def _split_header(data: bytes) -> int:
    pos = 0
    while pos < len(data) and data[pos:pos + 1] == b"#":
        nl = data.find(b"\n", pos)
        if nl < 0:
            return len(data)
        pos = nl + 1
    return pos


def read_aedat2(path, camera: str = "davis346") -> Events:
    """Read a jAER AEDAT-2.0 file (DVS events; APS samples are skipped)."""
    if camera not in CAMERAS2:
        raise MediaFileError(f"{path}: unknown AEDAT2 camera {camera!r}; use one of {sorted(CAMERAS2)}")
    data = read_bytes(path)
    if not data.startswith(AEDAT2_MAGIC):
        raise corrupt(path, "missing '#!AER-DAT2.0' header")
    body = data[_split_header(data):]
    if len(body) % 8:
        raise corrupt(path, f"event payload of {len(body)} bytes is not a whole number of 8-byte records")
    rec = np.frombuffer(body, dtype=">u4").reshape(-1, 2)
    a, t = rec[:, 0].astype(np.int64), rec[:, 1].astype(np.int64)
    h, w = CAMERAS2[camera]
    if camera == "davis346":
        keep = (a >> 31) == 0
        a, t = a[keep], t[keep]
        x, y, p = 345 - ((a >> 12) & 0x3FF), 259 - ((a >> 22) & 0x1FF), (a >> 11) & 1
    else:
        x, y, p = 127 - ((a >> 1) & 0x7F), (a >> 8) & 0x7F, a & 1
    if len(x) and (x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h):
        raise corrupt(path, f"addresses outside the {camera} sensor; pass the right camera=")
    return Events.from_arrays(t, x, y, p, h, w)


def write_aedat2(path, events: Events, camera: str = "davis346") -> None:
    """Write jAER AEDAT-2.0 with DAVIS346 (``y << 22 | x << 12 | p << 11``, flipped) or DVS128 addresses."""
    h, w = CAMERAS2[camera]
    if len(events) and (events.x.max() >= w or events.y.max() >= h):
        raise MediaFileError(f"{path}: events exceed the {camera} sensor ({w}x{h})")
    x, y, p = events.x.astype(np.int64), events.y.astype(np.int64), events.polarity01().astype(np.int64)
    if camera == "davis346":
        a = ((259 - y) << 22) | ((345 - x) << 12) | (p << 11)
    else:
        a = (y << 8) | ((127 - x) << 1) | p
    rec = np.stack([a, events.t], 1).astype(">u4")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"#!AER-DAT2.0\r\n# This is a raw AE data file created by sigkit\r\n")
            fh.write(f"# camera {camera}\r\n".encode())
            fh.write(rec.tobytes())


# ------------------------------------------------------------------ FlatBuffers, just what AEDAT4 needs
def _u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def _table_fields(buf: bytes, table: int) -> list[int]:
    """Absolute positions of a table's fields (0 where absent)."""
    vt = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vt)[0]
    n = (vt_size - 4) // 2
    offs = struct.unpack_from(f"<{n}H", buf, vt + 4)
    return [table + o if o else 0 for o in offs]


def _build_table(fields: list[tuple[str, object]], ident: bytes) -> bytes:
    """Size-prefixed FlatBuffer of one table.  ``fields``: ``("i32"|"i64", value)``, ``("str", bytes)``
    or ``("vec16", bytes of 16-byte structs)``, in slot order.  Layout: root, ident, vtable, table, payloads."""
    nf = len(fields)
    vt_size = 4 + 2 * nf
    vt_pos = 8
    table = (vt_pos + vt_size + 7) // 8 * 8
    # table body: soffset (4) then fields, 8-byte fields 8-aligned
    body_offs, pos = [], 4
    for kind, _ in fields:
        size = 8 if kind == "i64" else 4
        pos = (pos + size - 1) // size * size
        body_offs.append(pos)
        pos += size
    obj_size = (pos + 7) // 8 * 8
    out = bytearray(table + obj_size)
    struct.pack_into("<I", out, 0, table)
    out[4:8] = ident
    struct.pack_into(f"<HH{nf}H", out, vt_pos, vt_size, obj_size, *body_offs)
    struct.pack_into("<i", out, table, table - vt_pos)
    for (kind, val), off in zip(fields, body_offs, strict=False):
        at = table + off
        if kind == "i32":
            struct.pack_into("<i", out, at, val)
        elif kind == "i64":
            struct.pack_into("<q", out, at, val)
        else:
            # vector/string: u32 length 8-aligned so that the elements after it start on 8 + 4
            while (len(out) + 4) % 8:
                out += b"\0"
            struct.pack_into("<I", out, at, len(out) - at)
            n = len(val) // 16 if kind == "vec16" else len(val)
            out += struct.pack("<I", n) + val + (b"\0" if kind == "str" else b"")
    return struct.pack("<I", len(out)) + bytes(out)


_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                   "offsets": [0, 8, 10, 12], "itemsize": 16})
_COMPRESSION = {0: "none", 1: "lz4", 2: "lz4", 3: "zstd", 4: "zstd"}


def _decompress(kind: str, blob: bytes) -> bytes:
    if kind == "none":
        return blob
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.decompress(blob)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(blob)


def _compress(kind: str, blob: bytes) -> bytes:
    if kind == "none":
        return blob
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.compress(blob)
    import zstandard

    return zstandard.ZstdCompressor().compress(blob)


def _event_streams(info: str) -> dict[int, tuple[int | None, int | None]]:
    """Stream id -> (height, width) for the EVTS streams the infoNode XML declares (empty if unparsable)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(info)
    except ET.ParseError:
        return {}
    streams = {}
    for node in root.iter("node"):
        name = node.get("name", "")
        attrs = {a.get("key"): (a.text or "").strip() for a in node.findall("attr")}
        if name.isdigit() and attrs.get("typeIdentifier") == "EVTS":
            sub = {a.get("key"): (a.text or "").strip() for n in node.findall("node") for a in n.findall("attr")}
            sx, sy = sub.get("sizeX"), sub.get("sizeY")
            streams[int(name)] = (int(sy) if sy and sy.isdigit() else None, int(sx) if sx and sx.isdigit() else None)
    return streams


def read_aedat4(path) -> Events:
    """Read the event stream(s) of an AEDAT-4.0 file (frames, IMU and triggers are skipped)."""
    data = read_bytes(path)
    if not data.startswith(AEDAT4_MAGIC):
        raise corrupt(path, "missing '#!AER-DAT4.0' header")
    try:
        pos = len(AEDAT4_MAGIC)
        hsize = _u32(data, pos)
        hdr = data[pos + 4: pos + 4 + hsize]
        if len(hdr) != hsize or hdr[4:8] != b"IOHE":
            raise corrupt(path, "IOHeader is truncated or lacks its 'IOHE' identifier")
        f = _table_fields(hdr, _u32(hdr, 0))
        f += [0] * (3 - len(f))
        comp = struct.unpack_from("<i", hdr, f[0])[0] if f[0] else 0
        table_pos = struct.unpack_from("<q", hdr, f[1])[0] if f[1] else -1
        info = ""
        if f[2]:
            s = f[2] + _u32(hdr, f[2])
            info = hdr[s + 4: s + 4 + _u32(hdr, s)].decode("utf-8", "replace")
    except struct.error:
        raise corrupt(path, "IOHeader is truncated") from None
    if comp not in _COMPRESSION:
        raise corrupt(path, f"unknown compression type {comp}")
    kind = _COMPRESSION[comp]
    streams = _event_streams(info)
    end = table_pos if table_pos > 0 else len(data)
    pos = len(AEDAT4_MAGIC) + 4 + hsize
    chunks = []
    while pos < end:
        if pos + 8 > end:
            raise corrupt(path, f"packet header at byte {pos} is truncated")
        sid, size = struct.unpack_from("<ii", data, pos)
        blob = data[pos + 8: pos + 8 + size]
        if size < 0 or len(blob) != size:
            raise corrupt(path, f"packet at byte {pos} declares {size} bytes but {len(blob)} remain")
        pos += 8 + size
        if streams and sid not in streams:
            continue
        try:
            buf = _decompress(kind, blob)
        except Exception as err:  # lz4/zstd raise their own types
            raise corrupt(path, f"packet at byte {pos - 8 - size} does not decompress ({err})") from None
        fb = buf[4:]
        if len(buf) < 12 or _u32(buf, 0) != len(fb):
            raise corrupt(path, "a packet's FlatBuffer size prefix does not match its length")
        if fb[4:8] != b"EVTS":
            if streams:
                raise corrupt(path, f"stream {sid} is declared EVTS but a packet is {fb[4:8]!r}")
            continue
        try:
            fld = _table_fields(fb, _u32(fb, 0))
            if not fld or not fld[0]:
                continue
            v = fld[0] + _u32(fb, fld[0])
            n = _u32(fb, v)
            arr = np.frombuffer(fb, dtype=_EVENT, count=n, offset=v + 4)
        except (struct.error, ValueError):
            raise corrupt(path, "an event packet's FlatBuffer is malformed") from None
        chunks.append(arr)
    h, w = next(iter(streams.values())) if streams else (None, None)
    if not chunks:
        return Events.empty(h, w)
    a = np.concatenate(chunks)
    return Events.from_arrays(a["t"], a["x"], a["y"], a["on"], h, w)


def write_aedat4(path, events: Events, compression: str = "lz4", packet_size: int = 4096) -> None:
    """Write an event-only AEDAT-4.0 file (one stream, id 0; ``compression`` none/lz4/zstd).

    No trailing FileDataTable is written (``dataTablePosition = -1``); readers then scan the packets.
    """
    code = {"none": 0, "lz4": 1, "zstd": 3}[compression]
    h, w = events.sensor_size
    info = ('<dv version="2.0"><node name="outInfo" path="/mainloop/sigkit/outInfo/">'
            '<node name="0" path="/mainloop/sigkit/outInfo/0/">'
            f'<attr key="compression" type="string">{compression.upper()}</attr>'
            '<attr key="typeIdentifier" type="string">EVTS</attr>'
            '<node name="info" path="/mainloop/sigkit/outInfo/0/info/">'
            f'<attr key="sizeX" type="int">{w}</attr><attr key="sizeY" type="int">{h}</attr>'
            '</node></node></node></dv>')
    header = _build_table([("i32", code), ("i64", -1), ("str", info.encode())], b"IOHE")
    arr = np.zeros(len(events), _EVENT)
    arr["t"], arr["x"], arr["y"], arr["on"] = events.t, events.x, events.y, events.polarity01()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(AEDAT4_MAGIC + header)
            for i in range(0, len(arr), packet_size):
                fb = _build_table([("vec16", arr[i:i + packet_size].tobytes())], b"EVTS")
                blob = _compress(compression, fb)
                fh.write(struct.pack("<ii", 0, len(blob)) + blob)
