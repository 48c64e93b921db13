"""Device events -> numpy arrays on the host, copied while the GPU works on the next chunk.

The Triton back end sorts each chunk's events on the device.  :class:`EventSink` takes those sorted
parts one by one and copies them into the result's own numpy arrays, without the caller's thread waiting:

* ``mode="direct"`` (default): the result's arrays are views of a slab of *pinned* host memory from a pool
  (:class:`_HostPool`: at most :data:`PINNED_SLABS` slabs and :data:`PINNED_BYTES` bytes, allocated once
  and reused once no result refers to a slab), and each part's four fields are DMA'd straight into it on a
  side CUDA stream, issued from the submitting thread (four ``copy_`` per part, ordered after the part's
  device work by a CUDA event): no host memcpy and no helper threads, so the device -> host copy of chunk
  ``k`` overlaps the kernel of chunk ``k + 1`` and nothing competes with the simulator's thread for the GIL.
  When no pinned slab is free and the limits leave no room for another (a caller that keeps its results),
  the sink takes the ``"staged"`` path below; CPU parts are copied at once (pinned slabs are ordinary
  memory where CUDA is not available);
* ``mode="staged"``: a *feeder* thread cuts a part into pieces of at most :data:`PIECE_EVENTS` events and
  copies each piece's four fields device -> host on a side CUDA stream into a slot of a fixed ring of
  pinned memory (:func:`staging_ring`, allocated once per process); *copier* threads wait for the piece's
  CUDA event and ``np.copyto`` the slot into the result arrays (ordinary pageable memory from the pool),
  then free the slot;
* ``mode="pageable"``: the feeder copies each part straight into pageable result arrays (the driver stages
  pageable copies itself), one ``copy_`` per field.

A part is ``(t_us int64, x int16, y int16, p int8)``, 13 bytes per event — the size of the result's own
fields, so nothing is copied that the result does not keep.  The result arrays are views of one host
slab with room for the expected events, grown if a part does not fit (the events so far move over).  Slabs
come from the pool (pageable ones up to :data:`POOL_BYTES`; :func:`empty_pool` frees what no result uses):
a slab that no result refers to any more is reused, so a caller that drops each result before the
next-but-one gets memory that is already paged in (and, for ``"direct"``, already pinned); a caller that
keeps its results gets fresh pageable memory each time once the pinned slabs are all in use (its first
touch, a page fault per 4 KiB, happens in the copier threads).
Parts follow each other in time and are each sorted by (microsecond, pixel); events of one microsecond on
both sides of a seam are put in pixel order at the end (:func:`fix_seams`), so the result is what one
stable sort of all parts by ``t_us * (H W) + pixel`` gives.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import torch

__all__ = ["EventSink", "staging_ring", "fix_seams", "PIECE_EVENTS", "RING_SLOTS", "HOST_COPY", "POOL_BYTES", "PINNED_BYTES",
           "PINNED_SLABS", "empty_pool"]

#: events per staged piece (13 bytes each: 3.4 MB of pinned memory per ring slot)
PIECE_EVENTS = 1 << 18
#: slots of the pinned ring (copies in flight at once)
RING_SLOTS = 8
#: host memory (bytes) kept to be reused by later results once no result refers to it (0: every result fresh;
#: :func:`empty_pool` gives back what no result uses)
POOL_BYTES = 4 << 30
#: pinned result slabs kept at most (``"direct"`` copies; two: a caller's last result and the one being made)
PINNED_SLABS = 2
#: pinned result bytes kept at most (slabs are powers of two: torch's caching host allocator rounds to them)
PINNED_BYTES = 1 << 30
#: how :class:`EventSink` copies by default: ``"direct"`` (DMA into a pinned result slab; ``"staged"`` when none is
#: free), ``"staged"`` (pinned ring + copier threads into pageable results) or ``"pageable"``
HOST_COPY = "direct"
_MODES = ("direct", "staged", "pageable")
_FIELDS = ((np.int64, torch.int64, 8), (np.int16, torch.int16, 2), (np.int16, torch.int16, 2), (np.int8, torch.int8, 1))
_BYTES = sum(f[2] for f in _FIELDS)


class _Ring:
    """``slots`` host buffers of ``13 * piece`` bytes (pinned where CUDA is available) and a queue of free ones."""

    def __init__(self, slots: int, piece: int) -> None:
        self.piece = piece
        row = -(-_BYTES * piece // 64) * 64                 # rows 64-byte aligned (the int64 field first)
        self.buf = torch.empty(slots, row, dtype=torch.uint8, pin_memory=torch.cuda.is_available())
        self.free: queue.Queue[int] = queue.Queue()
        for i in range(slots):
            self.free.put(i)

    def views(self, slot: int, m: int) -> tuple[list[torch.Tensor], list[np.ndarray]]:
        """The slot's four field regions for ``m`` events, as tensors (copy targets) and numpy views."""
        out_t = _fields(self.buf[slot], self.piece, m, tensors=True)
        return out_t, [seg.numpy() for seg in out_t]


