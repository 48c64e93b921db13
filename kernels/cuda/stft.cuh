// sigkit fused STFT kernels: float32 shared-memory FFT, compiled at run time by NVRTC (torch.cuda._compile_kernel).
//
// kernels/_spectral_cuda.py prepends the compile-time geometry of one variant:
//   NFFT       n_fft (even); HALF = NFFT / 2: each real frame is an HALF-point complex FFT of its
//              (even, odd) sample pairs, separated afterwards (X[k] = E[k] + W_N^k O[k])
//   TT         frames a block owns (analysis: computes and writes; synthesis: owns their output samples)
//   NF         frames held in shared memory (analysis: TT; synthesis: TT + EXTRA, the earlier frames
//              that overlap the block's first samples)
//   NT         threads per block;  FSTRIDE = float2 per frame in shared memory (odd, >= ZI(HALF - 1) + 1)
//   FFT_STAGES the Stockham stages, e.g. "stage<8, 1, 0>(z, tw); stage<8, 8, 1024>(z, tw); ..." (radix, product of
//              the radices before, offset of the stage's twiddles in tw)
//   KIND_ANALYSIS (with EPI, POWER, LOG) or KIND_SYNTHESIS (with MODE)
// Twiddles come from a float64-built table: tw[k] = exp(-2 pi i k / NFFT) (k < NFFT), then per-stage and reg-FFT
// tables whose entries a warp's lanes read consecutively (_spectral_cuda.twiddle_offsets); everything else
// is float32 arithmetic with IEEE sqrt/log/exp/atan2/sincos (no fast-math intrinsics) unless FAST = 1.
// LEAN = 1 (analysis kernel; from the Nsight Compute profile of 2026-11-27: the kernels are bound by
// instruction issue, half of it the epilogue and a fifth the per-sample index arithmetic of the loads):
// frames that lie inside the signal with an 8-byte aligned start load their sample pairs as float2 with
// the window's pairs (no per-sample padding / support tests), output offsets are 32-bit within a batch
// item (the launcher checks that they fit), and FAST's sqrt / log2 / reciprocal flush denormals
// (no denormal rescaling around each MUFU instruction).
// Kernel arguments: tensors are pointers, Python ints C ints, Python floats C doubles.

typedef float2 cf;

