"""Event-file round trips, readers on files built from the format specifications, and corrupt files."""
from __future__ import annotations

import struct

import h5py
import numpy as np
import pytest
from sigkit.events import Events
from sigkit.events.io import LAYOUTS, ms_to_idx, read, write

from sigkit.errors import InputError, MediaFileError


def _events(n=300, h=260, w=346, t_span=3_000_000, seed=0):
    rng = np.random.default_rng(seed)
    return Events.from_arrays(np.sort(rng.integers(0, t_span, n)), rng.integers(0, w, n), rng.integers(0, h, n),
                              rng.integers(0, 2, n), h, w)


SUFFIX = {"npz": ".npz", "dsec": ".h5", "v2e": ".h5", "txt": ".txt", "aedat2": ".aedat", "aedat4": ".aedat4",
          "evt2": ".raw", "evt3": ".raw"}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_round_trip(layout, tmp_path):
    ev = _events()
    p = tmp_path / f"ev{SUFFIX[layout]}"
    write(p, ev, layout=layout)
    back = read(p)
    assert back.equals(ev)
    if layout not in ("v2e",):
        assert back.sensor_size == (260, 346)
    empty = tmp_path / f"empty{SUFFIX[layout]}"
    write(empty, Events.empty(260, 346), layout=layout)
    assert len(read(empty)) == 0


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_aedat4_compressions_and_packets(compression, tmp_path):
    ev = _events(1000)
    p = tmp_path / "a.aedat4"
    write(p, ev, layout="aedat4", compression=compression, packet_size=128)
    assert read(p).equals(ev)


def test_dsec_layout_and_index(tmp_path):
    ev = Events.from_arrays([1000, 1500, 2999, 3000, 7200], [1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [1, 0, 1, 1, 0], 4, 8)
    p = tmp_path / "events.h5"
    write(p, ev, layout="dsec")
    with h5py.File(p) as f:
        assert int(f["t_offset"][()]) == 1000
        assert f["events/t"][:].tolist() == [0, 500, 1999, 2000, 6200]
        assert f["events/p"][:].tolist() == [1, 0, 1, 1, 0]
        assert f["ms_to_idx"][:].tolist() == [0, 2, 3, 4, 4, 4, 4]
    assert ms_to_idx(np.array([0, 1000, 1000, 2001])).tolist() == [0, 1, 3]


def test_v2e_layout(tmp_path):
    p = tmp_path / "v2e.h5"
    with h5py.File(p, "w") as f:                       # as v2e writes it: N x 4 uint32 [t_us, x, y, p01]
        f.create_dataset("events", data=np.array([[10, 1, 2, 1], [20, 3, 4, 0]], np.uint32))
    ev = read(p)
    assert ev.t.tolist() == [10, 20] and ev.x.tolist() == [1, 3] and ev.y.tolist() == [2, 4]
    assert ev.p.tolist() == [1, -1]


def test_metavision_hdf5(tmp_path):
    p = tmp_path / "rec.hdf5"
    dt = np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "<i2"), ("t", "<i8")])
    with h5py.File(p, "w") as f:
        f.create_dataset("CD/events", data=np.array([(5, 6, 1, 100), (7, 8, 0, 200)], dt))
    ev = read(p)
    assert ev.t.tolist() == [100, 200] and ev.x.tolist() == [5, 7] and ev.p.tolist() == [1, -1]


def test_text_reader_rpg_format(tmp_path):
    p = tmp_path / "events.txt"
    p.write_text("240 180\n0.000100 10 20 1\n0.000250 11 21 0\n")
    ev = read(p)
    assert ev.t.tolist() == [100, 250] and ev.sensor_size == (180, 240) and ev.p.tolist() == [1, -1]


def test_aedat2_davis346_addresses_from_spec(tmp_path):
    """Addresses built by hand: y at bits 30..22, x at 21..12 (both flipped), polarity bit 11, APS bit 31."""
    def addr(x, y, p):
        return ((259 - y) << 22) | ((345 - x) << 12) | (p << 11)
    recs = [(addr(0, 0, 1), 5), (addr(345, 259, 0), 9), ((1 << 31) | 123, 10), (addr(100, 50, 1) | (1 << 10), 12)]
    p = tmp_path / "rec.aedat"
    p.write_bytes(b"#!AER-DAT2.0\r\n# comment\r\n" + b"".join(struct.pack(">II", a, t) for a, t in recs))
    ev = read(p)
    assert ev.t.tolist() == [5, 9, 12]                         # the APS sample is skipped
    assert ev.x.tolist() == [0, 345, 100] and ev.y.tolist() == [0, 259, 50] and ev.p.tolist() == [1, -1, 1]


def test_aedat2_dvs128(tmp_path):
    ev = _events(50, 128, 128)
    p = tmp_path / "dvs.aedat"
    write(p, ev, layout="aedat2", camera="dvs128")
    assert read(p, camera="dvs128").equals(ev)


def _raw(path, header: str, words: np.ndarray):
    path.write_bytes(header.encode() + words.tobytes())


