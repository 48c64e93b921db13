"""The simulator's output path: device sort per part, merge of parts, packed host copy, events left on the device."""
from __future__ import annotations

import importlib
import weakref

import numpy as np
import pytest
import torch
from sigkit.events import EventTensors, SimConfig, Simulator, hostcopy, simulate
from sigkit.events.scenes import sliding_texture

from sigkit.errors import InputError

sim_mod = importlib.import_module("sigkit.events.simulate")


def _raw(n: int, n_pix: int, t0: float, t1: float, gen: torch.Generator):
    """Unsorted raw events ``(t_s float64, pixel int32, p int8)`` with many same-microsecond ties."""
    t = t0 + torch.randint(0, int(round((t1 - t0) * 1e6)), (n,), generator=gen).double() * 1e-6
    return t, torch.randint(0, n_pix, (n,), generator=gen, dtype=torch.int32), \
        (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(torch.int8)


def test_merge_of_sorted_parts_equals_one_stable_sort():
    sim = Simulator(SimConfig(), 3, 4)
    gen = torch.Generator().manual_seed(1)
    # consecutive chunks sharing their boundary microseconds, then "noise" spanning everything
    raws = [_raw(300, 12, 0.0, 0.0005, gen), _raw(200, 12, 0.0005, 0.0008, gen), _raw(150, 12, 0.0, 0.0008, gen)]
    raws[1][0][:20] = 0.0005                       # ties across the first seam
    merged = sim._merge_parts([sim._sort_part(*r) for r in raws])
    ref = sim._sort_part(*(torch.cat(a) for a in zip(*raws, strict=True)))
    for a, b in zip(merged, ref, strict=True):
        assert torch.equal(a, b)
    key = merged[0] * 12 + merged[1]
    assert bool((key[1:] >= key[:-1]).all()) and merged[0].dtype == torch.int64
    # parts already in order: the concatenation is kept as is; empty parts are dropped
    a, b = sim._sort_part(*raws[0]), sim._sort_part(*_raw(50, 12, 0.001, 0.002, gen))
    empty = tuple(v[:0] for v in a)
    out = sim._merge_parts([a, empty, b])
    assert torch.equal(out[0], torch.cat([a[0], b[0]])) and torch.equal(out[2], torch.cat([a[2], b[2]]))
    assert sim._merge_parts([empty]) is None


def _fields(part, width: int):
    tus, idx, p = part
    return tus, (idx % width).to(torch.int16), torch.div(idx, width, rounding_mode="floor").to(torch.int16), p


@pytest.mark.parametrize("mode", ["direct", "staged", "pageable"])
def test_event_sink_equals_one_stable_sort(device, mode, monkeypatch):
    """Parts copied piece by piece through a small ring (slots reused, results grown) == one stable sort."""
    monkeypatch.setattr(hostcopy, "PIECE_EVENTS", 37)
    monkeypatch.setattr(hostcopy, "RING_SLOTS", 3)
    sim = Simulator(SimConfig(), 5, 7)
    gen = torch.Generator().manual_seed(4)
    raws = [_raw(400, 35, 0.0, 0.0004, gen), _raw(3, 35, 0.0004, 0.00041, gen), _raw(0, 35, 0.00041, 0.0005, gen),
            _raw(250, 35, 0.00041, 0.0009, gen)]
    raws[1][0][:] = 0.0004                        # a tiny part entirely in the microsecond of the first seam
    raws[3][0][:30] = 0.00041                     # ties across the next seam
    ref = _fields(sim._sort_part(*(torch.cat(a) for a in zip(*raws, strict=True))), 7)
    sink = hostcopy.EventSink(7, mode=mode)
    for r in raws:                                # expect_total 10: the result arrays must grow twice
        sink.submit(*(f.to(device) for f in _fields(sim._sort_part(*r), 7)), expect_total=10)
    got = sink.result()
    assert [a.dtype for a in got] == [np.int64, np.int16, np.int16, np.int8] and len(got[0]) == 653
    assert set(sink.used) == {mode} and len(sink.used) == 3            # (the empty part is not copied)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    assert hostcopy.staging_ring().free.qsize() == 3          # every slot given back
    # a seam that goes back in time: everything re-sorted (stably)
    late, early = _fields(sim._sort_part(*raws[3]), 7), _fields(sim._sort_part(*raws[0]), 7)
    sink = hostcopy.EventSink(7, mode=mode)
    sink.submit(*(f.to(device) for f in late))
    sink.submit(*(f.to(device) for f in early))
    both = [(raws[3][i], raws[0][i]) for i in range(3)]
    ref = _fields(sim._sort_part(*(torch.cat(a) for a in both)), 7)
    for a, b in zip(sink.result(), ref, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    empty = hostcopy.EventSink(7, mode=mode).result()
    assert [len(a) for a in empty] == [0] * 4 and empty[0].dtype == np.int64
    with pytest.raises(ValueError, match="mode"):
        hostcopy.EventSink(7, mode="mmap")


def test_result_memory_is_reused_only_once_no_result_refers_to_it(monkeypatch):
    monkeypatch.setattr(hostcopy, "_pool_host", hostcopy._HostPool())
    t = torch.arange(5000, dtype=torch.int64)
    xy, p = (t % 7).to(torch.int16), torch.ones(5000, dtype=torch.int8)

    def run(offset: int):
        sink = hostcopy.EventSink(7, mode="staged")     # the pageable slabs (the direct path's are tested below)
        sink.submit(t + offset, xy, xy, p, expect_total=5000)
        return sink.result()

    def slab(res):
        return res[0].base

    a = run(0)
    b = run(10**6)                                 # a is alive: b gets other memory, a keeps its values
    assert slab(a) is not slab(b) and int(a[0][-1]) == 4999 and int(b[0][0]) == 10**6
    view = a[1][10:20]                             # a view of a's memory keeps it in use
    base_a = weakref.ref(slab(a))
    del a
    c = run(2 * 10**6)
    assert slab(c) is not base_a() and int(view[0]) == 10 % 7
    del view
    d = run(3 * 10**6)                             # nothing refers to a's slab any more: reused
    assert slab(d) is base_a() and int(d[0][-1]) == 3 * 10**6 + 4999
    assert len(hostcopy._pool_host.slabs) == 3 and int(b[0][0]) == 10**6 and int(c[0][0]) == 2 * 10**6
    del b, d
    assert hostcopy.empty_pool() > 0 and len(hostcopy._pool_host.slabs) == 1     # c's slab is still in use
    assert int(c[0][-1]) == 2 * 10**6 + 4999
    monkeypatch.setattr(hostcopy, "POOL_BYTES", 0)  # nothing more kept: a dropped result's memory is freed
    monkeypatch.setattr(hostcopy, "_pool_host", hostcopy._HostPool())
    e = weakref.ref(slab(run(0)))
    assert e() is None and not hostcopy._pool_host.slabs


def _sink_run(n: int, offset: int, parts: int = 1, expect: int | None = None, mode: str = "direct"):
    """``n`` events ``t = offset + 0..n-1`` through an :class:`EventSink` in ``parts`` parts: ``(result, paths used)``."""
    t = torch.arange(n, dtype=torch.int64) + offset
    xy, p = (t % 7).to(torch.int16), torch.ones(n, dtype=torch.int8)
    sink = hostcopy.EventSink(7, mode=mode)
    for k in range(parts):
        a, b = k * n // parts, (k + 1) * n // parts
        sink.submit(t[a:b], xy[a:b], xy[a:b], p[a:b], expect_total=n if expect is None else expect)
    res = sink.result()
    np.testing.assert_array_equal(res[0], t.numpy())
    np.testing.assert_array_equal(res[1], (t % 7).numpy())
    return res, sink.used


def test_direct_slabs_are_bounded_reused_and_fall_back_to_staged(monkeypatch):
    """The direct path's pinned slabs: at most PINNED_SLABS / PINNED_BYTES, reused once free, too-small free ones
    replaced; with none free (a caller keeping its results) the staged path into pageable memory."""
    pool = hostcopy._HostPool()
    monkeypatch.setattr(hostcopy, "_pool_host", pool)
    monkeypatch.setattr(hostcopy, "PINNED_SLABS", 2)
    monkeypatch.setattr(hostcopy, "PINNED_BYTES", 1 << 20)

    run = _sink_run

    def pinned(res) -> bool:
        return any(res[0].base is s for s in pool.pinned)

    a, used = run(5000, 0)
    assert used == ["direct"] and pinned(a) and a[0].base.nbytes == 65536          # 65,000 bytes -> a power of two
    b, used = run(5000, 10**6)
    assert used == ["direct"] and pinned(b) and a[0].base is not b[0].base
    c, used = run(5000, 2 * 10**6)                   # both pinned slabs in use: staged into pageable memory
    assert used == ["staged"] and not pinned(c) and len(pool.pinned) == 2
    base_a = weakref.ref(a[0].base)
    del a
    d, used = run(5000, 3 * 10**6)                   # a's slab is free again: reused
    assert used == ["direct"] and d[0].base is base_a() and int(b[0][0]) == 10**6
    del b
    e, used = run(20000, 0)                          # b's free slab is too small: replaced by a larger one
    assert used == ["direct"] and e[0].base.nbytes == 1 << 18 and len(pool.pinned) == 2
    del d
    f, used = run(100000, 0)                         # 1.3 MB: over PINNED_BYTES; the free slab is kept
    assert used == ["staged"] and len(pool.pinned) == 2 and any(s is base_a() for s in pool.pinned)
    g = e[2][:10]                                    # a view keeps e's slab in use
    del e, f
    assert hostcopy.empty_pool() > 0 and len(pool.pinned) == 1 and g.base is pool.pinned[0]
    del g
    assert hostcopy.empty_pool() == 1 << 18 and not pool.pinned
    # parts beyond the room reserved: the sink grows into larger pinned slabs, the events so far move over
    g, used = run(3000, 0, parts=3, expect=1000)
    assert used == ["direct"] * 3 and pinned(g) and g[0].base.nbytes == 65536
    del g
    hostcopy.empty_pool()
    # one pinned slab at most: the second part cannot grow into another (it is staged into pageable memory); the
    # third grows again, into a new pinned slab that replaces the first (free by then)
    monkeypatch.setattr(hostcopy, "PINNED_SLABS", 1)
    h, used = run(3000, 0, parts=3, expect=1000)
    assert used == ["direct", "staged", "direct"] and pinned(h) and len(pool.pinned) == 1
    del h
    assert hostcopy.empty_pool() > 0 and not pool.pinned
    monkeypatch.setattr(hostcopy, "PINNED_SLABS", 0)  # none at all: every call staged
    assert run(100, 0)[1] == ["staged"]
    monkeypatch.setattr(hostcopy, "PINNED_SLABS", 2)

    def refuse(size: int):
        raise RuntimeError("CUDA error: out of memory (pinned)")

    monkeypatch.setattr(hostcopy, "_alloc_pinned", refuse)    # pinned memory refused: staged, nothing kept
    assert run(100, 0)[1] == ["staged"] and not pool.pinned


def test_launch_plan_for_streamed_output():
    sim = Simulator(SimConfig(), 2, 2)
    for frames in (1, 63, 64, 100, 129, 255, 1000, 3001):
        for streamed in (False, True):
            plan = sim._launch_plan(frames, streamed)
            assert sum(plan) == frames and min(plan) > 0 and max(plan) <= sim_mod.TRITON_CHUNK, (frames, streamed, plan)
    assert sim._launch_plan(100, streamed=True) == [42, 42, 16] and sim._launch_plan(100, streamed=False) == [100]
    assert sim._launch_plan(3001, streamed=True)[-1] == 64 and len(sim._launch_plan(3001, streamed=True)) == 13
    assert sim._launch_plan(63, streamed=True) == [63]


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_output_torch_holds_the_same_events(backend):
    if backend == "numba" and not sim_mod.numba_available():
        pytest.skip("numba not installed")
    fr, ts = sliding_texture(6, 8, 0.03, 1000, speed_px_s=250.0)
    cfg = SimConfig(threshold_sigma=0.03, refractory=1e-4, leak_rate=5.0, shot_rate=20.0, seed=3)
    ev = Simulator(cfg, 6, 8).run(fr, ts, backend=backend)
    et = Simulator(cfg, 6, 8).run(fr, ts, backend=backend, output="torch")
    assert isinstance(et, EventTensors) and len(et) == len(ev) > 50
    assert (et.t.dtype, et.x.dtype, et.p.dtype, et.device.type) == (torch.int64, torch.int16, torch.int8, "cpu")
    assert et.numpy().equals(ev) and (et.height, et.width) == (6, 8)
    assert EventTensors.from_events(ev).numpy().equals(ev)
    empty = simulate(torch.ones(3, 2, 2), [0.0, 0.01, 0.02], SimConfig(), output="torch", backend="torch")
    assert len(empty) == 0 and empty.t.dtype == torch.int64
    with pytest.raises(InputError, match="output"):
        simulate(fr, ts, cfg, output="cupy")


def test_phase_timer_on_cpu():
    fr, ts = sliding_texture(4, 5, 0.01, 1000, speed_px_s=250.0)
    sim = Simulator(SimConfig(shot_rate=10.0), 4, 5)
    sim.timer = sim_mod.PhaseTimer()
    sim.run(fr, ts, backend="torch")
    summ = sim.timer.summary()
    assert {"input", "pixels", "events"} <= set(summ) and all(v["host_ms"] >= 0 for v in summ.values())
    assert summ["pixels"]["host_ms"] > summ["input"]["host_ms"]


def test_cuda_output_paths(device):
    if device.type != "cuda":
        pytest.skip("runs with --device cuda")
    pytest.importorskip("triton")
    fr, ts = sliding_texture(30, 50, 0.08, 1000, speed_px_s=200.0)
    fr = fr.cuda()
    cfg = SimConfig(threshold_sigma=0.03, refractory=1e-4, leak_rate=1.0, shot_rate=5.0)
    a = Simulator(cfg, 30, 50, "cuda").run(fr, ts, backend="triton")
    b = Simulator(cfg, 30, 50, "cuda").run(fr, ts, backend="triton", output="torch")
    assert b.device.type == "cuda" and len(a) > 2000 and b.numpy().equals(a)
    old = sim_mod.TRITON_CHUNK
    try:                 # 16-frame launches merged on the device: the events of one launch
        sim_mod.TRITON_CHUNK = 16
        c = Simulator(cfg, 30, 50, "cuda").run(fr, ts, backend="triton")
    finally:
        sim_mod.TRITON_CHUNK = old
    assert c.equals(a)
    cfg = SimConfig(threshold_sigma=0.03, refractory=1e-4, leak_rate=1.0)        # no shot noise: streamed to the host
    a = Simulator(cfg, 30, 50, "cuda").run(fr, ts, backend="triton", output="torch").numpy()
    for mode, launches in (("direct", 4), ("staged", 4), ("pageable", 4), ("direct", 1)):
        old = hostcopy.HOST_COPY, sim_mod.STREAM_MIN_LAUNCHES
        try:
            hostcopy.HOST_COPY, sim_mod.STREAM_MIN_LAUNCHES = mode, launches
            sim = Simulator(cfg, 30, 50, "cuda")
            c = sim.run(fr, ts, backend="triton")
            parts = len(sim._launch_plan(fr.shape[0] - 1, streamed=True))
        finally:
            hostcopy.HOST_COPY, sim_mod.STREAM_MIN_LAUNCHES = old
        assert c.equals(a) and len(a) > 2000, (mode, launches)
        assert sim.last_host_paths == [mode] * parts and parts == (3 if launches > 1 else 1), (sim.last_host_paths, parts)
    # a caller that keeps every result: the first two land in the pinned slabs (DMA'd straight in), the rest take
    # the staged path into pageable memory; each is what the device output holds
    pool, old = hostcopy._HostPool(), (hostcopy._pool_host, hostcopy.HOST_COPY, hostcopy.PINNED_SLABS)
    try:
        hostcopy._pool_host, hostcopy.HOST_COPY, hostcopy.PINNED_SLABS = pool, "direct", 2
        keep, ref = Simulator(cfg, 30, 50, "cuda"), Simulator(cfg, 30, 50, "cuda")
        kept = [keep.run(fr[k:k + 16], ts[k:k + 16], backend="triton") for k in range(0, 64, 16)]
        refs = [ref.run(fr[k:k + 16], ts[k:k + 16], backend="triton", output="torch").numpy() for k in range(0, 64, 16)]
        where = [any(ev.t.base is s for s in pool.pinned) for ev in kept]
        assert where == [True, True, False, False] and torch.from_numpy(kept[0].t).is_pinned(), where
        assert all(a.equals(b) and len(a) > 200 for a, b in zip(kept, refs, strict=True))
        del kept[0]                                   # its slab is free again: the next result is DMA'd into it
        nxt = keep.run(fr[64:], ts[64:], backend="triton")
        assert any(nxt.t.base is s for s in pool.pinned)
        assert nxt.equals(ref.run(fr[64:], ts[64:], backend="triton", output="torch").numpy()) and len(nxt) > 200
    finally:
        hostcopy._pool_host, hostcopy.HOST_COPY, hostcopy.PINNED_SLABS = old
    for shot, phases in ((0.0, {"kernel", "sort", "copy", "events"}), (5.0, {"kernel", "sort", "merge", "copy", "events"})):
        sim = Simulator(SimConfig(shot_rate=shot), 30, 50, "cuda")      # streamed (no merge phase) / merged on the device
        sim.timer = sim_mod.PhaseTimer()
        sim.run(fr, ts, backend="triton")
        summ = sim.timer.summary()
        assert phases <= set(summ) and ("merge" in summ) == (shot > 0) and summ["kernel"]["gpu_ms"] > 0, summ


def test_misaligned_fields_are_refused_by_both_containers():
    from sigkit.events.stream import Events

    with pytest.raises(InputError, match="Events: field 'p' has 1 entries but t has 2"):
        Events(np.array([1, 2]), np.zeros(2, np.int16), np.zeros(2, np.int16), np.ones(1, np.int8))
    with pytest.raises(InputError, match="EventTensors: field 'x' has 3 entries but t has 2"):
        EventTensors(torch.tensor([1, 2]), torch.zeros(3, dtype=torch.int16), torch.zeros(2, dtype=torch.int16),
                     torch.ones(2, dtype=torch.int8))
