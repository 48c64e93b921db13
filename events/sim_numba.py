"""CPU event simulation with numba: one compiled loop per pixel over all frames and sub-steps.

The torch reference (:class:`sigkit.events.simulate.Simulator`) issues dozens of tensor ops per
sub-step and crossing round from Python, so on a CPU its cost is dispatch, not arithmetic.  Here the
pixels are spread over threads (``prange`` over blocks of pixels) and each pixel walks every input
sample, its adaptive sub-steps and its crossing rounds with all state in local variables, the same
equations in the same order as the reference (float64): the bandwidth cascade of
:mod:`sigkit.events.pixel`, the reset-transient crossing solve with Illinois false position,
refractory and leak.  Random inputs (threshold mismatch, leak spread, refractory phases) are the
reference's pre-drawn per-pixel arrays, and shot noise (which never touches the pixel state) is drawn
by the caller, so both back ends give the same events for the same seed.

numba is imported by this module only; :mod:`sigkit.events` imports it lazily (``backend="numba"``).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

__all__ = ["simulate_pixels", "STATE_ROWS", "N_PARAMS"]

#: rows of the float64 state array, in this order (``pending`` is a separate uint8 array)
STATE_ROWS = ("y_pr", "v_pr", "y_sf", "y_diff", "l_sf", "l_diff", "ref_d", "ref_s", "t_ref")
#: length of the float64 parameter vector (see :func:`pack_params` in :mod:`sigkit.events.simulate`)
N_PARAMS = 17

_JIT = dict(cache=True, error_model="numpy", nogil=True)


@njit(**_JIT)
def _decay(z: float) -> float:
    return math.exp(-min(z, 80.0))


@njit(**_JIT)
def _foh1(y0, x0, x1, w, h):
    """``foh_first_order``: exact step of ``y' = w (x - y)`` for ``x`` linear ``x0 -> x1`` over ``h``."""
    wh = w * h
    a = _decay(wh)
    if math.isinf(wh):
        g = 0.0
    elif wh > 1e-6:
        g = -math.expm1(-min(wh, 80.0)) / max(wh, 1e-30)
    else:
        g = 1.0 - wh / 2.0
    return a * y0 + (g - a) * x0 + (1.0 - g) * x1


@njit(**_JIT)
def _hermite1(y0, x0, x1, dx0, dx1, w, h):
    """``hermite_first_order``: the same stage for a cubic Hermite input (end values and slopes)."""
    if math.isinf(w):
        return x1
    if not w * h >= 0.1:
        return _foh1(y0, x0, x1, w, h)
    a2 = (3.0 * (x1 - x0) / h - 2.0 * dx0 - dx1) / h
    a3 = (2.0 * (x0 - x1) / h + dx0 + dx1) / (h * h)
    wc = max(w, 1e-30)
    yp0 = x0 - dx0 / wc + 2.0 * a2 / (wc * wc) - 6.0 * a3 / (wc * wc * wc)
    yp1 = x1 - dx1 / wc + (2.0 * a2 + 6.0 * a3 * h) / (wc * wc) - 6.0 * a3 / (wc * wc * wc)
    return yp1 + (y0 - yp0) * _decay(w * h)


@njit(**_JIT)
def _second_order(y0, v0, u0, u1, wn, zeta, h):
    """``foh_second_order``: exact step of the 2nd-order photoreceptor; returns ``(y1, v1)``."""
    sigma = zeta * wn
    m = (u1 - u0) / h
    lag = 2.0 * sigma * m / (wn * wn)
    d0 = y0 - u0 + lag
    dv0 = v0 - m
    q = sigma * sigma - wn * wn
    if q < 0:
        wd = math.sqrt(-q)
        e = _decay(sigma * h)
        ec = e * math.cos(wd * h)
        es = e * (math.sin(wd * h) / max(wd, 1e-30) if wd * h > 1e-6 else h)
    else:
        r = math.sqrt(q)
        slow = wn * wn / (sigma + r)
        es_slow, es_fast = _decay(slow * h), _decay((sigma + r) * h)
        ec = 0.5 * (es_slow + es_fast)
        es = (es_slow - es_fast) / max(2.0 * r, 1e-30) if r * h > 1e-6 else h * _decay(sigma * h)
    d1 = ec * d0 + es * (dv0 + sigma * d0)
    dv1 = ec * dv0 - es * (sigma * dv0 + wn * wn * d0)
    return u1 - lag + d1, m + dv1


