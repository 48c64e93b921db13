"""Fused event simulation in Triton: each program owns a block of pixels and walks *all* frames of a
chunk in registers — bandwidth cascade, adaptive sub-steps, exact crossings, refractory and leak —
writing each event as one int64 key ``t_us * N + pixel`` (plus its polarity) into slabs of slots that a
program claims with one atomic each, so that one device sort orders a chunk's events.  One launch per
chunk replaces the reference's per-frame, per-round torch ops (whose launch overhead, not arithmetic,
bounds :mod:`sigkit.events.simulate`).  The state is read from one buffer and written to another, so a
chunk whose events overflow the buffer is simply rerun.

Reference: :class:`sigkit.events.simulate.Simulator` (same equations, same state, the same per-pixel
adaptive sub-steps), so both give the same events up to float32 rounding.  Shot noise does not
interact with the pixel state and is drawn in torch by the caller.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

__all__ = ["simulate_chunk", "decode_sorted", "KernelState", "STATE_ROWS", "LAST_COMPILE"]

#: Triton's interpreter (CPU tests) has no libdevice: the fast sine/cosine only in compiled kernels
_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

#: registers and spills of the last compiled kernel launched (``bench/events_sim.py --profile`` prints them)
LAST_COMPILE: dict = {}


@triton.jit
def _decay(z):
    return tl.exp(-tl.minimum(z, 80.0))


@triton.jit
def _foh1(y0, x0, x1, w, h, W_INF: tl.constexpr):
    if W_INF:
        return x1
    wh = w * h
    a = _decay(wh)
    g = tl.where(wh > 1e-3, (1.0 - a) / tl.maximum(wh, 1e-30), 1.0 - wh * 0.5 + wh * wh / 6.0)
    return a * y0 + (g - a) * x0 + (1.0 - g) * x1


@triton.jit
def _hermite1(y0, x0, x1, dx0, dx1, w, h, rh, W_INF: tl.constexpr):
    """First-order low-pass ``y' = w (x - y)`` over ``h`` for the cubic Hermite input through ``(x0, dx0)``
    and ``(x1, dx1)`` (``rh = 1 / h``): exact particular solution plus the decayed homogeneous part."""
    if W_INF:
        return x1
    rw = 1.0 / w
    a2 = (3.0 * (x1 - x0) * rh - 2.0 * dx0 - dx1) * rh
    a3 = (2.0 * (x0 - x1) * rh + dx0 + dx1) * (rh * rh)
    c3 = 6.0 * a3 * (rw * rw * rw)
    yp0 = x0 - dx0 * rw + 2.0 * a2 * (rw * rw) - c3
    yp1 = x1 - dx1 * rw + (2.0 * a2 + 6.0 * a3 * h) * (rw * rw) - c3
    yh = yp1 + (y0 - yp0) * _decay(w * h)
    # short steps (w h < 0.1, where the particular solution cancels) take the first-order hold instead; only
    # computed when a pixel of the block needs it (DVS128 nominal at 1 kHz: w h >= 3 for every sub-step)
    if tl.max((w * h < 0.1).to(tl.int32), axis=0) > 0:       # (an integer reduction: one REDUX instruction)
        yh = tl.where(w * h >= 0.1, yh, _foh1(y0, x0, x1, w, h, False))
    return yh


@triton.jit
def _cos_sin(x, FAST: tl.constexpr):
    """``(cos x, sin x)``.  ``FAST``: the hardware's approximate sine and cosine after reducing ``x`` to
    ``[-pi, pi]`` (absolute error ~1e-6: no slow-path range reduction, no local memory); else libm's."""
    if FAST:
        xr = x - 6.283185307179586 * tl.floor(x * 0.15915494309189535 + 0.5)
        return libdevice.fast_cosf(xr), libdevice.fast_sinf(xr)
    return tl.cos(x), tl.sin(x)


@triton.jit
def _log(x, FAST: tl.constexpr):
    """Natural log; ``FAST``: the hardware's ``lg2.approx`` (absolute error ~1e-7 near 1, a few ulp elsewhere),
    where the exact one is a ~30-instruction polynomial; else ``tl.log`` (Triton's interpreter has no libdevice)."""
    if FAST:
        return libdevice.fast_logf(x)
    return tl.log(x)