def test_evt2_words_from_spec(tmp_path):
    w = [(0x8 << 28) | 3,                                       # TIME_HIGH: t >> 6 = 3
         (0x1 << 28) | (5 << 22) | (10 << 11) | 7,              # CD_ON  t_low 5, x 10, y 7
         (0xA << 28) | 1,                                       # EXT_TRIGGER, ignored
         (0x0 << 28) | (63 << 22) | (639 << 11) | 479]          # CD_OFF
    p = tmp_path / "a.raw"
    _raw(p, "% evt 2.0\n% format EVT2;height=480;width=640\n% end\n", np.array(w, "<u4"))
    ev = read(p)
    assert ev.t.tolist() == [3 * 64 + 5, 3 * 64 + 63] and ev.x.tolist() == [10, 639]
    assert ev.y.tolist() == [7, 479] and ev.p.tolist() == [1, -1] and ev.sensor_size == (480, 640)


def test_evt3_vectors_and_time_wrap_from_spec(tmp_path):
    w = [0x8000 | 0xFFF, 0x6000 | 0x010,                      # time = 0xFFF010
         0x0000 | 5,                                          # ADDR_Y 5
         0x2000 | (1 << 11) | 9,                              # ADDR_X x=9 ON
         0x3000 | 100,                                        # VECT_BASE_X 100, OFF
         0x4000 | 0b100000000101,                             # VECT_12: x = 100, 102, 111
         0x5000 | 0b00000011,                                 # VECT_8: x = 112, 113
         0x8000 | 0x000, 0x6000 | 0x001,                      # TIME_HIGH wraps: time = 2^24 + 1
         0x0000 | 6, 0x2000 | 3]
    p = tmp_path / "b.raw"
    _raw(p, "% evt 3.0\n% geometry 640x480\n% end\n", np.array(w, "<u2"))
    ev = read(p)
    t1 = 0xFFF010
    assert ev.t.tolist() == [t1] * 6 + [2**24 + 1]
    assert ev.x.tolist() == [9, 100, 102, 111, 112, 113, 3]
    assert ev.y.tolist() == [5] * 6 + [6] and ev.p.tolist() == [1, -1, -1, -1, -1, -1, -1]


def test_aedat4_reader_skips_other_streams(tmp_path):
    from sigkit.events.io.aedat import _EVENT, AEDAT4_MAGIC, _build_table
    info = ('<dv version="2.0"><node name="outInfo" path="/o/"><node name="0" path="/o/0/">'
            '<attr key="typeIdentifier" type="string">FRME</attr></node>'
            '<node name="1" path="/o/1/"><attr key="typeIdentifier" type="string">EVTS</attr>'
            '<node name="info" path="/o/1/info/"><attr key="sizeX" type="int">64</attr>'
            '<attr key="sizeY" type="int">48</attr></node></node></node></dv>')
    hdr = _build_table([("i32", 0), ("i64", -1), ("str", info.encode())], b"IOHE")
    arr = np.zeros(2, _EVENT)
    arr["t"], arr["x"], arr["y"], arr["on"] = [7, 8], [1, 63], [2, 47], [1, 0]
    evts = _build_table([("vec16", arr.tobytes())], b"EVTS")
    junk = b"not an event packet"
    p = tmp_path / "r.aedat4"
    p.write_bytes(AEDAT4_MAGIC + hdr + struct.pack("<ii", 0, len(junk)) + junk + struct.pack("<ii", 1, len(evts)) + evts)
    ev = read(p)
    assert ev.t.tolist() == [7, 8] and ev.x.tolist() == [1, 63] and ev.sensor_size == (48, 64)


class TestCorrupt:
    @pytest.mark.parametrize("layout", ["aedat2", "aedat4", "evt2", "evt3"])
    def test_truncated(self, layout, tmp_path):
        p = tmp_path / f"ev{SUFFIX[layout]}"
        write(p, _events(500), layout=layout)
        data = p.read_bytes()
        p.write_bytes(data[:-3])
        with pytest.raises(MediaFileError, match="corrupt or truncated"):
            read(p)

    def test_garbage_and_missing(self, tmp_path):
        with pytest.raises(MediaFileError, match="no such event file"):
            read(tmp_path / "nope.h5")
        p = tmp_path / "x.h5"
        p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
        with pytest.raises(MediaFileError):
            read(p)
        q = tmp_path / "x.bin"
        q.write_bytes(b"hello")
        with pytest.raises(MediaFileError, match="unrecognised"):
            read(q)
        r = tmp_path / "bad.raw"
        _raw(r, "% evt 2.0\n% end\n", np.array([0x3 << 28], "<u4"))
        with pytest.raises(MediaFileError, match="reserved type"):
            read(r)
        t = tmp_path / "bad.txt"
        t.write_text("0.1 1 2\n")
        with pytest.raises(MediaFileError, match="columns"):
            read(t)

    def test_bad_layout(self, tmp_path):
        with pytest.raises(InputError, match="unknown event-file layout"):
            write(tmp_path / "a.h5", _events(3), layout="hdf")
        with pytest.raises(InputError, match="suffix"):
            write(tmp_path / "a.xyz", _events(3))
