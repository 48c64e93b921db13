"""Fused event simulation in Triton: each program owns a block of pixels and walks *all* frames of a
chunk in registers — bandwidth cascade, adaptive sub-steps, exact crossings, refractory and leak —
writing events through an atomic counter.  One launch per chunk replaces the reference's per-frame,
per-round torch ops (whose launch overhead, not arithmetic, bounds :mod:`sigkit.events.simulate`).

Reference: :class:`sigkit.events.simulate.Simulator` (same equations, same state, the same per-pixel
adaptive sub-steps), so both give the same events up to float32 rounding.  Shot noise does not
interact with the pixel state and is drawn in torch by the caller.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["simulate_chunk", "STATE_FIELDS", "LAST_COMPILE"]

#: registers and spills of the last compiled kernel launched (``bench/events_sim.py --profile`` prints them)
LAST_COMPILE: dict = {}

#: per-pixel state the kernel reads and writes, in this order (t_ref float64, pending int8, rest float32)
STATE_FIELDS = ("u", "y_pr", "v_pr", "y_sf", "y_diff", "l_sf", "l_diff", "ref_d", "ref_s", "t_ref", "pending")


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
def _hermite1(y0, x0, x1, dx0, dx1, w, h, W_INF: tl.constexpr):
    if W_INF:
        return x1
    a2 = (3.0 * (x1 - x0) / h - 2.0 * dx0 - dx1) / h
    a3 = (2.0 * (x0 - x1) / h + dx0 + dx1) / (h * h)
    yp0 = x0 - dx0 / w + 2.0 * a2 / (w * w) - 6.0 * a3 / (w * w * w)
    yp1 = x1 - dx1 / w + (2.0 * a2 + 6.0 * a3 * h) / (w * w) - 6.0 * a3 / (w * w * w)
    yh = yp1 + (y0 - yp0) * _decay(w * h)
    return tl.where(w * h >= 0.1, yh, _foh1(y0, x0, x1, w, h, False))


@triton.jit
def _crossing_f(A, B, cc, s0, x, w, RESET: tl.constexpr):
    if RESET:
        return A + B * x + cc * (1.0 - _decay(w * (x + s0)))
    return A + B * x


@triton.jit(do_not_specialize=["T", "N", "cap"])      # one compile for every clip length, size and buffer
def _events_kernel(U, TS, CON, COFF, GLEAK,
                   S_U, S_YPR, S_VPR, S_YSF, S_YD, S_LSF, S_LD, S_RD, S_RS, S_TREF, S_PEND,
                   OUT_T, OUT_I, OUT_P, COUNT, PARAMS, T, N, cap,
                   BANDWIDTH: tl.constexpr, PR_MODE: tl.constexpr, SF_INF: tl.constexpr,
                   DIFF_INF: tl.constexpr, RESET: tl.constexpr, BLOCK: tl.constexpr):
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
    u_cur = tl.load(S_U + offs, mask=ok, other=0.0)
    y_pr = tl.load(S_YPR + offs, mask=ok, other=0.0)
    v_pr = tl.load(S_VPR + offs, mask=ok, other=0.0)
    y_sf = tl.load(S_YSF + offs, mask=ok, other=0.0)
    y_d = tl.load(S_YD + offs, mask=ok, other=0.0)
    l_sf = tl.load(S_LSF + offs, mask=ok, other=0.0)
    l_d = tl.load(S_LD + offs, mask=ok, other=0.0)
    ref_d = tl.load(S_RD + offs, mask=ok, other=0.0)
    ref_s = tl.load(S_RS + offs, mask=ok, other=0.0)
    t_ref = tl.load(S_TREF + offs, mask=ok, other=float("inf"))
    pend = tl.load(S_PEND + offs, mask=ok, other=0) != 0

    t_prev = tl.load(TS)
    for k in range(1, T):
        t_next = tl.load(TS + k)
        h_all = t_next - t_prev
        u0 = u_cur
        u1 = tl.load(U + k * N + offs, mask=ok, other=0.0)
        change = tl.abs(u1 - u0)
        if BANDWIDTH:
            change = tl.maximum(change, tl.abs(u0 - l_d))
            change = tl.maximum(change, tl.abs(v_pr) * h_all.to(tl.float32))
            # sub-steps short against the photoreceptor's ringing / time constant where the pixel moves
            it1 = tl.maximum(tl.exp(u1) - black, 0.0)
            cur1 = ip * it1 + dark
            if PR_MODE == 3:
                w_osc = tl.sqrt((a_loop + 1.0) / ((q_in / cur1 + q_mil / cur1) * tau_out))
            else:                                           # 1st-order limits do not ring
                w_osc = 0.0 * u1
            moving = change > 0.05 * step_c / lam
            if osc > 0:
                change = tl.where(moving, tl.maximum(change, w_osc * h_all.to(tl.float32) / osc * step_c), change)
        # clamp in float before the int conversion (a huge change must give max_sub, as in the reference)
        n = tl.minimum(tl.ceil(change / step_c), max_sub.to(tl.float32)).to(tl.int32)
        n = tl.maximum(n, tl.ceil(h_all.to(tl.float32) * min_rate - 1e-9).to(tl.int32))
        n = tl.minimum(tl.maximum(n, 1), max_sub)
        n = tl.where(ok, n, 1)
        nmax = tl.max(n, axis=0)
        j = 0
        while j < nmax:
            act = ok & (j < n)
            nf = n.to(tl.float64)
            ta = t_prev + h_all * (j / nf)
            tb = tl.where(j + 1 == n, t_next, t_prev + h_all * ((j + 1) / nf))
            h = (tb - ta).to(tl.float32)
            h = tl.where(act, h, 1.0)
            ub = tl.where(j + 1 == n, u1, u0 + (u1 - u0) * ((j + 1) / n.to(tl.float32)))
            ua = u_cur
            if BANDWIDTH:
                it = tl.maximum(tl.exp(ub) - black, 0.0)
                pr0 = y_pr
                dpr0 = v_pr
                if PR_MODE == 0:
                    npr = ub
                    nv = (ub - ua) / h
                elif PR_MODE == 1 or PR_MODE == 2:
                    if PR_MODE == 1:
                        wp = w_pr_lti + 0.0 * ub
                    else:
                        cur = ip * it + dark
                        wp = (a_loop + 1.0) / (q_in / cur + (a_amp + 1.0) * q_mil / cur)
                    npr = _foh1(y_pr, ua, ub, wp, h, False)
                    nv = wp * (ub - npr)
                else:
                    cur = ip * it + dark
                    tin = q_in / cur
                    tmil = q_mil / cur
                    wn2 = (a_loop + 1.0) / ((tin + tmil) * tau_out)
                    sig = 0.5 * (tin + tau_out + (a_amp + 1.0) * tmil) / ((tin + tmil) * tau_out)
                    m = (ub - ua) / h
                    lag = 2.0 * sig * m / wn2
                    d0 = y_pr - ua + lag
                    dv0 = v_pr - m
                    q = sig * sig - wn2
                    e = _decay(sig * h)
                    wdd = tl.sqrt(tl.maximum(-q, 0.0))
                    ec_u = e * tl.cos(wdd * h)
                    es_u = e * tl.where(wdd * h > 1e-6, tl.sin(wdd * h) / tl.maximum(wdd, 1e-30), h)
                    r = tl.sqrt(tl.maximum(q, 0.0))
                    slow = wn2 / (sig + r)
                    e1 = _decay(slow * h)
                    e2 = _decay((sig + r) * h)
                    ec_o = 0.5 * (e1 + e2)
                    es_o = tl.where(r * h > 1e-6, (e1 - e2) / tl.maximum(2.0 * r, 1e-30), h * e)
                    ec = tl.where(q < 0, ec_u, ec_o)
                    es = tl.where(q < 0, es_u, es_o)
                    d1 = ec * d0 + es * (dv0 + sig * d0)
                    dv1 = ec * dv0 - es * (sig * dv0 + wn2 * d0)
                    npr = ub - lag + d1
                    nv = m + dv1
                sf0 = y_sf
                if SF_INF:
                    dsf0 = dpr0
                else:
                    dsf0 = w_sf * (pr0 - sf0)
                nsf = _hermite1(y_sf, pr0, npr, dpr0, nv, w_sf, h, SF_INF)
                if SF_INF:
                    dsf1 = nv
                else:
                    dsf1 = w_sf * (npr - nsf)
                nd = _hermite1(y_d, sf0, nsf, dsf0, dsf1, w_d, h, DIFF_INF)
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
            md = (d_b - l_d) / h
            ms = (sf_b - l_sf) / h
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
                    xs = -s0 - tl.log(tl.maximum(ratio, 1e-30)) / w_d
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
                        # Illinois false position on the monotone piece [lo, hi]
                        a_ = lo
                        b_ = hi
                        fa = _crossing_f(A, B, cc, s0, a_, w_d, RESET) - level
                        fb = _crossing_f(A, B, cc, s0, b_, w_d, RESET) - level
                        side = 0.0 * fa
                        for _it in range(12):
                            den = fb - fa
                            xm = tl.where(den != 0, (a_ * fb - b_ * fa) / tl.where(den != 0, den, 1.0), b_)
                            xm = tl.minimum(tl.maximum(xm, a_), b_)
                            fx = _crossing_f(A, B, cc, s0, xm, w_d, RESET) - level
                            beyond = tl.where(up, fx >= 0, fx <= 0) & need
                            inside = ~beyond & need
                            b_ = tl.where(beyond, xm, b_)
                            fb = tl.where(beyond, fx, fb)
                            fa = tl.where(beyond & (side > 0), fa * 0.5, fa)
                            a_ = tl.where(inside, xm, a_)
                            fa = tl.where(inside, fx, fa)
                            fb = tl.where(inside & (side < 0), fb * 0.5, fb)
                            side = tl.where(beyond, 1.0, tl.where(inside, -1.0, side))
                        xl = tl.where(need, b_, xl)
                    x = xl
                else:
                    x = tl.where(B != 0, cur_x + (level - f0) / Bs, cur_x)
                    x = tl.minimum(tl.maximum(x, cur_x), h)
                x = tl.where(at0, cur_x, x)
                te = ta + x.to(tl.float64)
                # one atomic per program and round: the block's events take consecutive slots
                fired_i = fired.to(tl.int32)
                n_fired = tl.sum(fired_i, axis=0)
                base = tl.atomic_add(COUNT, n_fired)
                slot = base + tl.cumsum(fired_i, axis=0) - 1
                wmask = fired & (slot < cap)
                tl.store(OUT_T + slot, te, mask=wmask)
                tl.store(OUT_I + slot, offs, mask=wmask)
                tl.store(OUT_P + slot, tl.where(up, 1, -1).to(tl.int8), mask=wmask)
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

    tl.store(S_U + offs, u_cur, mask=ok)
    tl.store(S_YPR + offs, y_pr, mask=ok)
    tl.store(S_VPR + offs, v_pr, mask=ok)
    tl.store(S_YSF + offs, y_sf, mask=ok)
    tl.store(S_YD + offs, y_d, mask=ok)
    tl.store(S_LSF + offs, l_sf, mask=ok)
    tl.store(S_LD + offs, l_d, mask=ok)
    tl.store(S_RD + offs, ref_d, mask=ok)
    tl.store(S_RS + offs, ref_s, mask=ok)
    tl.store(S_TREF + offs, t_ref, mask=ok)
    tl.store(S_PEND + offs, pend.to(tl.int8), mask=ok)


def simulate_chunk(u: torch.Tensor, ts: torch.Tensor, c_on: torch.Tensor, c_off: torch.Tensor, g_leak: torch.Tensor,
                   state: dict[str, torch.Tensor], params: dict, capacity: int | None = None,
                   block: int = 128, maxnreg: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Simulate frames ``1..T-1`` of a chunk whose frame 0 is the state's last input.

    Args:
        u: ``(T, N)`` float32 log intensity (``log(it + b)``); ts: ``(T,)`` float64 seconds.
        c_on, c_off, g_leak: ``(N,)`` float32 per-pixel thresholds and leak slopes.
        state: :data:`STATE_FIELDS` tensors ``(N,)``, updated in place.
        block: pixels per program (one per thread: ``block // 32`` warps); smaller blocks diverge less.
        maxnreg: cap on registers per thread (Triton's ``maxnreg``; None: the compiler's choice).
        params: scalars (see :func:`pack_params` in :mod:`sigkit.events.simulate`) plus the flags
            ``bandwidth``, ``pr_mode``, ``sf_inf``, ``diff_inf``, ``reset``.
    Returns:
        ``(t, pixel, p)``: float64 seconds, int32 flat pixel index, int8 +1/-1 (unsorted).
    """
    T, N = u.shape
    dev = u.device
    cap = capacity or max(1 << 16, 8 * N)
    backup = {k: v.clone() for k, v in state.items()}
    while True:
        out_t = torch.empty(cap, dtype=torch.float64, device=dev)
        out_i = torch.empty(cap, dtype=torch.int32, device=dev)
        out_p = torch.empty(cap, dtype=torch.int8, device=dev)
        count = torch.zeros(1, dtype=torch.int32, device=dev)
        s = [state[k] for k in STATE_FIELDS]
        extra = {"maxnreg": int(maxnreg)} if maxnreg else {}
        k = _events_kernel[(triton.cdiv(N, block),)](
            u, ts, c_on, c_off, g_leak, *s, out_t, out_i, out_p, count, params["packed"], T, N, cap,
            BANDWIDTH=params["bandwidth"], PR_MODE=params["pr_mode"], SF_INF=params["sf_inf"],
            DIFF_INF=params["diff_inf"], RESET=params["reset"], BLOCK=block, num_warps=max(1, block // 32), **extra)
        LAST_COMPILE.update(block=block, maxnreg=maxnreg, n_regs=getattr(k, "n_regs", None), n_spills=getattr(k, "n_spills", None))
        n = int(count.item())
        if n <= cap:
            return out_t[:n], out_i[:n], out_p[:n]
        cap = int(n * 1.25) + 1024                      # buffer was too small: redo the chunk
        for k, v in backup.items():
            state[k].copy_(v)