@triton.jit
def _crossing_f(A, B, cc, s0, x, w, RESET: tl.constexpr):
    if RESET:
        return A + B * x + cc * (1.0 - _decay(w * (x + s0)))
    return A + B * x


@triton.jit
def _illinois(A, B, cc, s0, w_d, lo, hi, level, up, need):
    """Where ``need``: the first ``x`` in ``[lo, hi]`` (a monotone piece of the reset-transient change signal)
    with ``f(x) = level``, by Illinois false position; returns the bracket's far end.  12 steps at most,
    fewer once every bracket of the block is under 2 ns (the further steps would move it by less)."""
    a_ = lo
    b_ = hi
    fa = _crossing_f(A, B, cc, s0, a_, w_d, True) - level
    fb = _crossing_f(A, B, cc, s0, b_, w_d, True) - level
    side = 0.0 * fa
    it = 0
    busy = tl.max(tl.where(need, b_ - a_, 0.0), axis=0) > 2e-9
    while busy:
        den = fb - fa
        xm = tl.where(den != 0, (a_ * fb - b_ * fa) / tl.where(den != 0, den, 1.0), b_)
        xm = tl.minimum(tl.maximum(xm, a_), b_)
        fx = _crossing_f(A, B, cc, s0, xm, w_d, True) - level
        beyond = tl.where(up, fx >= 0, fx <= 0) & need
        inside = ~beyond & need
        b_ = tl.where(beyond, xm, b_)
        fb = tl.where(beyond, fx, fb)
        fa = tl.where(beyond & (side > 0), fa * 0.5, fa)
        a_ = tl.where(inside, xm, a_)
        fa = tl.where(inside, fx, fa)
        fb = tl.where(inside & (side < 0), fb * 0.5, fb)
        side = tl.where(beyond, 1.0, tl.where(inside, -1.0, side))
        it += 1
        busy = (it < 12) & (tl.max(tl.where(need, b_ - a_, 0.0), axis=0) > 2e-9)
    return b_


@triton.jit
def _rint64(x):
    """Round half to even (as ``torch.round``) of a float64 tensor, exact below 2**52."""
    r = tl.floor(x + 0.5)
    odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
    return tl.where(((r - x) == 0.5) & odd, r - 1.0, r)