@njit(**_JIT)
def _pr_coeffs(it, prm):
    """Photoreceptor ``(w_n, zeta)`` at linear intensity ``it`` (2nd-order mode), as ``photoreceptor_coeffs``."""
    cur = prm[1] * max(it, 0.0) + prm[2]
    tau_in = prm[3] / cur
    tau_mil = prm[4] / cur
    tau_out = prm[7]
    wn2 = (prm[6] + 1.0) / ((tau_in + tau_mil) * tau_out)
    two_sigma = (tau_in + tau_out + (prm[5] + 1.0) * tau_mil) / ((tau_in + tau_mil) * tau_out)
    wn = math.sqrt(wn2)
    return wn, two_sigma / (2.0 * wn)


@njit(**_JIT)
def _crossing_f(A, B, cc, s0, x, w, reset):
    if reset:
        return A + B * x + cc * (-math.expm1(-min(w * (x + s0), 80.0)))
    return A + B * x


@njit(**_JIT)
def _illinois(A, B, cc, s0, w, lo, hi, level, up):
    """The reference's ``Simulator._bisect`` for one pixel: 12 Illinois false-position steps, far end."""
    a, b = lo, hi
    fa = _crossing_f(A, B, cc, s0, a, w, True) - level
    fb = _crossing_f(A, B, cc, s0, b, w, True) - level
    side = 0.0
    for _ in range(12):
        den = fb - fa
        x = (a * fb - b * fa) / den if den != 0 else b
        x = min(max(x, a), b)
        fx = _crossing_f(A, B, cc, s0, x, w, True) - level
        beyond = fx >= 0 if up else fx <= 0
        if beyond:
            b, fb = x, fx
            if side > 0:
                fa = fa * 0.5
            side = 1.0
        else:
            a, fa = x, fx
            if side < 0:
                fb = fb * 0.5
            side = -1.0
    return b