__device__ __forceinline__ cf cmul(cf a, cf b) { return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
__device__ __forceinline__ cf cadd(cf a, cf b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ cf csub(cf a, cf b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ cf cnegi(cf a) { return make_float2(a.y, -a.x); }  // a * (-i)
__device__ __forceinline__ cf cconj(cf a) { return make_float2(a.x, -a.y); }

// ------------------------------------------------------------------ R-point DFTs (forward sign), in registers
template <int R> struct Dft;
template <> struct Dft<2> {
  static __device__ __forceinline__ void run(cf* v) { cf a = v[0]; v[0] = cadd(a, v[1]); v[1] = csub(a, v[1]); }
};
template <> struct Dft<3> {
  static __device__ __forceinline__ void run(cf* v) {
    const float h = 0.86602540378443864676f;  // sin(2 pi / 3)
    cf s = cadd(v[1], v[2]), d = csub(v[1], v[2]);
    cf m = make_float2(v[0].x - 0.5f * s.x, v[0].y - 0.5f * s.y);
    cf r = make_float2(h * d.y, -h * d.x);  // -i h d
    v[0] = cadd(v[0], s); v[1] = cadd(m, r); v[2] = csub(m, r);
  }
};
template <> struct Dft<4> {
  static __device__ __forceinline__ void run(cf* v) {
    cf t0 = cadd(v[0], v[2]), t1 = csub(v[0], v[2]), t2 = cadd(v[1], v[3]), t3 = cnegi(csub(v[1], v[3]));
    v[0] = cadd(t0, t2); v[2] = csub(t0, t2); v[1] = cadd(t1, t3); v[3] = csub(t1, t3);
  }
};
template <> struct Dft<5> {
  static __device__ __forceinline__ void run(cf* v) {
    const float c1 = 0.30901699437494742410f, c2 = -0.80901699437494742410f;  // cos(2 pi / 5), cos(4 pi / 5)
    const float s1 = 0.95105651629515357212f, s2 = 0.58778525229247312917f;   // sin(2 pi / 5), sin(4 pi / 5)
    cf a0 = v[0];
    cf p1 = cadd(v[1], v[4]), d1 = csub(v[1], v[4]), p2 = cadd(v[2], v[3]), d2 = csub(v[2], v[3]);
    cf m1 = make_float2(a0.x + c1 * p1.x + c2 * p2.x, a0.y + c1 * p1.y + c2 * p2.y);
    cf m2 = make_float2(a0.x + c2 * p1.x + c1 * p2.x, a0.y + c2 * p1.y + c1 * p2.y);
    cf q1 = cnegi(make_float2(s1 * d1.x + s2 * d2.x, s1 * d1.y + s2 * d2.y));  // -i (s1 d1 + s2 d2)
    cf q2 = cnegi(make_float2(s2 * d1.x - s1 * d2.x, s2 * d1.y - s1 * d2.y));  // -i (s2 d1 - s1 d2)
    v[0] = cadd(a0, cadd(p1, p2));
    v[1] = cadd(m1, q1); v[4] = csub(m1, q1); v[2] = cadd(m2, q2); v[3] = csub(m2, q2);
  }
};
template <> struct Dft<8> {
  static __device__ __forceinline__ void run(cf* v) {
    const float r = 0.70710678118654752440f;
    cf e[4] = {v[0], v[2], v[4], v[6]}, o[4] = {v[1], v[3], v[5], v[7]};
    Dft<4>::run(e); Dft<4>::run(o);
    o[1] = make_float2(r * (o[1].x + o[1].y), r * (o[1].y - o[1].x));   // * W8   = r (1 - i)
    o[2] = cnegi(o[2]);                                                   // * W8^2 = -i
    o[3] = make_float2(r * (o[3].y - o[3].x), -r * (o[3].x + o[3].y));  // * W8^3 = -r (1 + i)
#pragma unroll
    for (int q = 0; q < 4; ++q) { v[q] = cadd(e[q], o[q]); v[q + 4] = csub(e[q], o[q]); }
  }
};

template <> struct Dft<16> {  // radix-2 split into two 8-point DFTs (the register-resident FFT, REG = 1)
  static __device__ __forceinline__ void run(cf* v) {
    const float c[8] = {1.0f, 0.92387953251128675613f, 0.70710678118654752440f, 0.38268343236508977173f,
                        0.0f, -0.38268343236508977173f, -0.70710678118654752440f, -0.92387953251128675613f};
    cf e[8], o[8];
#pragma unroll
    for (int q = 0; q < 8; ++q) { e[q] = v[2 * q]; o[q] = v[2 * q + 1]; }
    Dft<8>::run(e); Dft<8>::run(o);
#pragma unroll
    for (int q = 1; q < 8; ++q) {
      if (q == 4) o[q] = cnegi(o[q]);                                     // * W16^4 = -i
      else o[q] = cmul(o[q], make_float2(c[q], q < 4 ? c[q + 4] : -c[q - 4]));  // W16^q: -sin(2 pi q / 16) = cos(2 pi (q + 4) / 16)
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) { v[q] = cadd(e[q], o[q]); v[q + 8] = csub(e[q], o[q]); }
  }
};

template <> struct Dft<32> {  // radix-2 split into two 16-point DFTs (the register-resident FFT at n_fft 2048)
  static __device__ __forceinline__ void run(cf* v) {
    const float c[9] = {1.0f, 0.98078528040323044913f, 0.92387953251128675613f, 0.83146961230254523708f,
                        0.70710678118654752440f, 0.55557023301960222474f, 0.38268343236508977173f,
                        0.19509032201612826785f, 0.0f};  // cos(2 pi q / 32), q = 0..8
    cf e[16], o[16];
#pragma unroll
    for (int q = 0; q < 16; ++q) { e[q] = v[2 * q]; o[q] = v[2 * q + 1]; }
    Dft<16>::run(e); Dft<16>::run(o);
#pragma unroll
    for (int q = 1; q < 16; ++q) {  // * W32^q = (cos, -sin)(2 pi q / 32)
      if (q == 8) o[q] = cnegi(o[q]);
      else o[q] = cmul(o[q], make_float2(q < 8 ? c[q] : -c[16 - q], q < 8 ? -c[8 - q] : -c[q - 8]));
    }
#pragma unroll
    for (int q = 0; q < 16; ++q) { v[q] = cadd(e[q], o[q]); v[q + 16] = csub(e[q], o[q]); }
  }
};

#ifdef HALF
// Shared-memory index of element i of a frame: one float2 of padding after every 32, so the strided
// writes of the first Stockham stages (stride R float2) spread over the banks instead of 16-way conflicts.
#define ZI(i) ((i) + ((i) >> 5))

// ------------------------------------------------------------------ one Stockham stage over NF frames
// Stage with radix R after stages whose radices multiply to NS: butterfly j of a frame reads
// z[j + r * HALF / R], twiddles by W_{NS R}^{(j mod NS) r} = tw[TO + (r - 1) NS + j mod NS] (the stage's table),
// and writes z[(j / NS) NS R + j mod NS + r NS].
// Every thread reads its butterflies into registers, the block syncs, then writes: one buffer.
template <int R, int NS, int TO>
__device__ __forceinline__ void stage(cf* __restrict__ z, const cf* __restrict__ tw) {
  constexpr int NB = HALF / R;
  constexpr int TOTAL = NF * NB;
  constexpr int PER = (TOTAL + NT - 1) / NT;
  cf v[PER][R];
#pragma unroll
  for (int p = 0; p < PER; ++p) {
    const int idx = threadIdx.x + p * NT;
    if (TOTAL % NT == 0 || idx < TOTAL) {
      const int f = idx / NB, j = idx - f * NB;
      const cf* src = z + f * FSTRIDE;
#pragma unroll
      for (int r = 0; r < R; ++r) v[p][r] = src[ZI(j + r * NB)];
    }
  }
  __syncthreads();
#pragma unroll
  for (int p = 0; p < PER; ++p) {
    const int idx = threadIdx.x + p * NT;
    if (TOTAL % NT == 0 || idx < TOTAL) {
      const int f = idx / NB, j = idx - f * NB;
      const int k = j % NS;
      if (NS > 1) {
#pragma unroll
        for (int r = 1; r < R; ++r) v[p][r] = cmul(v[p][r], __ldg(tw + TO + (r - 1) * NS + k));
      }
      Dft<R>::run(v[p]);
      cf* dst = z + f * FSTRIDE;
      const int d0 = (j / NS) * NS * R + k;
#pragma unroll
      for (int r = 0; r < R; ++r) dst[ZI(d0 + r * NS)] = v[p][r];
    }
  }
  __syncthreads();
}

#ifndef REG
#define REG 0
#endif
#if REG
// register-resident FFT (REG = 1, analysis kernel; see stft_analysis): RR values per lane, RG = HALF / RR^2 lanes
// per output column (1 or 2), GR lanes per frame; transpose slot of Y[l][c]: c GR + (l ^ RSW c)
#define GR (RR * RG)
#define RSW (GR > 16 ? 1 : RG)
#endif

#if WARP
// ------------------------------------------------------------------ warp-synchronous FFT (WARP = 1)
// A group of WPF warps (GT = 32 WPF threads) transforms one frame alone: its Stockham stages are
// separated by __syncwarp (WPF = 1) or a named barrier of the group (bar.sync 1 + group, GT threads)
// instead of block barriers, so groups run their frames' stages out of step. Same index maps as stage.
#define GT (32 * WPF)
#define NG (NT / GT)

__device__ __forceinline__ void gsync(int grp) {
#if WPF == 1
  (void)grp;
  __syncwarp();
#else
  asm volatile("bar.sync %0, %1;" ::"r"(1 + grp), "r"(GT) : "memory");
#endif
}

// One stage of frame zf by a group (lane 0..GT-1): read all butterflies, sync, twiddle + DFT + write, sync.
// The synthesis kernel loads the twiddles with plain loads, which the group's barriers keep in their stage (as
// __ldg they were hoisted into earlier stages and spilled 316 bytes at n_fft 1024); the analysis kernel with __ldg
// (plain loads spilled 8 bytes in its 16-frame / 256-thread tile at 1024).
#ifdef KIND_SYNTHESIS
#define TW_LD(i) tw[i]
#else
#define TW_LD(i) __ldg(tw + (i))
#endif
template <int R, int NS, int TO>
__device__ __forceinline__ void wstage(cf* __restrict__ zf, const cf* __restrict__ tw, int lane, int grp) {
  constexpr int NB = HALF / R;
  constexpr int PER = (NB + GT - 1) / GT;
  cf v[PER][R];
#pragma unroll
  for (int p = 0; p < PER; ++p) {
    const int j = lane + p * GT;
    if (NB % GT == 0 || j < NB) {
#pragma unroll
      for (int r = 0; r < R; ++r) v[p][r] = zf[ZI(j + r * NB)];
    }
  }
  gsync(grp);
#pragma unroll
  for (int p = 0; p < PER; ++p) {
    const int j = lane + p * GT;
    if (NB % GT == 0 || j < NB) {
      const int k = j % NS;
      if (NS > 1) {
#pragma unroll
        for (int r = 1; r < R; ++r) v[p][r] = cmul(v[p][r], TW_LD(TO + (r - 1) * NS + k));
      }
      Dft<R>::run(v[p]);
      const int d0 = (j / NS) * NS * R + k;
#pragma unroll
      for (int r = 0; r < R; ++r) zf[ZI(d0 + r * NS)] = v[p][r];
    }
  }
  gsync(grp);
}
#endif  // WARP

// Bins k and HALF - k (k in 0..HALF/2) of the real frame whose (even, odd) samples' FFT is in z:
// X[k] = E + W_N^k O and X[HALF - k] = conj(E - W_N^k O), E = (Z[k] + conj Z[HALF - k]) / 2,
// O = (Z[k] - conj Z[HALF - k]) / (2 i) (Z indices mod HALF).
// w = W_N^k = tw[k]. The lean epilogue loop loads it one iteration ahead: loaded where it is used, it drew 35-60 %
// of the long-scoreboard stall samples (H100 Nsight Compute, 2026-11-27); ahead, 2048 power and amplitude/phase
// ran 4 % faster, the mel loop (not changed) 1-5 % slower, AP-BWE level.
__device__ __forceinline__ void real_bins(const cf* __restrict__ z, cf w, int k, cf* xk, cf* xm) {
  const cf a = z[ZI(k)];
  const cf b = cconj(z[ZI(k == 0 ? 0 : HALF - k)]);
  const cf e = make_float2(0.5f * (a.x + b.x), 0.5f * (a.y + b.y));
  const cf d = csub(a, b);
  const cf wo = cmul(w, make_float2(0.5f * d.y, -0.5f * d.x));  // W^k (a - b) / (2 i)
  *xk = cadd(e, wo);
  *xm = cconj(csub(e, wo));
}

#endif  // HALF

__device__ __forceinline__ int reflect_index(int i, int L, int padmode, bool* ok) {
  if (padmode == 0) {
    if (i < 0) i = -i;
    if (i >= L) i = 2 * (L - 1) - i;
  }
  *ok = (i >= 0) && (i < L);
  return i;
}

__device__ __forceinline__ void atomic_max_float(float* a, float v) {
  // float ordering through integer atomics: non-negative floats order as ints, negative ones reversed as uints
  if (v >= 0.0f) atomicMax(reinterpret_cast<int*>(a), __float_as_int(v));
  else atomicMin(reinterpret_cast<unsigned int*>(a), __float_as_uint(v));
}

// ------------------------------------------------------------------ FAST = 1: approximate epilogue / prologue math
// sqrt.approx (relative error ~2^-23), log via lg2.approx (absolute error ~2^-22 in log2), and an
// atan2 from a degree-15 odd minimax polynomial on [0, 1] (float32 error 1.2e-7 rad, NumPy-checked in
// tests/kernels/test_spectral_cuda.py) with one approximate division: all far inside issue 3's 1e-3.
#ifndef LEAN
#define LEAN 0
#endif
#if LEAN
// denormal inputs flush to zero: |X|^2 below 2^-126 gives |X| = 0, log(0 + eps); atan2 of components
// below 2^-126 is 0 (guarded below), far under issue 3's thresholds (1e-3 of the frame's peak)
__device__ __forceinline__ float sqrt_fast(float v) {
  float r;
  asm("sqrt.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
__device__ __forceinline__ float log_fast(float v) {
  float r;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r * 0.69314718055994531f;
}
__device__ __forceinline__ float div_fast(float a, float b) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(b));
  return a * r;
}
#define MX_MIN 1.17549435e-38f
#else
__device__ __forceinline__ float sqrt_fast(float v) {
  float r;
  asm("sqrt.approx.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
}
__device__ __forceinline__ float log_fast(float v) { return __logf(v); }
__device__ __forceinline__ float div_fast(float a, float b) { return __fdividef(a, b); }
#define MX_MIN 0.0f
#endif

__device__ __forceinline__ float atan2_fast(float y, float x) {
  const float ax = fabsf(x), ay = fabsf(y);
  const float mx = fmaxf(ax, ay), mn = fminf(ax, ay);
  const float a = mx > MX_MIN ? div_fast(mn, mx) : 0.0f;
  const float t = a * a;
  float p = -0.004054560326039791f;
  p = fmaf(p, t, 0.021862952038645744f);
  p = fmaf(p, t, -0.055912356823682785f);
  p = fmaf(p, t, 0.09642203897237778f);
  p = fmaf(p, t, -0.13908633589744568f);
  p = fmaf(p, t, 0.19946567714214325f);
  p = fmaf(p, t, -0.33329862356185913f);
  p = fmaf(p, t, 0.9999993443489075f);
  float r = p * a;
  if (ay > ax) r = 1.57079632679489662f - r;
  if (x < 0.0f) r = 3.14159265358979324f - r;
  return copysignf(r, y);
}

// exp via ex2.approx (relative error ~2^-22 plus |x| 2^-24 from scaling by log2 e) and sincos of the
// argument reduced to [-pi, pi] (two-constant 2 pi) through __sincosf (absolute error ~2^-21.4 there).
__device__ __forceinline__ void sincos_fast(float x, float* s, float* c) {
  const float k = rintf(x * 0.15915494309189535f);
  float r = fmaf(-k, 6.28318548202514648f, x);  // 2 pi rounded up to float32 ...
  r = fmaf(-k, -1.7484556000744883e-7f, r);     // ... and the rest of 2 pi
  __sincosf(r, s, c);
}

#if FAST
#define SQRT_E(v) sqrt_fast(v)
#define EXP_E(v) __expf(v)
#define SINCOS_E(v, s, c) sincos_fast(v, s, c)
#define LOG_E(v) log_fast(v)
#define ATAN2_E(y, x) atan2_fast(y, x)
#else
#define SQRT_E(v) sqrtf(v)
#define EXP_E(v) expf(v)
#define SINCOS_E(v, s, c) sincosf(v, s, c)
#define LOG_E(v) logf(v)
#define ATAN2_E(y, x) atan2f(y, x)
#endif

#ifdef KIND_ANALYSIS
#if LEAN
typedef int OFF;  // output offsets within one batch item (the output pointers are moved to the item)
#else
typedef long long OFF;
#endif
// Epilogue of bin k (0..HALF) with value X at output offset o (see stft_analysis).
template <int E>
__device__ __forceinline__ void store_bin(cf X, int k, OFF o, float* __restrict__ out1, float* __restrict__ out2,
                                          const float* __restrict__ aux1, const float* __restrict__ aux2, float eps) {
  if (E == 0) {
    out1[o] = X.x; out2[o] = X.y;
  } else if (E == 1) {
    out1[o] = LOG_E(SQRT_E(X.x * X.x + X.y * X.y) + eps);
    out2[o] = ATAN2_E(X.y, X.x);
  } else if (E == 2) {
    out1[o] = X.x * X.x + X.y * X.y;
  } else if (E == 3) {
    out1[o] = SQRT_E(X.x * X.x + X.y * X.y);
  } else if (E == 4) {
    const float c = (k == 0 || k == HALF) ? 1.0f / NFFT : 2.0f / NFFT;
    const float m = expf(aux1[o]);
    float sn, cs;
    sincosf(aux2[o], &sn, &cs);
    const float xr = m * cs, xi = m * sn, gr = X.x * c, gi = X.y * c;
    out1[o] = gr * xr + gi * xi;
    out2[o] = gi * xr - gr * xi;
  }
}

// Windowed sample pair q (samples 2 q, 2 q + 1 of the n_fft frame t) for the warp and reg kernels' loads straight
// from global memory: INNER (LEAN frames inside the signal) as float2 loads of the samples and the window's pairs
// (pairs outside the window's support get its zeros), others per sample with padding and the support test. The
// kernels branch once per frame on inner and expand their whole load loop for each side, so that the inner
// side is branch-free and its loads issue back to back (with a branch per pair they issued one by one: the
// reg kernel at n_fft 2048 spent 55 % of its stall samples waiting on them, H100 Nsight Compute).
template <bool INNER>
__device__ __forceinline__ cf frame_pair(const float* __restrict__ xb, const float2* __restrict__ xp,
                                         const float* __restrict__ wpad, int t, int hop, int off, int L, int padmode,
                                         int left, int win, int q) {
  if (INNER) {
    const float2 sv = __ldg(xp + q), wv = __ldg(reinterpret_cast<const float2*>(wpad) + q);
    return make_float2(sv.x * wv.x, sv.y * wv.y);
  }
  float h2[2] = {0.0f, 0.0f};
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int s = 2 * q + h;
    if (s >= left && s < left + win) {
      bool ok;
      const int i = reflect_index(t * hop + s + off, L, padmode, &ok);
      if (ok) h2[h] = xb[i] * __ldg(wpad + s);
    }
  }
  return make_float2(h2[0], h2[1]);
}
#if LEAN
// frame t inside the signal (its first sample t hop + off, 8-byte aligned): inner, its sample pairs at xp
#define FRAME_INNER                                                                                 \
  const int fs = t * hop + off;                                                                     \
  const bool inner = t < T && fs >= 0 && fs <= L - NFFT && x_even && (fs & 1) == 0;                 \
  const float2* xp = reinterpret_cast<const float2*>(xb + (inner ? fs : 0));
#else
#define FRAME_INNER                                                                                 \
  constexpr bool inner = false;                                                                     \
  const float2* xp = nullptr;
#endif
#define XP_ARGS xb, xp, wpad, t, hop, off, L, padmode, left, win

// EPI: 0 complex (Re, Im), 1 (log(|X| + eps), atan2), 2 |X|^2, 3 |X|, 4 gradient of the inverse STFT
// w.r.t. (log-amplitude, phase) (x = the envelope-scaled output gradient, aux = log-amp, phase),
// 5 mel: fb @ |X|^POWER over each filter's nonzero bins [rng[2m], rng[2m + 1]), then LOG
// (0 none, 1 log(max(v, eps)), 2 10 log10(max(v, 1e-10)), 3 log10(max(v, 1e-10))) and, for LOG >= 2,
// the per-item running maximum in peak[b].
// Grid (ceil(T / TT), B). Frame t sample n (0..NFFT) is signal sample t * hop + n + off.
extern "C" __global__ void __launch_bounds__(NT, MINB) stft_analysis(
    const float* __restrict__ x, int L, int T, int hop, int off, int padmode, int left, int win,
    const float* __restrict__ wpad, const cf* __restrict__ tw, float* __restrict__ out1, float* __restrict__ out2,
    const float* __restrict__ aux1, const float* __restrict__ aux2, double eps_d,
    const float* __restrict__ fb, const int* __restrict__ rng, int nmel, float* __restrict__ peak) {
  extern __shared__ float2 smem[];
  cf* z = smem;
  const int b = blockIdx.y;
  const int t0 = blockIdx.x * TT;
  const float eps = (float)eps_d;
  (void)eps;
  const float* xb = x + (long long)b * L;
  constexpr int F = HALF + 1;
#if LEAN
  {  // outputs (and aux inputs) of this batch item: 32-bit offsets from here on
    const long long bo = (long long)b * (EPI == 5 ? nmel : F) * T;
    out1 += bo; out2 += bo; aux1 += bo; aux2 += bo;
  }
  const int item = 0;
  (void)item;
  // float2 loads of sample pairs need 8-byte alignment of the frame's first sample
  const bool x_even = (reinterpret_cast<size_t>(xb) & 7) == 0;
#else
  const int item = b;
#endif
#if REG
  // register-resident FFT: HALF = RR * RR * RG points, a group of GR = RR RG lanes (of one warp) per frame, RR
  // values per lane (four-step FFT, n = l + GR m, k = k1 + RR k2):
  //   1. lane l loads pairs l + GR m (m < RR) straight from global memory (coalesced; pair blocks outside the
  //      window's support skipped as in the warp kernel), RR-point DFT over m, twiddle W_HALF^(l k1): Y[l][k1];
  //   2. ONE shared-memory transpose, slot k1 GR + (l ^ RSW k1) (XOR swizzle: no bank conflicts either way);
  //      lane k1 + RR la (la < RG) reads Y[RG lb + la][k1], lb < RR;
  //   3. RR-point DFT over lb; for RG = 2 the twiddle W_(RR RG)^(la k2) and a radix-2 butterfly between lanes
  //      la = 0 / 1 (__shfl_xor_sync by RR, one per float): lane (k1, la) holds Z[k1 + RR k2 + RR^2 la], k2 < RR;
  //   4. Z stored in natural order (z[ZI(k)]) for the unchanged epilogues.
  // Separated by __syncwarp of the group's lanes only; no block barrier until the epilogue.
  {
    const int grp = threadIdx.x / GR, l0 = threadIdx.x - grp * GR;
    const unsigned gmask = (0xffffffffu >> (32 - GR)) << ((threadIdx.x & 31) & ~(GR - 1));
#pragma unroll 1
    for (int f = grp; f < TT; f += NT / GR) {
      const int t = t0 + f;
      cf* zf = z + f * FSTRIDE;
      int l = l0;
      asm volatile("" : "+r"(l));  // opaque per frame: keeps the twiddle loads inside the frame loop (hoisted,
                                    // their 60 registers spilled at n_fft 1024)
      const int k1 = l % RR, la = l / RR;  // this lane's place after the transpose
      cf v[RR];
      FRAME_INNER
#define REG_LOADS(INNER)                                                                                   \
  _Pragma("unroll") for (int m = 0; m < RR; ++m) {                                                         \
    const int q = l + GR * m; /* sample pair */                                                            \
    const bool live = t < T && 2 * GR * m < left + win && 2 * GR * (m + 1) > left; /* uniform in the group */ \
    v[m] = live ? frame_pair<INNER>(XP_ARGS, q) : make_float2(0.0f, 0.0f);                                  \
  }
      if (inner) { REG_LOADS(true) } else { REG_LOADS(false) }
#undef REG_LOADS
      Dft<RR>::run(v);
#pragma unroll
      for (int c = 1; c < RR; ++c) v[c] = cmul(v[c], __ldg(tw + RTW + (c - 1) * GR + l));  // W_HALF^(l c)
#pragma unroll
      for (int c = 0; c < RR; ++c) zf[c * GR + (l ^ (RSW * c))] = v[c];
      __syncwarp(gmask);
#pragma unroll
      for (int lb = 0; lb < RR; ++lb) v[lb] = zf[k1 * GR + ((RG * lb + la) ^ (RSW * k1))];
      __syncwarp(gmask);  // every read of the transpose before the natural-order writes below
      Dft<RR>::run(v);
#if RG == 2
      const float sg = la ? -1.0f : 1.0f;
      // Q[j] = cos(2 pi j / 32), j = 0..8; W_32^j = (j <= 8 ? Q[j] : -Q[16 - j], -Q[|8 - j|]) for j < 16
      const float Q[9] = {1.0f, 0.98078528040323044913f, 0.92387953251128675613f, 0.83146961230254523708f,
                          0.70710678118654752440f, 0.55557023301960222474f, 0.38268343236508977173f,
                          0.19509032201612826785f, 0.0f};
#pragma unroll
      for (int c = 0; c < RR; ++c) {
        // lane la = 1 twiddles its half by the constant W_(2 RR)^c = W_32^(c 16 / RR) (la = 0 keeps it), then
        // both exchange: la = 0 keeps a + W b, la = 1 a - W b
        constexpr int S = 16 / RR;
        const int j = c * S;
        const cf w = la ? make_float2(j <= 8 ? Q[j] : -Q[16 - j], -Q[j <= 8 ? 8 - j : j - 8]) : make_float2(1.0f, 0.0f);
        const cf mine = c ? cmul(v[c], w) : v[c];
        const cf other = make_float2(__shfl_xor_sync(gmask, mine.x, RR), __shfl_xor_sync(gmask, mine.y, RR));
        zf[ZI(k1 + RR * c + RR * RR * la)] = make_float2(fmaf(sg, mine.x, other.x), fmaf(sg, mine.y, other.y));
      }
#else
#pragma unroll
      for (int c = 0; c < RR; ++c) zf[ZI(k1 + RR * c)] = v[c];
#endif
    }
  }
  __syncthreads();
#elif WARP
  // group grp loads and transforms frames grp, grp + NG, ...: the first stage (radix R0, no twiddle)
  // reads its butterflies' sample pairs j + r HALF / R0 straight from global memory (lanes over j:
  // coalesced), skipping pair blocks outside the window's support; no block barrier until the epilogue
  {
    const int grp = threadIdx.x / GT, lane = threadIdx.x - grp * GT;
    constexpr int NB0 = HALF / R0;
    constexpr int PER0 = (NB0 + GT - 1) / GT;
#pragma unroll 1
    for (int f = grp; f < TT; f += NG) {
      const int t = t0 + f;
      cf* zf = z + f * FSTRIDE;
      cf v[PER0][R0];
      FRAME_INNER
#define WARP_LOADS(INNER)                                                                                    \
  _Pragma("unroll") for (int p = 0; p < PER0; ++p) {                                                         \
    const int j = lane + p * GT;                                                                             \
    _Pragma("unroll") for (int r = 0; r < R0; ++r) {                                                         \
      const int q0 = r * NB0 + p * GT; /* first pair of this (p, r) block of the group: uniform test */      \
      const bool live = t < T && 2 * q0 < left + win && 2 * (q0 + GT) > left;                                \
      v[p][r] = live && (NB0 % GT == 0 || j < NB0) ? frame_pair<INNER>(XP_ARGS, j + r * NB0) : make_float2(0.0f, 0.0f); \
    }                                                                                                        \
  }
      if (inner) { WARP_LOADS(true) } else { WARP_LOADS(false) }
#undef WARP_LOADS
#pragma unroll
      for (int p = 0; p < PER0; ++p) {
        const int j = lane + p * GT;
        if (NB0 % GT == 0 || j < NB0) {
          Dft<R0>::run(v[p]);
#pragma unroll
          for (int r = 0; r < R0; ++r) zf[ZI(j * R0 + r)] = v[p][r];
        }
      }
      gsync(grp);
      WFFT_REST
    }
  }
  __syncthreads();
#else
  // load in chunks of LCH sample pairs per thread: all loads of a chunk are issued before any is used
  constexpr int LOADS = (TT * HALF + NT - 1) / NT;
  constexpr int LMAX = HALF >= 1024 ? 2 : 8;  // chunk size that fits in the 64 registers of 512 threads x 2 blocks
  constexpr int LCH = LOADS < LMAX ? LOADS : LMAX;
#pragma unroll 1
  for (int p0 = 0; p0 < LOADS; p0 += LCH) {
    float v[LCH][2];
#pragma unroll
    for (int c = 0; c < LCH; ++c) {
      const int idx = threadIdx.x + (p0 + c) * NT;
      const int f = idx / HALF, n = idx - f * HALF;
      const int t = t0 + f;
#if LEAN
      const int fs = t * hop + off;
      if (idx < TT * HALF && t < T && fs >= 0 && fs <= L - NFFT && x_even && (fs & 1) == 0) {
        const float2 sv = __ldg(reinterpret_cast<const float2*>(xb + fs) + n);
        const float2 wv = __ldg(reinterpret_cast<const float2*>(wpad) + n);
        v[c][0] = sv.x * wv.x;
        v[c][1] = sv.y * wv.y;
        continue;
      }
#endif
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int s = 2 * n + h;
        v[c][h] = 0.0f;
        if (idx < TT * HALF && t < T && s >= left && s < left + win) {
          bool ok;
          const int i = reflect_index(t * hop + s + off, L, padmode, &ok);
          if (ok) v[c][h] = xb[i] * __ldg(wpad + s);
        }
      }
    }
#pragma unroll
    for (int c = 0; c < LCH; ++c) {
      const int idx = threadIdx.x + (p0 + c) * NT;
      const int f = idx / HALF, n = idx - f * HALF;
      if (idx < TT * HALF) z[f * FSTRIDE + ZI(n)] = make_float2(v[c][0], v[c][1]);
    }
  }
  __syncthreads();
  FFT_STAGES
#endif
#if EPI == 5
  constexpr int FP = F + 1;
  float* P = reinterpret_cast<float*>(smem + NF * FSTRIDE);
  for (int idx = threadIdx.x; idx < (HALF / 2 + 1) * TT; idx += NT) {
    const int k = idx / TT, f = idx - k * TT;
    cf X, Y;
    real_bins(z + f * FSTRIDE, __ldg(tw + k), k, &X, &Y);
    const float px = X.x * X.x + X.y * X.y, py = Y.x * Y.x + Y.y * Y.y;
    P[f * FP + k] = POWER == 2 ? px : SQRT_E(px);
    P[f * FP + HALF - k] = POWER == 2 ? py : SQRT_E(py);
  }
  __syncthreads();
  float vmax = __int_as_float(0xff800000);  // -inf
  for (int idx = threadIdx.x; idx < nmel * TT; idx += NT) {
    const int m = idx / TT, f = idx - m * TT;
    const int t = t0 + f;
    if (t >= T) continue;
    const int lo = __ldg(rng + 2 * m), hi = __ldg(rng + 2 * m + 1);
    const float* row = fb + (long long)m * F;
    const float* pf = P + f * FP;
    float acc = 0.0f;
    for (int k = lo; k < hi; ++k) acc = fmaf(__ldg(row + k), pf[k], acc);
#if LOG == 1
    acc = LOG_E(fmaxf(acc, eps));
#elif LOG == 2
    acc = 4.342944819032518f * LOG_E(fmaxf(acc, 1e-10f));
#elif LOG == 3
    acc = 0.4342944819032518f * LOG_E(fmaxf(acc, 1e-10f));
#endif
    vmax = fmaxf(vmax, acc);
    out1[((OFF)item * nmel + m) * T + t] = acc;
  }
#if LOG >= 2
  for (int o = 16; o > 0; o >>= 1) vmax = fmaxf(vmax, __shfl_xor_sync(0xffffffffu, vmax, o));
  if ((threadIdx.x & 31) == 0 && vmax != __int_as_float(0xff800000)) atomic_max_float(peak + b, vmax);
#endif
#else
  // one thread per (bin pair k, HALF - k; frame), frames fastest: each warp stores runs of TT frames of two rows
#if LEAN && NT % TT == 0 && (WARP || REG || HALF < 1024)
  // a thread keeps its frame (threadIdx.x mod TT) and steps k by NT / TT: the outputs of the item moved to
  // the frame once, 32-bit row offsets k T (not in the 2048-point block kernel, where it spilled 8 bytes)
  {
    const int f = threadIdx.x % TT, t = t0 + f;
    if (t < T) {
      const cf* zf = z + f * FSTRIDE;
      out1 += t; out2 += t; aux1 += t; aux2 += t;
      cf w = threadIdx.x / TT <= HALF / 2 ? __ldg(tw + threadIdx.x / TT) : make_float2(0.0f, 0.0f);
#pragma unroll 1
      for (int k = threadIdx.x / TT; k <= HALF / 2; k += NT / TT) {
        const cf wn = k + NT / TT <= HALF / 2 ? __ldg(tw + k + NT / TT) : w;
        cf Xk, Xm;
        real_bins(zf, w, k, &Xk, &Xm);
        w = wn;
        store_bin<EPI>(Xk, k, k * T, out1, out2, aux1, aux2, eps);
        if (2 * k != HALF) store_bin<EPI>(Xm, HALF - k, (HALF - k) * T, out1, out2, aux1, aux2, eps);
      }
    }
  }
#else
  for (int idx = threadIdx.x; idx < (HALF / 2 + 1) * TT; idx += NT) {
    const int k = idx / TT, f = idx - k * TT;
    const int t = t0 + f;
    if (t >= T) continue;
    cf Xk, Xm;
    real_bins(z + f * FSTRIDE, __ldg(tw + k), k, &Xk, &Xm);
    const OFF row = (OFF)item * F;
    store_bin<EPI>(Xk, k, (row + k) * T + t, out1, out2, aux1, aux2, eps);
    if (2 * k != HALF) store_bin<EPI>(Xm, HALF - k, (row + HALF - k) * T + t, out1, out2, aux1, aux2, eps);
  }
#endif
#endif
}
#endif  // KIND_ANALYSIS

#ifdef KIND_SYNTHESIS
// Spectral coefficient of bin k (0..HALF) of frame t, as the one-sided input of an inverse real DFT.
// MODE 3 as MODE 2 with a1 = the mel gradient projected back (mel_in).
// MODE 0 (inverse STFT): exp(a3) e^{i a4}. MODE 1 (amp/phase backward): the gradient w.r.t. X of
// (a1 . log(|X| + eps) + a2 . angle X) at X = exp(a3) e^{i a4} (|X| = exp(a3) - eps), halved inside
// (1, HALF). MODE 2 (power/magnitude backward): a1 times d|X|^POWER/dX at X = a3 + i a4, halved inside.
// Imaginary parts of bins 0 and HALF are dropped (a real signal's inverse ignores them).
struct Raw { float a1, a2, a3, a4; };

// The inputs of bin k of one frame at offset o (loads only, so a chunk of them can be in flight at once).
__device__ __forceinline__ Raw load_raw(const float* __restrict__ a1, const float* __restrict__ a2,
                                        const float* __restrict__ a3, const float* __restrict__ a4, long long o,
                                        int has1, int has2) {
  Raw r;
  r.a3 = a3[o];
  r.a4 = a4[o];
  r.a1 = (MODE != 0 && MODE != 3 && has1) ? a1[o] : 0.0f;
  r.a2 = (MODE == 1 && has2) ? a2[o] : 0.0f;
  return r;
}

#if MODE == 3
// MODE 3 (mel power/magnitude backward): the gradient of |X|^POWER at bin k of frame t is the mel gradient
// g (B, nmel, T) projected back, sum_m fb[m, k] g[b, m, t] over the filters nonzero at k ([rngb[2k], rngb[2k+1]))
__device__ __forceinline__ float mel_in(const float* __restrict__ g, const float* __restrict__ fb,
                                        const int* __restrict__ rngb, int nmel, int b, int k, int t, int T) {
  const int lo = __ldg(rngb + 2 * k), hi = __ldg(rngb + 2 * k + 1);
  const float* gb = g + ((long long)b * nmel) * T + t;
  float acc = 0.0f;
  for (int m = lo; m < hi; ++m) acc = fmaf(__ldg(fb + m * (HALF + 1) + k), gb[(long long)m * T], acc);
  return acc;
}
#endif

__device__ __forceinline__ cf spectral_in(Raw r, int k, int has1, int has2, float eps, int power) {
  cf X;
#if MODE == 0
  const float m = EXP_E(r.a3);
  float sn, cs;
  SINCOS_E(r.a4, &sn, &cs);
  X = make_float2(m * cs, m * sn);
#elif MODE == 1
  const float ea = EXP_E(r.a3);
  const float mag = ea - eps;
  float sn, cs;
  SINCOS_E(r.a4, &sn, &cs);
  float gr = 0.0f, gi = 0.0f;
  if (has1) { const float g = r.a1 / ea; gr += g * cs; gi += g * sn; }
  if (has2 && mag > 0.0f) { const float g = r.a2 / mag; gr -= g * sn; gi += g * cs; }
  X = make_float2(gr, gi);
#else
  const float re = r.a3, im = r.a4;
  float g = r.a1;
  if (power == 2) g *= 2.0f;
  else { const float m = sqrtf(re * re + im * im); g = m > 0.0f ? g / m : 0.0f; }
  X = make_float2(g * re, g * im);
#endif
#if MODE != 0
  if (k != 0 && k != HALF) X = make_float2(0.5f * X.x, 0.5f * X.y);
#endif
  if (k == 0 || k == HALF) X.y = 0.0f;
  return X;
}

// Block i owns output samples p (in the overlap-added frame of lexp samples) from i TT hop + left
// to (i + 1) TT hop + left (the first block from 0, the last to the end), computes the inverse DFT of
// frames i TT - EXTRA .. i TT + TT - 1 (every frame overlapping them), windows and overlap-adds
// them without atomics. MODE 0 divides by the window envelope sum_t w^2 and writes y[p - start] for
// p - start in [0, out_len) (zero past lexp); the backward modes write the unnormalised sum
// (scale 2 = NFFT / HALF: the gradient of the one-sided DFT) for p in [0, out_len) with start 0.
// Grid (ceil(T / TT), B).
extern "C" __global__ void __launch_bounds__(NT, MINB) stft_synthesis(
    const float* __restrict__ a1, const float* __restrict__ a2, const float* __restrict__ a3,
    const float* __restrict__ a4, int has1, int has2, double eps_d, int power, int T, int hop, int left,
    int win, const float* __restrict__ wpad, const cf* __restrict__ tw, float* __restrict__ y, int out_len,
    int start, int lexp, const float* __restrict__ fb, const int* __restrict__ rngb, int nmel) {
  extern __shared__ float2 smem[];
  cf* z = smem;
  const int b = blockIdx.y;
  const int first = blockIdx.x * TT - EXTRA;  // frame held in smem slot 0
  (void)fb; (void)rngb; (void)nmel;
  const float eps = (float)eps_d;
  (void)eps;
  constexpr int F = HALF + 1;
  const long long base = (long long)b * F * T;
  // one item per (bin pair k, HALF - k with k <= HALF / 2; frame), frames fastest: X[k] and X[HALF - k]
  // give both Z[k] = E + i O and Z[HALF - k] = conj(E) + i conj(O), each input read and transformed once
  constexpr int KP = HALF / 2 + 1;
  constexpr int LOADS = (NF * KP + NT - 1) / NT;
  constexpr int LMAX = HALF >= 1024 ? 2 : 4;
  constexpr int LCH = LOADS < LMAX ? LOADS : LMAX;
#pragma unroll 1
  for (int p0 = 0; p0 < LOADS; p0 += LCH) {
    Raw ra[LCH], rb[LCH];
#pragma unroll
    for (int c = 0; c < LCH; ++c) {  // the chunk's loads first
      const int idx = threadIdx.x + (p0 + c) * NT;
      const int k = idx / NF, fi = idx - k * NF;
      const int t = first + fi;
      if (idx < NF * KP && t >= 0 && t < T) {
        ra[c] = load_raw(a1, a2, a3, a4, base + (long long)k * T + t, has1, has2);
        rb[c] = load_raw(a1, a2, a3, a4, base + (long long)(HALF - k) * T + t, has1, has2);
#if MODE == 3
        ra[c].a1 = mel_in(a1, fb, rngb, nmel, b, k, t, T);
        rb[c].a1 = mel_in(a1, fb, rngb, nmel, b, HALF - k, t, T);
#endif
      }
    }
#pragma unroll
    for (int c = 0; c < LCH; ++c) {
      const int idx = threadIdx.x + (p0 + c) * NT;
      if (idx >= NF * KP) continue;
      const int k = idx / NF, fi = idx - k * NF;
      const int t = first + fi;
      cf zk = make_float2(0.0f, 0.0f), zm = zk;
      if (t >= 0 && t < T) {
        const cf A = spectral_in(ra[c], k, has1, has2, eps, power);
        const cf Bc = cconj(spectral_in(rb[c], HALF - k, has1, has2, eps, power));
        // E = (A + conj B) / 2, O = (A - conj B) conj(W_N^k) / 2; stored conjugated so that the
        // forward FFT computes the inverse
        const cf e = make_float2(0.5f * (A.x + Bc.x), 0.5f * (A.y + Bc.y));
        const cf o = cmul(make_float2(0.5f * (A.x - Bc.x), 0.5f * (A.y - Bc.y)), cconj(__ldg(tw + k)));
        zk = make_float2(e.x - o.y, -(e.y + o.x));  // conj(E + i O)
        zm = make_float2(e.x + o.y, e.y - o.x);     // conj(conj(E) + i conj(O))
      }
      cf* zf = z + fi * FSTRIDE;
      zf[ZI(k)] = zk;
      if (k != 0 && 2 * k != HALF) zf[ZI(HALF - k)] = zm;
    }
  }
  __syncthreads();
#if WARP
  {
    const int grp = threadIdx.x / GT, lane0 = threadIdx.x - grp * GT;
#pragma unroll 1
    for (int f = grp; f < NF; f += NG) {
      cf* zf = z + f * FSTRIDE;
      int lane = lane0;
      asm volatile("" : "+r"(lane));  // opaque per frame: keeps the twiddle loads from being hoisted out of
                                       // the frame loop (they held ~56 registers and spilled)
      WFFT_ALL
    }
  }
  __syncthreads();
#else
  FFT_STAGES
#endif
  const float scale = MODE == 0 ? 1.0f / HALF : 2.0f;
  const int nblk = (T + TT - 1) / TT;
  int p_lo = blockIdx.x == 0 ? start : blockIdx.x * TT * hop + left;
  int p_hi = blockIdx.x == nblk - 1 ? start + out_len : (blockIdx.x + 1) * TT * hop + left;
  p_lo = max(p_lo, start);
  p_hi = min(p_hi, start + out_len);
  float* yb = y + (long long)b * out_len;
  for (int p = p_lo + threadIdx.x; p < p_hi; p += NT) {
    float acc = 0.0f, env = 0.0f;
    if (p < lexp) {
      const int q = p - left;  // frame t covers q in [t hop, t hop + win)
      const int t_hi = q >= 0 ? min(T - 1, q / hop) : -1;
      const int r = q - win + 1;
      const int t_lo = r <= 0 ? 0 : (r + hop - 1) / hop;
      for (int t = t_lo; t <= t_hi; ++t) {
        const int n = p - t * hop;
        const float w = __ldg(wpad + n);
        const cf v = z[(t - first) * FSTRIDE + ZI(n >> 1)];
        acc = fmaf(w, (n & 1) ? -v.y : v.x, acc);
        env = fmaf(w, w, env);
      }
    }
#if MODE == 0
    yb[p - start] = env > 1e-11f ? acc * scale / env : 0.0f;
#else
    yb[p - start] = acc * scale;
#endif
  }
}
#endif  // KIND_SYNTHESIS

#ifdef KIND_UTIL
// Nonzero bin range [lo, hi) of each mel filter (one warp per filter); an all-zero row gets [F, 0).
extern "C" __global__ void mel_ranges(const float* __restrict__ fb, int F, int* __restrict__ rng) {
  const int m = blockIdx.x;
  int lo = F, hi = 0;
  for (int k = threadIdx.x; k < F; k += 32) {
    if (fb[(long long)m * F + k] != 0.0f) { lo = min(lo, k); hi = max(hi, k + 1); }
  }
  for (int o = 16; o > 0; o >>= 1) {
    lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
  if (threadIdx.x == 0) { rng[2 * m] = lo; rng[2 * m + 1] = hi; }
}

// Range [lo, hi) of the filters nonzero at each bin k of fb (M, F) (one thread per bin); none: [0, 0).
extern "C" __global__ void mel_bin_ranges(const float* __restrict__ fb, int F, int M, int* __restrict__ rngb) {
  const int k = blockIdx.x * 256 + threadIdx.x;
  if (k >= F) return;
  int lo = M, hi = 0;
  for (int m = 0; m < M; ++m) {
    if (fb[(long long)m * F + k] != 0.0f) { lo = min(lo, m); hi = m + 1; }
  }
  rngb[2 * k] = hi > 0 ? lo : 0;
  rngb[2 * k + 1] = hi;
}

// In place: v = (max(v, peak[b] - gap) + shift) * scale over items of N values. Grid (ceil(N / 256), B).
extern "C" __global__ void floor_scale(float* __restrict__ v, const float* __restrict__ peak, int N, double gap,
                                       double shift, double scale) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * 256 + threadIdx.x;
  if (i >= N) return;
  const float fl = peak[b] - (float)gap;
  float* p = v + (long long)b * N + i;
  *p = (fmaxf(*p, fl) + (float)shift) * (float)scale;
}

// Output gradient of the inverse STFT divided by the window envelope, in the overlap-added frame:
// g[b, p] = grad[b, p - start] / sum_t w^2[p - left - t hop] for p in [0, lexp) (0 outside the
// output or where the envelope vanishes). Grid (ceil(lexp / 256), B).
extern "C" __global__ void env_scale(const float* __restrict__ grad, float* __restrict__ g, int out_len, int lexp,
                                     int start, int left, int hop, int win, int T, const float* __restrict__ wsq) {
  const int b = blockIdx.y;
  const int p = blockIdx.x * 256 + threadIdx.x;
  if (p >= lexp) return;
  const int i = p - start;
  float val = 0.0f;
  if (i >= 0 && i < out_len) {
    const int q = p - left;
    const int t_hi = q >= 0 ? min(T - 1, q / hop) : -1;
    const int r = q - win + 1;
    const int t_lo = r <= 0 ? 0 : (r + hop - 1) / hop;
    float env = 0.0f;
    for (int t = t_lo; t <= t_hi; ++t) env += wsq[q - t * hop];
    if (env > 1e-11f) val = grad[(long long)b * out_len + i] / env;
  }
  g[(long long)b * lexp + p] = val;
}

// Backward of the mel op's LOG and per-item floor (kernels/spectral._mel_backward in two launches instead of
// about twenty torch kernels): from the op's output o and its gradient g (N values an item) the gradient
// w.r.t. the mel energies. LOGM 1: natural log, (o > log eps) g exp(-o); 2: dB, u = o; 3: Whisper,
// u = 4 o - 4 and g / 4 (rounded as torch rounds them). With a floor (gap >= 0) max(u, peak - gap) passes
// the gradient of floored values to the item's maximum, shared by ties (torch.amax's rule); then
// 2: (o > -100) g 10 / ln 10 10^(-o / 10), 3: (u > -10) g 10^(-u) / ln 10.
__device__ __forceinline__ float mel_u(float o, int logm) { return logm == 3 ? __fadd_rn(__fmul_rn(4.0f, o), -4.0f) : o; }
__device__ __forceinline__ float mel_gu(float g, int logm) { return logm == 3 ? __fmul_rn(g, 0.25f) : g; }

// Per item: acc[2 b] += the gradient of the floored values, acc[2 b + 1] += the number of maxima. Grid (ceil(N / 256), B).
extern "C" __global__ void mel_floor_stats(const float* __restrict__ o, const float* __restrict__ g,
                                           const float* __restrict__ peak, int N, int logm, double gap,
                                           float* __restrict__ acc) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * 256 + threadIdx.x;
  const float pu = mel_u(peak[b], logm);
  const float lo = __fsub_rn(pu, (float)gap);
  float s = 0.0f, c = 0.0f;
  if (i < N) {
    const long long j = (long long)b * N + i;
    const float u = mel_u(o[j], logm);
    if (!(u > lo)) s = mel_gu(g[j], logm);
    if (u == pu) c = 1.0f;
  }
  for (int k = 16; k > 0; k >>= 1) {
    s += __shfl_xor_sync(0xffffffffu, s, k);
    c += __shfl_xor_sync(0xffffffffu, c, k);
  }
  if ((threadIdx.x & 31) == 0 && (s != 0.0f || c != 0.0f)) {
    atomicAdd(acc + 2 * b, s);
    atomicAdd(acc + 2 * b + 1, c);
  }
}

// The gradient w.r.t. the mel energies (see above; acc from mel_floor_stats when gap >= 0). Grid (ceil(N / 256), B).
extern "C" __global__ void mel_log_grad(const float* __restrict__ o, const float* __restrict__ g,
                                        const float* __restrict__ peak, const float* __restrict__ acc, int N, int logm,
                                        double gap, double log_eps, float* __restrict__ out) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * 256 + threadIdx.x;
  if (i >= N) return;
  const long long j = (long long)b * N + i;
  const float ov = o[j];
  float r;
  if (logm == 1) {
    r = ov > (float)log_eps ? g[j] * expf(-ov) : 0.0f;
  } else {
    const float u = mel_u(ov, logm);
    float gu = mel_gu(g[j], logm);
    if (gap >= 0.0) {
      const float pu = mel_u(peak[b], logm);
      const bool keep = u > __fsub_rn(pu, (float)gap);
      gu = (keep ? gu : 0.0f) + (u == pu ? acc[2 * b] / acc[2 * b + 1] : 0.0f);
    }
    if (logm == 2) r = ov > -100.0f ? gu * 4.342944819032518f * exp10f(-ov / 10.0f) : 0.0f;
    else r = u > -10.0f ? gu * exp10f(-u) / 2.302585092994046f : 0.0f;
  }
  out[j] = r;
}

// Adjoint of the padding: gx[b, i] = sum of g[b, p] over the padded positions p that read signal
// sample i (p = i + pad, and the reflected positions with padmode 0). Grid (ceil(L / 256), B).
extern "C" __global__ void pad_adjoint(const float* __restrict__ g, int LP, float* __restrict__ gx, int L, int pad,
                                       int padmode) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * 256 + threadIdx.x;
  if (i >= L) return;
  const float* gb = g + (long long)b * LP;
  float acc = i + pad < LP ? gb[i + pad] : 0.0f;
  if (padmode == 0) {
    if (i >= 1 && i <= pad && pad - i < LP) acc += gb[pad - i];
    const int q = pad + 2 * (L - 1) - i;
    if (i <= L - 2 && q >= pad + L && q < LP) acc += gb[q];
  }
  gx[(long long)b * L + i] = acc;
}
#endif  // KIND_UTIL