@triton.jit(do_not_specialize=["T", "N", "cap"])      # one compile for every clip length, size and buffer
def _events_kernel(U, TS, CON, COFF, GLEAK, S_IN, S_OUT, TREF_IN, TREF_OUT, PEND_IN, PEND_OUT,
                   OUT_K, OUT_P, COUNT, PARAMS, T, N, cap,
                   BANDWIDTH: tl.constexpr, PR_MODE: tl.constexpr, SF_INF: tl.constexpr,
                   DIFF_INF: tl.constexpr, RESET: tl.constexpr, BLOCK: tl.constexpr, SLAB: tl.constexpr,
                   FAST: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    ok = offs < N
    # scalar parameters (float64 tensor, cast where used)
    black = tl.load(PARAMS + 0).to(tl.float32)
    ip = tl.load(PARAMS + 1).to(tl.float32)
    dark = tl.load(PARAMS + 2).to(tl.float32)
    q_in = tl.load(PARAMS + 3).to(tl.float32)
    q_mil = tl.load(PARAMS + 4).to(tl.float32)
    a_amp = tl.load(PARAMS + 5).to(tl.float32)
    a_loop = tl.load(PARAMS + 6).to(tl.float32)
    tau_out = tl.load(PARAMS + 7).to(tl.float32)
    w_sf = tl.load(PARAMS + 8).to(tl.float32)
    w_d = tl.load(PARAMS + 9).to(tl.float32)
    refr = tl.load(PARAMS + 10)
    step_c = tl.load(PARAMS + 11).to(tl.float32)          # substep_fraction * min threshold
    max_sub = tl.load(PARAMS + 12).to(tl.int32)
    min_rate = tl.load(PARAMS + 13).to(tl.float32)
    w_pr_lti = tl.load(PARAMS + 14).to(tl.float32)
    osc = tl.load(PARAMS + 15).to(tl.float32)
    lam = tl.load(PARAMS + 16).to(tl.float32)

    con = tl.load(CON + offs, mask=ok, other=1.0)
    coff = tl.load(COFF + offs, mask=ok, other=1.0)
    g = tl.load(GLEAK + offs, mask=ok, other=0.0)
    # state rows of S_IN (9, N): u, y_pr, v_pr, y_sf, y_diff, l_sf, l_diff, ref_d, ref_s
    u_cur = tl.load(S_IN + offs, mask=ok, other=0.0)
    if BANDWIDTH:
        y_pr = tl.load(S_IN + N + offs, mask=ok, other=0.0)
        v_pr = tl.load(S_IN + 2 * N + offs, mask=ok, other=0.0)
        y_sf = tl.load(S_IN + 3 * N + offs, mask=ok, other=0.0)
        y_d = tl.load(S_IN + 4 * N + offs, mask=ok, other=0.0)
    l_sf = tl.load(S_IN + 5 * N + offs, mask=ok, other=0.0)
    l_d = tl.load(S_IN + 6 * N + offs, mask=ok, other=0.0)
    ref_d = tl.load(S_IN + 7 * N + offs, mask=ok, other=0.0)
    ref_s = tl.load(S_IN + 8 * N + offs, mask=ok, other=0.0)
    t_ref = tl.load(TREF_IN + offs, mask=ok, other=float("inf"))
    pend = tl.load(PEND_IN + offs, mask=ok, other=0) != 0
    n_pix = N.to(tl.int64)
    # events go to slabs of SLAB slots claimed with one atomic each (not one atomic per round)
    cur = pid * 0                                         # next free slot of this program's slab
    lim = pid * 0                                         # end of the slab
    n_out = pid * 0                                       # events written by this program

    t_prev = tl.load(TS)
    u_next = tl.load(U + N + offs, mask=ok, other=0.0)
    for k in range(1, T):
        t_next = tl.load(TS + k)
        h_all = t_next - t_prev
        u0 = u_cur
        u1 = u_next
        if k + 1 < T:                                      # next frame's input, loaded a frame ahead
            u_next = tl.load(U + (k + 1) * N + offs, mask=ok, other=0.0)
        change = tl.abs(u1 - u0)
        if BANDWIDTH:
            change = tl.maximum(change, tl.abs(u0 - l_d))
            change = tl.maximum(change, tl.abs(v_pr) * h_all.to(tl.float32))
            # sub-steps short against the photoreceptor's ringing / time constant where the pixel moves
            if osc > 0:
                if PR_MODE == 3:
                    it1 = tl.maximum(tl.exp(u1) - black, 0.0)
                    cur1 = ip * it1 + dark
                    w_osc = tl.sqrt((a_loop + 1.0) * cur1 / ((q_in + q_mil) * tau_out))
                    moving = change > 0.05 * step_c / lam
                    change = tl.where(moving, tl.maximum(change, w_osc * h_all.to(tl.float32) / osc * step_c), change)
        # clamp in float before the int conversion (a huge change must give max_sub, as in the reference)
        n = tl.minimum(tl.ceil(change / step_c), max_sub.to(tl.float32)).to(tl.int32)
        n = tl.maximum(n, tl.ceil(h_all.to(tl.float32) * min_rate - 1e-9).to(tl.int32))
        n = tl.minimum(tl.maximum(n, 1), max_sub)
        n = tl.where(ok, n, 1)
        nmax = tl.max(n, axis=0)
        dt = h_all / n.to(tl.float64)                      # this pixel's sub-step (s)
        tb = t_prev + 0.0 * dt
        j = 0
        while j < nmax:
            act = ok & (j < n)
            last = j + 1 == n
            ta = tb
            tb = tl.where(last, t_next, t_prev + dt * (j + 1))
            h = (tb - ta).to(tl.float32)
            h = tl.where(act, h, 1.0)
            rh = 1.0 / h
            ub = tl.where(last, u1, u0 + (u1 - u0) * ((j + 1) / n.to(tl.float32)))
            ua = u_cur
            if BANDWIDTH:
                it = tl.maximum(tl.exp(ub) - black, 0.0)
                pr0 = y_pr
                dpr0 = v_pr
                if PR_MODE == 0:
                    npr = ub
                    nv = (ub - ua) * rh
                elif PR_MODE == 1 or PR_MODE == 2:
                    if PR_MODE == 1:
                        wp = w_pr_lti + 0.0 * ub
                    else:
                        cur_i = ip * it + dark
                        wp = (a_loop + 1.0) * cur_i / (q_in + (a_amp + 1.0) * q_mil)
                    npr = _foh1(y_pr, ua, ub, wp, h, False)
                    nv = wp * (ub - npr)
                else:
                    cur_i = ip * it + dark
                    # tau_in = q_in / I, tau_mil = q_mil / I: wn2 and sig with one division each
                    wn2 = (a_loop + 1.0) * cur_i / ((q_in + q_mil) * tau_out)
                    sig = 0.5 * (q_in + tau_out * cur_i + (a_amp + 1.0) * q_mil) / ((q_in + q_mil) * tau_out)
                    m = (ub - ua) * rh
                    lag = 2.0 * sig * m / wn2
                    d0 = y_pr - ua + lag
                    dv0 = v_pr - m
                    q = sig * sig - wn2
                    e = _decay(sig * h)
                    if tl.max((act & (q >= 0)).to(tl.int32), axis=0) > 0:     # some pixel overdamped (dark)
                        wdd = tl.sqrt(tl.maximum(-q, 0.0))
                        cw, sw = _cos_sin(wdd * h, FAST)
                        ec_u = e * cw
                        es_u = e * tl.where(wdd * h > 1e-6, sw / tl.maximum(wdd, 1e-30), h)
                        r = tl.sqrt(tl.maximum(q, 0.0))
                        slow = wn2 / (sig + r)
                        e1 = _decay(slow * h)
                        e2 = _decay((sig + r) * h)
                        ec_o = 0.5 * (e1 + e2)
                        es_o = tl.where(r * h > 1e-6, (e1 - e2) / tl.maximum(2.0 * r, 1e-30), h * e)
                        ec = tl.where(q < 0, ec_u, ec_o)
                        es = tl.where(q < 0, es_u, es_o)
                    else:                                                  # all underdamped (bright)
                        wdd = tl.sqrt(-q)
                        cw, sw = _cos_sin(wdd * h, FAST)
                        ec = e * cw
                        es = e * tl.where(wdd * h > 1e-6, sw / tl.maximum(wdd, 1e-30), h)
                    d1 = ec * d0 + es * (dv0 + sig * d0)
                    dv1 = ec * dv0 - es * (sig * dv0 + wn2 * d0)
                    npr = ub - lag + d1
                    nv = m + dv1
                sf0 = y_sf
                if SF_INF:
                    dsf0 = dpr0
                else:
                    dsf0 = w_sf * (pr0 - sf0)
                nsf = _hermite1(y_sf, pr0, npr, dpr0, nv, w_sf, h, rh, SF_INF)
                if SF_INF:
                    dsf1 = nv
                else:
                    dsf1 = w_sf * (npr - nsf)
                nd = _hermite1(y_d, sf0, nsf, dsf0, dsf1, w_d, h, rh, DIFF_INF)
                y_pr = tl.where(act, npr, y_pr)
                v_pr = tl.where(act, nv, v_pr)
                y_sf = tl.where(act, nsf, y_sf)
                y_d = tl.where(act, nd, y_d)
                sf_b = y_sf
                d_b = y_d
            else:
                sf_b = tl.where(act, ub, l_sf)
                d_b = tl.where(act, ub, l_d)
            # ---- crossings, one event per pixel per round
            md = (d_b - l_d) * rh
            ms = (sf_b - l_sf) * rh
            alive = act & (t_ref < tb)
            go = tl.max(alive.to(tl.int32), axis=0) > 0
            while go:
                cur_x = tl.maximum(t_ref - ta, 0.0).to(tl.float32)
                take = alive & pend
                ref_d = tl.where(take, l_d + md * cur_x, ref_d)
                ref_s = tl.where(take, l_sf + ms * cur_x, ref_s)
                pend = pend & ~take
                s0 = (ta - t_ref).to(tl.float32)
                if RESET:
                    cc = ref_d - ref_s
                else:
                    cc = 0.0 * ref_d
                B = md + g
                A = l_d - ref_d + g * s0
                if RESET:
                    ratio = -B / (cc * w_d)
                    # the change signal's critical point (a 1e-7 error of the log moves it by ~1e-12 s)
                    xs = -s0 - _log(tl.maximum(ratio, 1e-30), FAST) / w_d
                    has = (ratio > 0) & (xs == xs) & (tl.abs(xs) < float("inf"))
                    x1 = tl.where(has, tl.minimum(tl.maximum(xs, 0.0), h), h)
                    x1 = tl.maximum(x1, cur_x)
                else:
                    x1 = h
                f0 = _crossing_f(A, B, cc, s0, cur_x, w_d, RESET)
                f1 = _crossing_f(A, B, cc, s0, x1, w_d, RESET)
                f2 = _crossing_f(A, B, cc, s0, h, w_d, RESET)
                at0 = (f0 >= con) | (f0 <= -coff)
                seg1 = ~at0 & ((f1 >= con) | (f1 <= -coff))
                seg2 = ~at0 & ~seg1 & ((f2 >= con) | (f2 <= -coff))
                fired = alive & (at0 | seg1 | seg2)
                fired_i = fired.to(tl.int32)
                n_fired = tl.sum(fired_i, axis=0)
                if n_fired > 0:                             # the rest of the round only where a pixel fires
                    fhi = tl.where(seg2, f2, f1)
                    up = tl.where(at0, f0 >= con, fhi >= con)
                    level = tl.where(up, con, -coff)
                    Bs = tl.where(B != 0, B, 1.0)
                    if RESET:
                        lo = tl.where(seg2, x1, cur_x)
                        hi = tl.where(seg2, h, x1)
                        xl = (level - A - cc) / Bs
                        lin_ok = (B != 0) & (xl >= lo) & (xl <= hi) & (w_d * (xl + s0) > 14.0)
                        need = fired & ~at0 & ~lin_ok
                        if tl.max(need.to(tl.int32), axis=0) > 0:
                            xl = tl.where(need, _illinois(A, B, cc, s0, w_d, lo, hi, level, up, need), xl)
                        x = xl
                    else:
                        x = tl.where(B != 0, cur_x + (level - f0) / Bs, cur_x)
                        x = tl.minimum(tl.maximum(x, cur_x), h)
                    x = tl.where(at0, cur_x, x)
                    te = ta + x.to(tl.float64)
                    if cur + n_fired > lim:                 # claim a new slab (the old one's tail stays empty)
                        cur = tl.atomic_add(COUNT, SLAB)
                        lim = cur + SLAB
                    slot = cur + tl.cumsum(fired_i, axis=0) - 1
                    wmask = fired & (slot < cap)
                    key = _rint64(te * 1e6).to(tl.int64) * n_pix + offs.to(tl.int64)
                    tl.store(OUT_K + slot, key, mask=wmask)
                    tl.store(OUT_P + slot, tl.where(up, 1, -1).to(tl.int8), mask=wmask)
                    cur += n_fired
                    n_out += n_fired
                    if refr > 0:
                        t_ref = tl.where(fired, te + refr, t_ref)
                        pend = pend | fired
                    else:
                        t_ref = tl.where(fired, te, t_ref)
                        ref_d = tl.where(fired, l_d + md * x, ref_d)
                        ref_s = tl.where(fired, l_sf + ms * x, ref_s)
                alive = fired & (t_ref < tb)
                go = tl.max(alive.to(tl.int32), axis=0) > 0
            u_cur = tl.where(act, ub, u_cur)
            l_sf = tl.where(act, sf_b, l_sf)
            l_d = tl.where(act, d_b, l_d)
            j += 1
        t_prev = t_next

    tl.atomic_add(COUNT + 1, n_out)
    tl.store(S_OUT + offs, u_cur, mask=ok)
    if BANDWIDTH:
        tl.store(S_OUT + N + offs, y_pr, mask=ok)
        tl.store(S_OUT + 2 * N + offs, v_pr, mask=ok)
        tl.store(S_OUT + 3 * N + offs, y_sf, mask=ok)
        tl.store(S_OUT + 4 * N + offs, y_d, mask=ok)
    tl.store(S_OUT + 5 * N + offs, l_sf, mask=ok)
    tl.store(S_OUT + 6 * N + offs, l_d, mask=ok)
    tl.store(S_OUT + 7 * N + offs, ref_d, mask=ok)
    tl.store(S_OUT + 8 * N + offs, ref_s, mask=ok)
    tl.store(TREF_OUT + offs, t_ref, mask=ok)
    tl.store(PEND_OUT + offs, pend.to(tl.int8), mask=ok)


class KernelState(NamedTuple):
    """The per-pixel state the kernel reads (one instance) and writes (another): ``f`` ``(9, N)`` float32 rows
    :data:`STATE_ROWS`, ``t_ref`` ``(N,)`` float64 seconds (end of the refractory period / last reset),
    ``pending`` ``(N,)`` int8 (the reference is still to be taken when the refractory period ends)."""

    f: torch.Tensor
    t_ref: torch.Tensor
    pending: torch.Tensor

    def empty_like(self) -> KernelState:
        return KernelState(torch.empty_like(self.f), torch.empty_like(self.t_ref), torch.empty_like(self.pending))


#: rows of :attr:`KernelState.f`
STATE_ROWS = ("u", "y_pr", "v_pr", "y_sf", "y_diff", "l_sf", "l_diff", "ref_d", "ref_s")
#: event slots a program claims with one atomic (at least the block: one round's events always fit)
SLAB = 64
_KEY_EMPTY = torch.iinfo(torch.int64).max


def _read_count(count: torch.Tensor) -> list[int]:
    """``count.tolist()``, waiting on a CUDA event for a CUDA tensor: the wait releases the GIL, so the threads
    copying earlier chunks' events to the host (:mod:`sigkit.events.hostcopy`) run while the kernel does."""
    if not count.is_cuda:
        return count.tolist()
    host = torch.empty(count.shape, dtype=count.dtype, pin_memory=True)
    host.copy_(count, non_blocking=True)
    done = torch.cuda.Event()
    done.record(torch.cuda.current_stream(count.device))
    done.synchronize()
    return host.tolist()


def simulate_chunk(u: torch.Tensor, ts: torch.Tensor, c_on: torch.Tensor, c_off: torch.Tensor, g_leak: torch.Tensor,
                   state: KernelState, params: dict, capacity: int | None = None, block: int = 32,
                   maxnreg: int | None = None) -> tuple[KernelState, torch.Tensor, torch.Tensor, int]:
    """Simulate frames ``1..T-1`` of a chunk whose frame 0 is the state's last input.

    Args:
        u: ``(T, N)`` float32 log intensity (``log(it + b)``); ts: ``(T,)`` float64 seconds.
        c_on, c_off, g_leak: ``(N,)`` float32 per-pixel thresholds and leak slopes.
        state: the state at frame 0 (read only: an event-buffer overflow reruns the chunk from it).
        capacity: event slots to start with (grown and rerun if too small).
        block: pixels per program (one per thread: ``block // 32`` warps); smaller blocks diverge less.
        maxnreg: cap on registers per thread (Triton's ``maxnreg``; None: the compiler's choice).
        params: scalars (see :meth:`sigkit.events.simulate.Simulator._kernel_params`) plus the flags
            ``bandwidth``, ``pr_mode``, ``sf_inf``, ``diff_inf``, ``reset``.
    Returns:
        ``(new_state, key, p, n)``: ``key`` ``(S,)`` int64 ``t_us * N + pixel`` (``t_us`` the event time
        rounded half-to-even to microseconds) with ``n`` events among ``S >= n`` slots, the other slots
        ``int64 max`` (ends of claimed slabs); ``p`` ``(S,)`` int8 +1/-1.  A program's events are in its
        emission order: a stable sort of ``key`` gives the events by (microsecond, pixel), emission order on ties.
    """
    T, N = u.shape
    dev = u.device
    if not SLAB >= block:
        raise ValueError(f"SLAB ({SLAB}) must be at least the block ({block})")
    programs = triton.cdiv(N, block)
    cap = (max(1 << 16, 8 * N) if capacity is None else capacity) + programs * SLAB    # + every program's last partial slab
    out = state.empty_like()
    while True:
        out_k = torch.full((cap,), _KEY_EMPTY, dtype=torch.int64, device=dev)
        out_p = torch.empty(cap, dtype=torch.int8, device=dev)
        count = torch.zeros(2, dtype=torch.int32, device=dev)        # slots claimed, events written
        extra = {"maxnreg": int(maxnreg)} if maxnreg else {}
        k = _events_kernel[(programs,)](
            u, ts, c_on, c_off, g_leak, state.f, out.f, state.t_ref, out.t_ref, state.pending, out.pending,
            out_k, out_p, count, params["packed"], T, N, cap,
            BANDWIDTH=params["bandwidth"], PR_MODE=params["pr_mode"], SF_INF=params["sf_inf"],
            DIFF_INF=params["diff_inf"], RESET=params["reset"], BLOCK=block, SLAB=SLAB, FAST=not _INTERPRET,
            num_warps=max(1, block // 32), **extra)
        LAST_COMPILE.update(block=block, maxnreg=maxnreg, n_regs=getattr(k, "n_regs", None), n_spills=getattr(k, "n_spills", None))
        used, n = _read_count(count)                                 # the one host sync of a chunk
        if used <= cap:
            return out, out_k[:used], out_p[:used], n
        cap = int(used * 1.25) + programs * SLAB                     # buffer was too small: redo the chunk


@triton.jit(do_not_specialize=["n", "n_pix", "width"])
def _decode_kernel(KEY, ORDER, P, T_OUT, X_OUT, Y_OUT, P_OUT, n, n_pix, width, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    key = tl.load(KEY + offs, mask=ok, other=0)
    p = tl.load(P + tl.load(ORDER + offs, mask=ok, other=0), mask=ok, other=0)
    npx = n_pix.to(tl.int64)
    q = key // npx                                        # C division: floor it (negative times)
    r = key - q * npx
    q = tl.where(r < 0, q - 1, q)
    r = tl.where(r < 0, r + npx, r).to(tl.int32)          # the pixel index
    tl.store(T_OUT + offs, q, mask=ok)
    tl.store(X_OUT + offs, (r % width).to(tl.int16), mask=ok)
    tl.store(Y_OUT + offs, (r // width).to(tl.int16), mask=ok)
    tl.store(P_OUT + offs, p, mask=ok)


def decode_sorted(key: torch.Tensor, order: torch.Tensor, p: torch.Tensor, n: int, n_pix: int,
                  width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``n`` sorted keys ``t_us * n_pix + pixel`` (``key``, int64) and the sort's ``order`` (int64
    positions into ``p``, int8) -> ``(t_us int64, x int16, y int16, p int8)``, ``(n,)`` each, in one pass (in torch:
    a gather and six element-wise kernels).  ``x = pixel % width``, ``y = pixel // width``; ``t_us`` floors."""
    dev = key.device
    out = (torch.empty(n, dtype=torch.int64, device=dev), torch.empty(n, dtype=torch.int16, device=dev),
           torch.empty(n, dtype=torch.int16, device=dev), torch.empty(n, dtype=torch.int8, device=dev))
    if n:
        block = 1024
        _decode_kernel[(triton.cdiv(n, block),)](key, order, p, *out, n, n_pix, width, BLOCK=block, num_warps=4)
    return out