@njit(**_JIT)
def _pixel(i, u, u_prev, ts, con, coff, g, st_in, pend_in, st_out, pend_out, u_out, prm, bandwidth, pr_mode, reset,
           lin, black32, out_t, out_i, out_p, base, cap, cnt):
    """Simulate pixel ``i`` over all frames; append its events at ``base + cnt``; return the new count
    (a count past ``cap`` means the buffer was too small; -1: more than 1e5 events in one sub-step).

    ``lin``: ``u`` holds float32 linear intensity and the log input ``float32(log(float32(it + b)))`` is
    taken only where needed (ideal pixel): a frame whose intensity stays inside the thresholds'
    linear-domain bounds (with a margin far above float32 rounding) needs no log at all."""
    black, w_sf, w_d, refr = prm[0], prm[8], prm[9], prm[10]
    step_c, max_sub, min_rate, w_lti, ring, cmin = prm[11], prm[12], prm[13], prm[14], prm[15], prm[16]
    y_pr, v_pr, y_sf, y_d = st_in[0, i], st_in[1, i], st_in[2, i], st_in[3, i]
    l_sf, l_d, ref_d, ref_s, t_ref = st_in[4, i], st_in[5, i], st_in[6, i], st_in[7, i], st_in[8, i]
    pend = pend_in[i] != 0
    u_cur = float(u_prev[i])
    t_prev = ts[0]
    u_ok, x_last = True, np.float32(0.0)                  # lin: u_cur is stale until log(x_last) is taken
    ref_cached, lo_x, hi_x, m = math.nan, 0.0, 0.0, 0.0
    for k in range(u.shape[0]):
        t_next = ts[k + 1]
        h_all = t_next - t_prev
        if lin:
            x32 = np.float32(np.float32(u[k, i]) + black32)
            if not pend and t_ref <= t_prev and g == 0.0:
                if ref_d != ref_cached:                     # the reference's thresholds as intensities
                    m = 1e-6 * (1.0 + abs(ref_d) + max(con, coff))
                    lo_x, hi_x, ref_cached = math.exp(ref_d - coff + m), math.exp(ref_d + con - m), ref_d
                d0_in = (not u_ok) or (-coff + m < l_d - ref_d < con - m)
                if d0_in and lo_x < float(x32) < hi_x:
                    u_ok, x_last = False, x32
                    t_prev = t_next
                    continue
            if not u_ok:
                u_cur = float(np.float32(math.log(float(x_last))))
                l_sf, l_d, u_ok = u_cur, u_cur, True
            u1 = float(np.float32(math.log(float(x32))))
        else:
            u1 = float(u[k, i])
        u0 = u_cur
        if not bandwidth and not pend and t_ref <= t_prev:
            # ideal pixel with its reference set: D(t) is linear over the whole frame interval, so when both
            # ends stay inside the thresholds by far more than rounding, no sub-step fires and the
            # reference's state after the frame is just the new input (a shortcut with identical results)
            d0 = l_d - ref_d + g * (t_prev - t_ref)
            d1 = u1 - ref_d + g * (t_next - t_ref)
            if max(d0, d1) < con - 1e-9 and min(d0, d1) > -coff + 1e-9:
                u_cur, l_sf, l_d = u1, u1, u1
                t_prev = t_next
                continue
        # ---- this pixel's sub-step count (Simulator._substeps)
        change = abs(u1 - u0)
        if bandwidth:
            change = max(change, abs(u0 - l_d))
            change = max(change, abs(v_pr) * h_all)
            if pr_mode == 3 and ring > 0 and change > 0.05 * cmin:
                wn, _z = _pr_coeffs(math.exp(u1) - black, prm)
                change = max(change, wn * h_all / ring * step_c)
        # ceil(change / step_c) is 0 or 1 whenever change <= step_c (division is monotone): skip it there
        nf = 1.0 if change <= step_c else min(np.ceil(change / step_c), max_sub)
        if min_rate > 0:
            nf = max(nf, max(1.0, np.ceil(h_all * min_rate - 1e-9)))
        n = int(min(nf, max_sub))
        nf = float(n)
        for j in range(1, n + 1):
            last = j == n
            if n == 1:                  # the same numbers as below, without the divisions
                ta, tb, h, ub = t_prev, t_next, h_all, u1
            else:
                ta = t_prev + h_all * ((j - 1) / nf)
                tb = t_next if last else t_prev + h_all * (j / nf)
                h = tb - ta
                ub = u1 if last else u0 + (u1 - u0) * (j / nf)
            ua = u_cur
            # ---- bandwidth cascade (BandwidthFilter.step)
            if bandwidth:
                it = math.exp(ub) - black
                pr0, dpr0 = y_pr, v_pr
                if pr_mode == 3:
                    wn, zeta = _pr_coeffs(it, prm)
                    y_pr, v_pr = _second_order(y_pr, v_pr, ua, ub, wn, zeta, h)
                else:
                    if pr_mode == 2:
                        cur = prm[1] * max(it, 0.0) + prm[2]
                        wp = (prm[6] + 1.0) / (prm[3] / cur + (prm[5] + 1.0) * (prm[4] / cur))
                    else:
                        wp = w_lti
                    y_pr = _foh1(y_pr, ua, ub, wp, h)
                    v_pr = (ub - ua) / h if math.isinf(wp) else wp * (ub - y_pr)
                sf0 = y_sf
                dsf0 = w_sf * (pr0 - sf0) if not math.isinf(w_sf) else dpr0
                y_sf = _hermite1(y_sf, pr0, y_pr, dpr0, v_pr, w_sf, h)
                dsf1 = w_sf * (y_pr - y_sf) if not math.isinf(w_sf) else v_pr
                y_d = _hermite1(y_d, sf0, y_sf, dsf0, dsf1, w_d, h)
                sf_b, d_b = y_sf, y_d
            else:
                sf_b, d_b = ub, ub
            # ---- crossings, one event per round (Simulator._events_in)
            md = (d_b - l_d) / h
            ms = (sf_b - l_sf) / h if bandwidth else md           # ideal pixel: L_sf and L_diff are the input
            rounds = 0
            while t_ref < tb:
                rounds += 1
                if rounds > 100000:
                    return -1
                cur_x = max(t_ref - ta, 0.0)
                if pend:
                    ref_d = l_d + md * cur_x
                    ref_s = l_sf + ms * cur_x
                    pend = False
                s0 = ta - t_ref
                B = md + g
                A = l_d - ref_d + g * s0
                cc = ref_d - ref_s if reset else 0.0
                if reset:
                    ratio = -B / (cc * w_d)
                    xs = -s0 - math.log(ratio if ratio > 1e-30 else 1e-30) / w_d
                    x1 = min(max(xs, 0.0), h) if (ratio > 0 and math.isfinite(xs)) else h
                    x1 = max(x1, cur_x)
                else:
                    x1 = h
                f0 = _crossing_f(A, B, cc, s0, cur_x, w_d, reset)
                f1 = _crossing_f(A, B, cc, s0, x1, w_d, reset)
                f2 = _crossing_f(A, B, cc, s0, h, w_d, reset) if reset else f1
                at0 = f0 >= con or f0 <= -coff
                seg1 = not at0 and (f1 >= con or f1 <= -coff)
                seg2 = not at0 and not seg1 and (f2 >= con or f2 <= -coff)
                if not (at0 or seg1 or seg2):
                    break
                up = f0 >= con if at0 else (f2 if seg2 else f1) >= con
                level = con if up else -coff
                if at0:
                    x = cur_x
                elif reset:
                    lo = x1 if seg2 else cur_x
                    hi = h if seg2 else x1
                    x = (level - A - cc) / B if B != 0 else 0.0
                    if not (B != 0 and x >= lo and x <= hi and w_d * (x + s0) > 14.0):
                        x = _illinois(A, B, cc, s0, w_d, lo, hi, level, up)
                else:
                    x = cur_x + (level - f0) / B if B != 0 else cur_x
                    x = min(max(x, cur_x), h)
                te = ta + x
                if cnt < cap:
                    out_t[base + cnt] = np.int64(np.rint(te * 1e6))      # microseconds, as Simulator._to_events
                    out_i[base + cnt] = i
                    out_p[base + cnt] = 1 if up else -1
                cnt += 1
                if refr > 0:
                    t_ref = te + refr
                    pend = True
                else:
                    t_ref = te
                    ref_d = l_d + md * x
                    ref_s = l_sf + ms * x
            u_cur, l_sf, l_d = ub, sf_b, d_b
        t_prev = t_next
    if not u_ok:
        u_cur = float(np.float32(math.log(float(x_last))))
        l_sf, l_d = u_cur, u_cur
    u_out[i] = u_cur
    st_out[0, i], st_out[1, i], st_out[2, i], st_out[3, i] = y_pr, v_pr, y_sf, y_d
    st_out[4, i], st_out[5, i], st_out[6, i], st_out[7, i], st_out[8, i] = l_sf, l_d, ref_d, ref_s, t_ref
    pend_out[i] = 1 if pend else 0
    return cnt