_lock = threading.Lock()
_ring: _Ring | None = None
_pools: dict[str, ThreadPoolExecutor] = {}
_streams: dict[int, torch.cuda.Stream] = {}


def staging_ring() -> _Ring:
    """The process's pinned staging ring (:data:`RING_SLOTS` x :data:`PIECE_EVENTS` events), made on first use.

    >>> r = staging_ring(); r.buf.shape[0] == RING_SLOTS and r.piece == PIECE_EVENTS
    True
    """
    global _ring
    with _lock:
        if _ring is None or _ring.piece != PIECE_EVENTS or _ring.buf.shape[0] != RING_SLOTS:
            _ring = _Ring(RING_SLOTS, PIECE_EVENTS)
        return _ring


def _pool(name: str) -> ThreadPoolExecutor:
    with _lock:
        if name not in _pools:
            n = 1 if name == "feeder" else max(1, min(4, (os.cpu_count() or 2) // 2))
            _pools[name] = ThreadPoolExecutor(n, thread_name_prefix=f"sigkit-events-{name}")
        return _pools[name]


def _copy_stream(device: torch.device) -> torch.cuda.Stream:
    """The side CUDA stream (one per device, made on first use) that :class:`EventSink` copies on."""
    idx = device.index if device.index is not None else torch.cuda.current_device()
    with _lock:
        if idx not in _streams:
            _streams[idx] = torch.cuda.Stream(device=idx)
        return _streams[idx]


def _refs(slabs: list, i: int) -> int:
    return sys.getrefcount(slabs[i])


#: what :func:`_refs` gives for a slab that only the pool holds (measured, so it holds on any CPython version)
_FREE_REFS = _refs([np.empty(1)], 0)


class _HostPool:
    """Host memory for results, reused once no result refers to it any more (a caching allocator for the result
    arrays: without it every large result is fresh memory whose first touch costs a page fault per 4 KiB, and a
    pinned one costs ~0.5 ms per MB to allocate: ~140 ms for the 256 MB slab of a 1-s clip at 346x260 on an H200).

    Slabs are 1-D uint8 arrays, pageable (``slabs``) or pinned (``pinned``: numpy views of pinned torch tensors,
    ordinary memory where CUDA is not available); the result's arrays are views of one slab, and numpy views
    keep a reference to the array that owns the memory, so a slab is free exactly when the pool holds its only
    reference.  At most :data:`POOL_BYTES` pageable bytes are kept (beyond that results get memory of their
    own); at most :data:`PINNED_SLABS` pinned slabs and :data:`PINNED_BYTES` pinned bytes exist (beyond that
    :meth:`take` gives none).  A new pinned slab is allocated by the call that needs it, which pays for it
    (allocating it in a background thread was measured no better: the caller's CUDA calls waited meanwhile)."""

    def __init__(self) -> None:
        self.slabs: list[np.ndarray] = []
        self.pinned: list[np.ndarray] = []
        self.lock = threading.Lock()

    def take(self, need: int, size: int, pinned: bool = False) -> np.ndarray | None:
        """A slab of at least ``need`` bytes: the smallest free pooled one, else a new one of ``size`` bytes
        (pinned: the next power of two, which torch's pinned allocator takes anyway); free slabs too small are
        dropped to make room.  Pinned: None if the limits leave no room or the allocation is refused."""
        with self.lock:
            slabs = self.pinned if pinned else self.slabs
            free = [i for i in range(len(slabs)) if _refs(slabs, i) == _FREE_REFS]
            fits = [i for i in free if slabs[i].nbytes >= need]
            if fits:
                return slabs[min(fits, key=lambda i: slabs[i].nbytes)]
            size = max(need, size)
            if pinned:
                size = 1 << (size - 1).bit_length()
                busy = sum(s.nbytes for s in slabs) - sum(slabs[i].nbytes for i in free)
                if size > PINNED_BYTES - busy or len(slabs) - len(free) >= PINNED_SLABS:
                    return None                        # (the free slabs are kept: dropping them would not make room)
            limit, most = (PINNED_BYTES, PINNED_SLABS) if pinned else (POOL_BYTES, None)
            kept = sum(s.nbytes for s in slabs)
            for i in sorted(free, reverse=True):       # free slabs too small: make room for the new one
                if kept + size <= limit and (most is None or len(slabs) < most):
                    break
                kept -= slabs.pop(i).nbytes
            if not pinned:
                slab = np.empty(size, np.uint8)
                if kept + size <= limit:
                    slabs.append(slab)
                return slab
            try:
                slab = _alloc_pinned(size)
            except RuntimeError:                       # pinned memory refused (e.g. a locked-memory limit): staged
                return None
            slabs.append(slab)
            return slab


def _alloc_pinned(size: int) -> np.ndarray:
    """``size`` bytes of pinned host memory (ordinary memory where CUDA is not available) as a numpy array whose
    ``base`` is the torch tensor that owns it."""
    return torch.empty(size, dtype=torch.uint8, pin_memory=torch.cuda.is_available()).numpy()


_pool_host = _HostPool()


def empty_pool() -> int:
    """Give back the pooled result memory that no result refers to any more; returns the bytes released
    (pinned slabs go back to the driver through torch's caching host allocator, which synchronises the device).

    >>> empty_pool() >= 0
    True
    """
    pool = _pool_host
    with pool.lock:
        gone = 0
        for slabs in (pool.slabs, pool.pinned):
            free = [i for i in range(len(slabs)) if _refs(slabs, i) == _FREE_REFS]
            gone += sum(slabs.pop(i).nbytes for i in sorted(free, reverse=True))
            if slabs is pool.pinned and free and torch.cuda.is_available() and hasattr(torch._C, "_host_emptyCache"):
                torch._C._host_emptyCache()
        return gone


def _fields(buf, cap: int, n: int | None = None, tensors: bool = False) -> list:
    """The four fields (t int64, x int16, y int16, p int8) laid out one after another in ``buf`` (a uint8 numpy
    array or tensor), each with room for ``cap`` events: views of their first ``n`` (default ``cap``) events, as
    numpy arrays or, with ``tensors``, as tensors."""
    n = cap if n is None else n
    out, off = [], 0
    for ndt, tdt, size in _FIELDS:
        out.append(buf[off:off + size * n].view(tdt if tensors else ndt))
        off += size * cap
    return out


def _field_tensors(slab: np.ndarray, cap: int) -> list[torch.Tensor]:
    """:func:`_fields` as tensors (copy targets): views of the pinned tensor behind ``slab`` where there is one
    (so torch sees pinned memory), else of the numpy memory."""
    return _fields(slab.base if isinstance(slab.base, torch.Tensor) else torch.from_numpy(slab), cap, tensors=True)


def fix_seams(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, bounds, width: int) -> tuple:
    """Join consecutive parts, each sorted by (``t`` microsecond, pixel ``y * width + x``), into one such order.

    ``bounds``: the indices where a part starts.  Parts follow each other in time, so normally only events of
    one microsecond on both sides of a seam can be out of pixel order: those runs are re-sorted stably, in place;
    if a seam goes back in time, all events are sorted (stably).  Returns ``(t, x, y, p)``.

    >>> t, x = np.array([5, 7, 7, 7, 9]), np.array([0, 3, 1, 2, 0], np.int16)
    >>> y, p = np.zeros(5, np.int16), np.array([1, -1, 1, 1, -1], np.int8)
    >>> _, x2, _, p2 = fix_seams(t, x, y, p, [2], width=4)      # parts [5, 7 (x=3)] and [7, 7, 9]
    >>> x2.tolist(), p2.tolist()
    ([0, 1, 2, 3, 0], [1, 1, 1, -1, -1])
    """
    n = len(t)
    seams = [b for b in bounds if 0 < b < n]
    if any(t[b - 1] > t[b] for b in seams):
        order = np.lexsort((y.astype(np.int64) * width + x, t))
        return t[order], x[order], y[order], p[order]
    for b in seams:
        if t[b - 1] == t[b]:
            lo, hi = np.searchsorted(t, t[b], "left"), np.searchsorted(t, t[b], "right")
            o = lo + np.argsort(y[lo:hi].astype(np.int64) * width + x[lo:hi], kind="stable")
            x[lo:hi], y[lo:hi], p[lo:hi] = x[o], y[o], p[o]
    return t, x, y, p


class EventSink:
    """Collects consecutive sorted parts of device events into numpy arrays, copying in the background.

    Args:
        width: sensor width (pixel index ``y * width + x`` orders events of one microsecond).
        mode: ``"direct"``, ``"staged"`` or ``"pageable"`` (module docstring); None: :data:`HOST_COPY`.

    Call :meth:`submit` for each part in time order (on the thread that made it, right after its device work
    was queued), then :meth:`result` once.  ``used`` lists the path each part took (``"direct"`` into a pinned
    slab, ``"staged"``, ``"pageable"``).

    >>> sink = EventSink(width=4)
    >>> sink.submit(torch.tensor([3, 8]), torch.tensor([1, 0], dtype=torch.int16),
    ...             torch.zeros(2, dtype=torch.int16), torch.tensor([1, -1], dtype=torch.int8))
    >>> sink.submit(torch.tensor([8, 9]), torch.tensor([0, 2], dtype=torch.int16),
    ...             torch.zeros(2, dtype=torch.int16), torch.tensor([1, 1], dtype=torch.int8))
    >>> [a.tolist() for a in sink.result()], sink.used
    ([[3, 8, 8, 9], [1, 0, 0, 2], [0, 0, 0, 0], [1, -1, 1, 1]], ['direct', 'direct'])
    """

    def __init__(self, width: int, mode: str | None = None) -> None:
        self.width, self.mode = int(width), mode or HOST_COPY
        if self.mode not in _MODES:
            raise ValueError(f"EventSink mode must be one of {_MODES}; got {self.mode!r}")
        self.dest: list[np.ndarray] = [np.zeros(0, f[0]) for f in _FIELDS]
        self._slab: np.ndarray | None = None
        self._dest_t: list[torch.Tensor] | None = None     # tensor views of a pinned slab (direct copies), else None
        self.n = 0
        self.bounds: list[int] = []
        self.used: list[str] = []
        self._feeds: list[Future] = []
        self._copies: list[Future] = []
        self._copies_lock = threading.Lock()
        self._done: list = []             # CUDA events after each direct copy
        self._alive: list = []            # device parts kept until their copies are done

    # ----------------------------------------------------------------- main thread
    def submit(self, t: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, expect_total: int = 0) -> None:
        """Queue the copy of one sorted part (``(n,)`` tensors on one device); returns at once.

        ``expect_total``: the events expected over all parts (room is reserved for them)."""
        n = int(t.numel())
        if not n:
            return
        need = self.n + n
        if need > len(self.dest[0]):
            want = max(need, int(expect_total), int(1.5 * len(self.dest[0])))
            self._grow(max(need, int(0.8 * want)), want)
        off = self.n
        self.bounds.append(off)
        self.n = need
        part = (t, x, y, p)
        if self._dest_t is not None:
            self._direct(part, off)
            return
        ready = None
        if t.is_cuda:
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(t.device))
        self._alive.append(part)
        dest = list(self.dest)
        mode = "pageable" if self.mode == "pageable" else "staged"
        self.used.append(mode)
        self._feeds.append(_pool("feeder").submit(self._feed, part, ready, dest, off, mode))

    def _direct(self, part, off: int) -> None:
        """Copy ``part`` into the pinned slab at ``off``: on the side stream after the part's device work (CUDA),
        at once (CPU)."""
        n = int(part[0].numel())
        self.used.append("direct")
        if not part[0].is_cuda:
            for src, d in zip(part, self._dest_t, strict=True):
                d[off:off + n].copy_(src)
            return
        dev = part[0].device
        stream = _copy_stream(dev)
        stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(stream):
            for src, d in zip(part, self._dest_t, strict=True):
                d[off:off + n].copy_(src, non_blocking=True)
        done = torch.cuda.Event()
        done.record(stream)
        self._done.append(done)
        self._alive.append(part)

    def _grow(self, need: int, want: int) -> None:
        """Room for at least ``need`` events: a free slab of the host pool that holds them (a pinned one in
        ``"direct"`` mode if one is free or the limits allow a new one), else a new one for ``want`` events (a
        little more than a pooled slab must hold, so the next call of similar size reuses it); the events copied
        so far move over."""
        self._wait()
        slab = _pool_host.take(_BYTES * need, _BYTES * want, pinned=True) if self.mode == "direct" else None
        pinned = slab is not None
        if slab is None:
            slab = _pool_host.take(_BYTES * need, _BYTES * want)
        cap = slab.nbytes // _BYTES
        new = _fields(slab, cap)
        for a, b in zip(new, self.dest, strict=True):
            a[:self.n] = b[:self.n]
        self.dest, self._slab = new, slab
        self._dest_t = _field_tensors(slab, cap) if pinned else None

    def _wait(self) -> None:
        for ev in self._done:
            ev.synchronize()
        for f in self._feeds:
            f.result()
        with self._copies_lock:
            copies = list(self._copies)
        for f in copies:
            f.result()

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Wait for every copy; the events ``(t int64 us, x int16, y int16, p int8)`` in one sorted order."""
        self._wait()
        self._alive.clear()
        out = [a[:self.n] for a in self.dest]
        self.dest, self._slab, self._dest_t = [], None, None   # the result's views are now the only holders of the slab
        return fix_seams(*out, self.bounds, self.width)

    # ----------------------------------------------------------------- worker threads
    def _feed(self, part, ready, dest, off: int, mode: str) -> None:
        dev = part[0].device
        stream = _copy_stream(dev) if part[0].is_cuda else None
        if stream is not None:
            stream.wait_event(ready)
        n = part[0].numel()
        if mode == "pageable":
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                for src, d in zip(part, dest, strict=True):
                    torch.from_numpy(d[off:off + n]).copy_(src)
            return
        ring = staging_ring()
        for a in range(0, n, ring.piece):
            b = min(n, a + ring.piece)
            slot = ring.free.get()
            try:
                tens, arrs = ring.views(slot, b - a)
                done = None
                with torch.cuda.stream(stream) if stream is not None else nullcontext():
                    for src, seg in zip(part, tens, strict=True):
                        seg.copy_(src[a:b], non_blocking=stream is not None)
                    if stream is not None:
                        done = torch.cuda.Event()
                        done.record(stream)
                fut = _pool("copier").submit(self._unstage, ring, slot, done, arrs, dest, off + a, off + b)
            except BaseException:
                ring.free.put(slot)
                raise
            with self._copies_lock:
                self._copies.append(fut)

    @staticmethod
    def _unstage(ring: _Ring, slot: int, done, arrs: list[np.ndarray], dest: list[np.ndarray], a: int, b: int) -> None:
        try:
            if done is not None:
                done.synchronize()
            for src, d in zip(arrs, dest, strict=True):
                np.copyto(d[a:b], src)
        finally:
            ring.free.put(slot)