@njit(parallel=True, **_JIT)
def _run_blocks(blocks, u, u_prev, ts, c_on, c_off, g_leak, st_in, pend_in, st_out, pend_out, u_out, prm, bandwidth,
                pr_mode, reset, lin, black32, block, cap, out_t, out_i, out_p, counts):
    """Blocks ``blocks[j]`` of ``block`` pixels each, in parallel; block ``j`` writes slots ``[j cap, (j+1) cap)``."""
    n_pix = u.shape[1]
    for j in prange(blocks.shape[0]):
        b = blocks[j]
        cnt = 0
        for i in range(b * block, min(n_pix, (b + 1) * block)):
            cnt = _pixel(i, u, u_prev, ts, c_on[i], c_off[i], g_leak[i], st_in, pend_in, st_out, pend_out, u_out, prm,
                         bandwidth, pr_mode, reset, lin, black32, out_t, out_i, out_p, j * cap, cap, cnt)
            if cnt < 0:
                break
        counts[j] = cnt


@njit(parallel=True, **_JIT)
def _gather_sorted(out_t, out_i, out_p, starts, counts, width, lo, hi, parts):
    """Concatenate the blocks' events (``counts[j]`` from ``starts[j]``, blocks in pixel order) sorted by
    microsecond with a stable counting sort, so equal microseconds keep pixel-index order and each pixel's
    time order: the order of ``argsort(t_us * N + pixel, stable)`` in :meth:`Simulator._to_events`.
    Thread ``q`` of ``parts`` owns a contiguous run of blocks (about ``n / parts`` events) and its own
    histogram of the microsecond bins ``[lo, hi]``; offsets run over (bin, thread), which keeps the order.
    Each event is read once per pass. Returns ``(t_us, x, y, p, ok)``; ``ok`` is False when an event lies
    outside ``[lo, hi]``."""
    nblk = counts.shape[0]
    n = 0
    for j in range(nblk):
        n += counts[j]
    nb = hi - lo + 1
    bedges = np.empty(parts + 1, np.int64)
    bedges[0], bedges[parts] = 0, nblk
    acc, q = 0, 1
    for j in range(nblk):                   # split the blocks by event count
        while q < parts and acc >= (n * q) // parts:
            bedges[q] = j
            q += 1
        acc += counts[j]
    while q < parts:
        bedges[q] = nblk
        q += 1
    hist = np.zeros((parts, nb), np.int64)
    bad = np.zeros(parts, np.int64)
    for q in prange(parts):
        for j in range(bedges[q], bedges[q + 1]):
            for s in range(starts[j], starts[j] + counts[j]):
                v = out_t[s] - lo
                if v < 0 or v >= nb:
                    bad[q] += 1
                else:
                    hist[q, v] += 1
    t_s = np.empty(n, np.int64)
    x_s, y_s, p_s = np.empty(n, np.int16), np.empty(n, np.int16), np.empty(n, np.int8)
    if bad.sum() != 0:
        return t_s, x_s, y_s, p_s, False
    run = 0
    for b in range(nb):
        for q in range(parts):
            c = hist[q, b]
            hist[q, b] = run
            run += c
    for q in prange(parts):
        for j in range(bedges[q], bedges[q + 1]):
            for s in range(starts[j], starts[j] + counts[j]):
                v = out_t[s] - lo
                d = hist[q, v]
                hist[q, v] = d + 1
                t_s[d] = out_t[s]
                x_s[d] = out_i[s] % width
                y_s[d] = out_i[s] // width
                p_s[d] = out_p[s]
    return t_s, x_s, y_s, p_s, True


def simulate_pixels(u: np.ndarray, u_prev: np.ndarray, ts: np.ndarray, c_on: np.ndarray, c_off: np.ndarray,
                    g_leak: np.ndarray, state: np.ndarray, pending: np.ndarray, params: np.ndarray, bandwidth: bool,
                    pr_mode: int, reset: bool, width: int = 0, block: int = 256, per_pixel: int = 4,
                    linear_black: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Simulate ``T`` input samples of ``N`` pixels from their current state.

    Args:
        u: ``(T, N)`` float32/float64 log intensity ``log(it + b)`` at ``ts[1:]``; u_prev: ``(N,)`` the
            pixels' current (last) input at ``ts[0]``; ts: ``(T + 1,)`` float64 seconds.
        c_on, c_off, g_leak: ``(N,)`` float64 per-pixel thresholds (log units) and leak slopes (1/s).
        state: ``(9, N)`` float64 rows :data:`STATE_ROWS`; pending: ``(N,)`` uint8 (reference due at ``t_ref``).
        params: ``(N_PARAMS,)`` float64 scalars; bandwidth / pr_mode / reset: the model's switches.
        width: sensor width (pixel ``i`` is at ``x = i % width, y = i // width``; 0: one row of ``N``).
        linear_black: if given (ideal pixel only), ``u`` is float32 linear intensity and the log input
            ``float32(log(float32(it + linear_black)))`` is taken inside, only for frames that need it.
        block: pixels per parallel task; per_pixel: first guess of events per pixel (buffer size; blocks
            that need more are rerun alone with a larger buffer).
    Returns:
        ``(t_us, x, y, p, new_state, new_pending, u_last)``: int64 microseconds, int16 column and row, int8
        +1/-1, sorted by time then pixel index; the state after the last frame and its log input
        ``(N,)`` float64; the inputs are not modified.

    >>> import numpy as np
    >>> u, u0 = np.array([[0.8]]), np.zeros(1)               # one pixel, log intensity 0 -> 0.8 over 1 s
    >>> st = np.repeat(u0[None], 9, 0); st[1] = st[8] = 0.0  # at rest, reference taken at t = 0
    >>> prm = np.zeros(17); prm[11], prm[12], prm[16] = 0.125, 64, 0.25   # C = 0.25, ideal pixel
    >>> t, x, y, p, *_ = simulate_pixels(u, u0, np.array([0.0, 1.0]), np.full(1, .25), np.full(1, .25), np.zeros(1),
    ...                               st, np.zeros(1, np.uint8), prm, False, 0, False)
    >>> p.tolist(), t.tolist()                             # crossings of 0.25, 0.5, 0.75
    ([1, 1, 1], [312500, 625000, 937500])
    """
    T, N = u.shape
    n_blk = max(1, -(-N // block))
    st_out = np.empty_like(state)
    pend_out = np.empty_like(pending)
    u_out = np.empty(N, np.float64)
    lin = linear_black is not None
    if lin and bandwidth:
        raise ValueError("linear_black is for the ideal pixel (bandwidth=False)")
    black32 = np.float32(linear_black if lin else 0.0)
    todo = np.arange(n_blk, dtype=np.int64)
    cap = max(64, block * per_pixel)
    starts, counts = np.zeros(n_blk, np.int64), np.zeros(n_blk, np.int64)
    bufs, offset = [], 0
    while todo.size:
        out_t = np.empty(todo.size * cap, np.int64)
        out_i = np.empty(todo.size * cap, np.int32)
        out_p = np.empty(todo.size * cap, np.int8)
        cnt = np.zeros(todo.size, np.int64)
        with numba.parallel_chunksize(2):     # dynamic scheduling: a thread slowed by other work takes fewer blocks
            _run_blocks(todo, u, u_prev, ts, c_on, c_off, g_leak, state, pending, st_out, pend_out, u_out, params,
                        bandwidth, pr_mode, reset, lin, black32, block, cap, out_t, out_i, out_p, cnt)
        if (cnt < 0).any():
            raise RuntimeError("event simulation did not converge (more than 1e5 events in one sub-step)")
        over = cnt > cap
        done = todo[~over]
        starts[done] = offset + np.arange(todo.size)[~over] * cap
        counts[done] = cnt[~over]
        bufs.append((out_t, out_i, out_p))
        offset += todo.size * cap
        todo, cap = todo[over], int(cnt.max())              # too-small buffers: rerun those blocks alone
    if len(bufs) > 1:
        bufs = [tuple(np.concatenate(x) for x in zip(*bufs, strict=True))]
    # every event lies in [ts[0], ts[-1]]; one microsecond of margin covers the rounding
    lo, hi = int(np.floor(ts[0] * 1e6)) - 1, int(np.ceil(ts[-1] * 1e6)) + 1
    # one histogram of the microsecond bins per thread: fewer threads when that would take over ~256 MB
    parts = max(1, min(numba.get_num_threads(), 16, (1 << 25) // max(1, hi - lo + 1)))
    t_us, x, y, p, ok = _gather_sorted(*bufs[0], starts, counts, width or max(N, 1), lo, hi, parts)
    if not ok:                                              # not expected: fall back to the true range
        t_all = np.concatenate([bufs[0][0][a:a + c] for a, c in zip(starts, counts, strict=True)])
        t_us, x, y, p, ok = _gather_sorted(*bufs[0], starts, counts, width or max(N, 1), int(t_all.min()),
                                           int(t_all.max()), parts)
    return t_us, x, y, p, st_out, pend_out, u_out
