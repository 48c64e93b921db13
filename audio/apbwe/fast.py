"""AP-BWE's fast inference path: time-major, mixed precision, compiled per layer, replayed as one CUDA graph.

The whole ``narrowband wave -> STFT -> generator -> iSTFT -> wideband wave`` pipeline is split into three
pure functions of tensors, each compiled by ``torch.compile`` on its own:

- :func:`front`: ``torch.stft`` -> ``log(|X| + 1e-4)``, ``angle(X)`` -> ``conv_pre_*`` -> ``norm_pre_*``;
- :func:`layer`: the previous layer's residual additions, the streams' exchange (``mag += pha;
  pha += mag``) and one ConvNeXt branch per stream, time-major ``(B, N, C)`` (depthwise conv as 7 shifted
  multiply-adds fused with the LayerNorm by Inductor, :func:`prelude`, or everything before the products in
  one Triton kernel for both streams, ``prelude="triton"``; the hidden layer's GELU in the cuBLASLt epilogue
  of its product, :func:`linear_gelu_tanh`). The *same* compiled function runs all 8 layers with that layer's weights
  passed as arguments, so it is compiled once per input shape, not 8 times;
- :func:`back`: the last residual additions, ``norm_post_*``, the output heads, the log-amplitude residual,
  ``atan2`` and ``torch.istft``.

On CUDA the 10 calls are captured in one CUDA graph per input shape and replayed (no launch gaps).

Precision (``bench/apbwe_quality.py`` measured it on a full-size model trained on the GPU, see the
README): the ConvNeXt and input-convolution products run in bf16 (fp32 accumulation); the residual
streams, LayerNorms, depthwise convolutions, STFT and iSTFT in fp32; ``heads="fp32"`` (default) keeps
the three output projections in fp32 (TF32 tensor cores on CUDA). In bf16 their outputs -- the
log-amplitude residual, several units where the model fills the missing band, and the pseudo real and
imaginary parts before ``atan2`` -- are rounded to 8 significant bits, which alone moved the trained
model's output 0.0106 LSD from fp32 eager; with fp32 heads the whole fast path is 0.0042 LSD from it.
``gelu="fused"`` (GELU's tanh form) adds less than 0.0001 to that.

>>> from sigkit.audio.apbwe.model import APBWEGenerator
>>> gen = APBWEGenerator(n_bins=33, channels=16, layers=2).eval()
>>> fast = FastAPBWE(gen, STFTSpec(64, 16, 32), compile=False, heads="fp32", trunk="fp32", pre="fp32")
>>> fast(torch.randn(2, 800)).shape
torch.Size([2, 800])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sigkit.audio.apbwe.model import APBWEGenerator, ConvNeXtBlock
from torch import Tensor

from sigkit.errors import InputError
from sigkit.spectral import STFTSpec

PRECISIONS = ("bf16", "fp32")
# FastAPBWE(prelude="auto") on CUDA: the faster of the two implementations of each layer's prelude as measured
# by bench/apbwe.py (docs/benchmarks.md, AP-BWE section): the fused Triton kernel, 0.47 vs 0.73 ms per layer and
# 9,406x vs 8,151x real time end to end at 48 kHz batch 16 (H200, same run), outputs 2.6e-5 relative apart
AUTO_PRELUDE_CUDA = "triton"


def _dtype(name: str) -> torch.dtype:
    if name not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {name!r}")
    return torch.bfloat16 if name == "bf16" else torch.float32


def _linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``x @ w.T + b`` with ``x`` cast to ``w``'s dtype (bf16 weights: bf16 product, fp32 accumulation)."""
    return F.linear(x.to(w.dtype), w, b)


def front(
    x: Tensor,
    window: Tensor,
    n_fft: int,
    hop: int,
    w_mag: Tensor,
    b_mag: Tensor,
    ln_mag_w: Tensor,
    ln_mag_b: Tensor,
    w_pha: Tensor,
    b_pha: Tensor,
    ln_pha_w: Tensor,
    ln_pha_b: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """STFT and the input convolutions: wave ``(B, T)`` -> ``log_amp (B, F, N)``, streams ``(B, N, C)`` x 2.

    ``window`` is the zero-padded ``n_fft`` analysis window; ``w_*`` are the ``conv_pre_*`` weights
    ``(C, F, k)`` in the precision the convolution runs in (bf16 or fp32); the streams come out fp32.
    """
    X = torch.view_as_real(torch.stft(x, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True))
    re, im = X[..., 0], X[..., 1]  # real arithmetic from here on: Inductor generates no code for complex ops
    log_amp = torch.log(torch.sqrt(re * re + im * im) + 1e-4)
    phase = torch.atan2(im, re)
    pad = w_mag.shape[-1] // 2
    c = w_mag.shape[0]
    x_mag = F.conv1d(log_amp.to(w_mag.dtype), w_mag, b_mag, padding=pad).transpose(1, 2).float()
    x_pha = F.conv1d(phase.to(w_pha.dtype), w_pha, b_pha, padding=pad).transpose(1, 2).float()
    x_mag = F.layer_norm(x_mag, (c,), ln_mag_w, ln_mag_b, 1e-6)
    x_pha = F.layer_norm(x_pha, (c,), ln_pha_w, ln_pha_b, 1e-6)
    return log_amp, x_mag, x_pha


@torch.library.custom_op("sigkit_apbwe::linear_gelu_tanh", mutates_args=())
def linear_gelu_tanh(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``gelu_tanh(x @ w.T + b)`` in one matrix product: cuBLASLt's GELU epilogue on CUDA.

    ``x`` ``(M, K)``, ``w`` ``(N, K)``, ``b`` ``(N,)``, one dtype; returns ``(M, N)``. A custom op, so that
    ``torch.compile`` keeps the fused call instead of splitting it into a product and a GELU pass over the
    ``(M, N)`` result (which, for the ConvNeXt hidden layer, costs nearly as much as the product). GELU's
    tanh form differs from the exact (erf) one by at most 4.7e-4, a tenth of the bf16 rounding of the
    hidden activations it is applied to.

    >>> x, w, b = torch.randn(4, 8), torch.randn(6, 8), torch.randn(6)
    >>> ref = F.gelu(x @ w.T + b, approximate="tanh")
    >>> torch.allclose(linear_gelu_tanh(x, w, b), ref, atol=1e-5)
    True
    """
    if x.is_cuda:  # cuBLASLt's GELU_BIAS epilogue (the tanh form)
        return torch._addmm_activation(b, x, w.t(), use_gelu=True)
    return F.gelu(F.linear(x, w, b), approximate="tanh")  # (_addmm_activation uses the erf form on CPU)


@linear_gelu_tanh.register_fake
def _(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return x.new_empty(x.shape[0], w.shape[0])


def dwconv_norm(x: Tensor, dw_w: Tensor, dw_b: Tensor, ln_w: Tensor, ln_b: Tensor, dtype: torch.dtype) -> Tensor:
    """Depthwise convolution ('same', zero padded; ``dw_w`` ``(C, k)``, bias ``dw_b``) and LayerNorm over ``C``
    (eps 1e-6) of a time-major stream ``x`` ``(B, N, C)``, as 7 shifted multiply-adds that Inductor fuses with
    the LayerNorm; the result ``(B, N, C)`` in ``dtype``."""
    k, n, c = dw_w.shape[1], x.shape[1], x.shape[2]
    xp = F.pad(x, (0, 0, k // 2, k // 2))
    y = dw_b + xp[:, 0:n, :] * dw_w[:, 0]
    for j in range(1, k):
        y = y + xp[:, j : j + n, :] * dw_w[:, j]
    return F.layer_norm(y, (c,), ln_w, ln_b, 1e-6).to(dtype)


def products(h: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, fused_gelu: bool = False) -> Tensor:
    """A ConvNeXt branch after its LayerNorm: ``pw2(gelu(pw1(h)))`` on ``h`` ``(B, N, C)`` in ``w1``'s dtype,
    returned in ``w2``'s dtype. ``fused_gelu`` uses :func:`linear_gelu_tanh` for ``gelu(pw1(.))``; otherwise
    the exact GELU follows the product."""
    if fused_gelu:
        a = linear_gelu_tanh(h.reshape(-1, h.shape[-1]), w1, b1).reshape(*h.shape[:-1], -1)
    else:
        a = F.gelu(F.linear(h, w1, b1))
    return F.linear(a, w2, b2)


def branch(
    x: Tensor,
    dw_w: Tensor,
    dw_b: Tensor,
    ln_w: Tensor,
    ln_b: Tensor,
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    fused_gelu: bool = False,
) -> Tensor:
    """A ConvNeXt block's residual branch on a time-major stream ``x`` ``(B, N, C)`` fp32, before its
    layer scale: ``pw2(gelu(pw1(norm(dwconv(x)))))`` in ``w2``'s dtype. ``dw_w`` is ``(C, k)``; ``w1``/``w2``
    may be bf16 (then the products run in bf16 with fp32 accumulation). ``fused_gelu`` uses
    :func:`linear_gelu_tanh` for ``gelu(pw1(.))``; otherwise the exact GELU follows the product."""
    return products(dwconv_norm(x, dw_w, dw_b, ln_w, ln_b, w1.dtype), w1, b1, w2, b2, fused_gelu)


def block(x: Tensor, *w: Tensor, fused_gelu: bool = False) -> Tensor:
    """One ConvNeXt block on ``x`` ``(B, N, C)``, the same function as
    :class:`~sigkit.audio.apbwe.model.ConvNeXtBlock`: ``x + gamma * branch(x)``; ``w`` = :func:`branch`'s
    8 weights, then ``gamma`` ``(C,)``."""
    return x + w[8] * branch(x, *w[:8], fused_gelu=fused_gelu).float()


PRELUDES = ("triton", "inductor")


def prelude(
    x_mag: Tensor,
    x_pha: Tensor,
    y_mag: Tensor,
    y_pha: Tensor,
    g_mag: Tensor,
    g_pha: Tensor,
    w_mag: list[Tensor],
    w_pha: list[Tensor],
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A layer's work before its matrix products, in torch (Inductor fuses it when compiled).

    Streams ``x_*`` ``(B, N, C)`` fp32, the previous layer's branch outputs ``y_*`` and scales ``g_*`` ``(C,)``;
    ``w_*`` = depthwise weight ``(C, k)``, its bias, LayerNorm weight, bias. Returns the new streams
    (``x += g * y``, then ``mag += pha; pha += mag``) and their normalised ``LayerNorm(dwconv(x))`` in
    ``dtype``. :func:`sigkit.kernels.convnext_triton.convnext_prelude` is the same function in one kernel.
    """
    x_mag = x_mag + g_mag * y_mag.float()
    x_pha = x_pha + g_pha * y_pha.float()
    x_mag = x_mag + x_pha
    x_pha = x_pha + x_mag
    return x_mag, x_pha, dwconv_norm(x_mag, *w_mag, dtype), dwconv_norm(x_pha, *w_pha, dtype)


def _triton_prelude(
    x_mag: Tensor, x_pha: Tensor, y_mag: Tensor, y_pha: Tensor, g_mag: Tensor, g_pha: Tensor,
    w_mag: list[Tensor], w_pha: list[Tensor], dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`prelude` as the fused Triton kernel ``sigkit::convnext_prelude``."""
    from sigkit.kernels.convnext_triton import convnext_prelude

    return convnext_prelude(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, *w_mag, *w_pha, out_dtype=dtype)


def layer(
    x_mag: Tensor,
    x_pha: Tensor,
    y_mag: Tensor,
    y_pha: Tensor,
    g_mag: Tensor,
    g_pha: Tensor,
    w_mag: list[Tensor],
    w_pha: list[Tensor],
    fused_gelu: bool = False,
    prelude_impl: str = "inductor",
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One generator layer, with the previous layer's residual additions moved in.

    Takes the streams ``x_*`` ``(B, N, C)`` fp32 as the previous layer left them *before* its residual
    additions, with that layer's branch outputs ``y_*`` and layer scales ``g_*`` (zeros before the first
    layer); adds them (``x += g * y``), exchanges the streams (``mag += pha; pha += mag``) and computes this
    layer's branches (``w_*``: :func:`branch`'s 8 weights per stream). Returns the new ``x_mag, x_pha`` and
    ``y_mag, y_pha``. Moving each addition into the next call lets it fuse with the exchange, the depthwise
    convolution and the LayerNorm that read the same rows, so the fp32 streams cross memory once per layer:
    ``prelude_impl="inductor"`` leaves that fusion to ``torch.compile`` (:func:`prelude`), ``"triton"`` runs
    it as one hand-written kernel for both streams (:mod:`sigkit.kernels.convnext_triton`).
    """
    if prelude_impl not in PRELUDES:
        raise InputError(f"prelude must be one of {PRELUDES}, got {prelude_impl!r}")
    run = _triton_prelude if prelude_impl == "triton" else prelude
    x_mag, x_pha, h_mag, h_pha = run(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, w_mag[:4], w_pha[:4], w_mag[4].dtype)
    return (
        x_mag,
        x_pha,
        products(h_mag, *w_mag[4:], fused_gelu=fused_gelu),
        products(h_pha, *w_pha[4:], fused_gelu=fused_gelu),
    )


def back(
    x_mag: Tensor,
    x_pha: Tensor,
    y_mag: Tensor,
    y_pha: Tensor,
    g_mag: Tensor,
    g_pha: Tensor,
    log_amp: Tensor,
    window: Tensor,
    n_fft: int,
    hop: int,
    length: int,
    ln_mag_w: Tensor,
    ln_mag_b: Tensor,
    ln_pha_w: Tensor,
    ln_pha_b: Tensor,
    w_mag: Tensor,
    b_mag: Tensor,
    w_pha: Tensor,
    b_pha: Tensor,
) -> Tensor:
    """Last residual additions, output norms, heads and iSTFT: streams ``(B, N, C)`` (with the last layer's
    pending ``x += g * y``, as :func:`layer` leaves them), ``log_amp (B, F, N)`` -> wave ``(B, length)``.

    ``w_pha``/``b_pha`` are ``linear_post_pha_r`` and ``linear_post_pha_i`` stacked ``(2F, C)``: one product.
    The log-amplitude residual and ``atan2`` are computed in fp32 whatever the heads' precision.
    """
    c, f = x_mag.shape[-1], log_amp.shape[-2]
    x_mag = x_mag + g_mag * y_mag.float()
    x_pha = x_pha + g_pha * y_pha.float()
    h_mag = F.layer_norm(x_mag, (c,), ln_mag_w, ln_mag_b, 1e-6)
    h_pha = F.layer_norm(x_pha, (c,), ln_pha_w, ln_pha_b, 1e-6)
    amp = torch.exp(log_amp.transpose(1, 2) + _linear(h_mag, w_mag, b_mag).float())  # (B, N, F)
    ri = _linear(h_pha, w_pha, b_pha).float()
    phase_wb = torch.atan2(ri[..., f:], ri[..., :f])
    # (B, N, F) complex, bins innermost as torch.istft's inverse FFT reads them; = torch.polar(amp, phase_wb)
    spec = torch.view_as_complex(torch.stack((amp * torch.cos(phase_wb), amp * torch.sin(phase_wb)), dim=-1))
    return torch.istft(spec.transpose(1, 2), n_fft, hop, window=window, center=True, length=length)


def _block_weights(blk: ConvNeXtBlock, dtype: torch.dtype) -> list[Tensor]:
    return [
        blk.dwconv.weight[:, 0, :],
        blk.dwconv.bias,
        blk.norm.weight,
        blk.norm.bias,
        blk.pwconv1.weight.to(dtype),
        blk.pwconv1.bias.to(dtype),
        blk.pwconv2.weight.to(dtype),
        blk.pwconv2.bias.to(dtype),
    ]


class FastAPBWE:
    """Narrowband wave ``(B, T)`` at the target rate -> wideband wave ``(B, T)``, the fast way.

    Computes the same function as ``from_amp_phase(*generator(*amp_phase(x)))`` with the official STFT
    (to the precision chosen), for a generator whose weights are snapshot at construction.

    Args:
        generator: the trained :class:`~sigkit.audio.apbwe.model.APBWEGenerator`.
        spec: its STFT (``STFTSpec(1024, 80, 320)`` official; hann window, centred, reflect).
        trunk, pre, heads: precision (``"bf16"`` or ``"fp32"``) of the ConvNeXt blocks' matrix products,
            of the input convolutions and of the output projections (``"fp32"`` products use TF32 tensor
            cores on CUDA, enabled only while this path runs).
        gelu: ``"fused"`` (GELU's tanh form in the first pointwise product's epilogue,
            :func:`linear_gelu_tanh`) or ``"exact"`` (erf GELU as the official model, a separate pass).
        compile: compile ``front``/``layer``/``back`` with ``torch.compile(mode=compile_mode)``.
        compile_mode: ``"default"`` (cuBLAS products: on an H200 they beat Inductor's autotuned Triton
            templates, 0.23 vs 0.31 ms and 0.21 vs 0.25 ms for the two block products at batch 16 x 10 s,
            48 kHz) or ``"max-autotune-no-cudagraphs"`` (minutes of autotuning per shape).
        cuda_graph: on CUDA, capture the whole pipeline once per input shape and replay it.
        prelude: each layer's residual additions, stream exchange, depthwise convolutions and LayerNorms:
            ``"triton"`` (one fused kernel for both streams, :mod:`sigkit.kernels.convnext_triton`; CUDA, or
            the CPU under ``TRITON_INTERPRET=1``), ``"inductor"`` (torch code that ``torch.compile`` fuses) or
            ``"auto"`` (:data:`AUTO_PRELUDE_CUDA` on CUDA, ``"inductor"`` elsewhere).

    Shapes: ``(B, T)`` float -> ``(B, T)`` float32 on the same device. The first call for a new shape
    compiles and captures (7-17 s on an H200); later calls replay. The CUDA-graph output buffer is
    reused: the returned tensor is overwritten by the next call of the same shape (clone it to keep it).
    """

    def __init__(
        self,
        generator: APBWEGenerator,
        spec: STFTSpec = STFTSpec(1024, 80, 320),
        *,
        trunk: str = "bf16",
        pre: str = "bf16",
        heads: str = "fp32",
        gelu: str = "fused",
        compile: bool = True,
        compile_mode: str = "default",
        cuda_graph: bool = True,
        prelude: str = "auto",
    ) -> None:
        if spec.window != "hann" or not spec.center or spec.pad_mode != "reflect":
            raise InputError(f"FastAPBWE supports the official STFT (hann, centred, reflect), got {spec}")
        if gelu not in ("fused", "exact"):
            raise InputError(f"gelu must be 'fused' or 'exact', got {gelu!r}")
        if prelude not in (*PRELUDES, "auto"):
            raise InputError(f"prelude must be 'triton', 'inductor' or 'auto', got {prelude!r}")
        self.spec = spec
        self.precision = {"trunk": trunk, "pre": pre, "heads": heads, "gelu": gelu}
        self.fused_gelu = gelu == "fused"
        dt_trunk, dt_pre, dt_heads = _dtype(trunk), _dtype(pre), _dtype(heads)
        g = generator
        device = next(g.parameters()).device
        with torch.no_grad():
            self.window = spec.padded_window(device, torch.float32).clone()
            self.w_front = [
                t.detach().clone()
                for t in (
                    g.conv_pre_mag.weight.to(dt_pre),
                    g.conv_pre_mag.bias.to(dt_pre),
                    g.norm_pre_mag.weight,
                    g.norm_pre_mag.bias,
                    g.conv_pre_pha.weight.to(dt_pre),
                    g.conv_pre_pha.bias.to(dt_pre),
                    g.norm_pre_pha.weight,
                    g.norm_pre_pha.bias,
                )
            ]
            self.w_layers = [
                ([t.detach().clone() for t in _block_weights(bm, dt_trunk)],
                 [t.detach().clone() for t in _block_weights(bp, dt_trunk)])
                for bm, bp in zip(g.convnext_mag, g.convnext_pha, strict=True)
            ]
            # layer scales: the ones each layer's residual additions use (zeros before the first layer)
            self.gammas = [(torch.zeros_like(g.convnext_mag[0].gamma), torch.zeros_like(g.convnext_pha[0].gamma))]
            self.gammas += [(bm.gamma.detach().clone(), bp.gamma.detach().clone())
                            for bm, bp in zip(g.convnext_mag, g.convnext_pha, strict=True)]
            self.w_back = [
                t.detach().clone()
                for t in (
                    g.norm_post_mag.weight,
                    g.norm_post_mag.bias,
                    g.norm_post_pha.weight,
                    g.norm_post_pha.bias,
                    g.linear_post_mag.weight.to(dt_heads),
                    g.linear_post_mag.bias.to(dt_heads),
                    torch.cat([g.linear_post_pha_r.weight, g.linear_post_pha_i.weight]).to(dt_heads),
                    torch.cat([g.linear_post_pha_r.bias, g.linear_post_pha_i.bias]).to(dt_heads),
                )
            ]
        self.device = device
        if prelude == "auto":
            prelude = AUTO_PRELUDE_CUDA if device.type == "cuda" else "inductor"
        if prelude == "triton":
            if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
                raise InputError("prelude='triton' needs a CUDA generator (or TRITON_INTERPRET=1 on the CPU)")
            import sigkit.kernels.convnext_triton  # noqa: F401 - registers sigkit::convnext_prelude
        self.prelude = prelude
        self.cuda_graph = cuda_graph and device.type == "cuda"
        if compile:
            kw = {"dynamic": False} if compile_mode == "default" else {"dynamic": False, "mode": compile_mode}
            self._front, self._layer, self._back = (torch.compile(fn, **kw) for fn in (front, layer, back))
        else:
            self._front, self._layer, self._back = front, layer, back
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}

    def run(self, x: Tensor) -> Tensor:
        """The pipeline without CUDA graphs (what the graph captures): ``(B, T) -> (B, T)``."""
        s = self.spec
        with _tf32(self.device), _shape_per_compile():
            log_amp, x_mag, x_pha = self._front(x.float(), self.window, s.n_fft, s.hop, *self.w_front)
            # two buffers: one aliased pair would be a different graph for torch.compile than later layers'
            y_mag, y_pha = (torch.zeros(x_mag.shape, device=x_mag.device, dtype=self.w_layers[0][0][6].dtype) for _ in "mp")
            for (w_mag, w_pha), (g_mag, g_pha) in zip(self.w_layers, self.gammas, strict=False):
                x_mag, x_pha, y_mag, y_pha = self._layer(
                    x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, w_mag, w_pha, self.fused_gelu, self.prelude
                )
            g_mag, g_pha = self.gammas[-1]
            return self._back(
                x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, log_amp, self.window, s.n_fft, s.hop, x.shape[-1], *self.w_back
            )

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or not x.is_floating_point():
            raise InputError(f"FastAPBWE expects a float waveform batch (B, T), got {tuple(x.shape)}")
        if x.shape[-1] <= self.spec.n_fft // 2:
            raise InputError(f"FastAPBWE: {x.shape[-1]} samples is shorter than one STFT frame")
        if not self.cuda_graph:
            return self.run(x)
        key = tuple(x.shape)
        if key not in self._graphs:
            self._graphs[key] = self._capture(x)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def _capture(self, x: Tensor) -> tuple[torch.cuda.CUDAGraph, Tensor, Tensor]:
        static_in = x.detach().float().clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):  # compile, autotune and build cuFFT plans outside the capture
                self.run(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.run(static_in)
        return graph, static_in, static_out


# Shapes one FastAPBWE may compile: it compiles front/layer/back once per input shape by design (static shapes
# keep cuBLAS products and per-shape CUDA graphs), while dynamo's default of 8 compilations per function would
# silently fall back to eager at the 9th shape, whose torch.istft then fails inside the CUDA-graph capture.
MAX_SHAPES = 64


@contextlib.contextmanager
def _shape_per_compile():
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    with dynamo_config.patch(**{name: max(MAX_SHAPES, getattr(dynamo_config, name))}):
        yield


@contextlib.contextmanager
def _tf32(device: torch.device):
    """fp32 matrix products on TF32 tensor cores (CUDA), restored afterwards."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def reference_pipeline(generator: APBWEGenerator, spec: STFTSpec = STFTSpec(1024, 80, 320)) -> Callable[[Tensor], Tensor]:
    """The official inference, fp32 eager: ``torch.stft`` -> generator -> ``torch.istft`` (the baseline)."""
    from sigkit.spectral import amp_phase, from_amp_phase

    def run(x: Tensor) -> Tensor:
        log_amp, phase = amp_phase(x, spec, backend="reference")
        a, p, _ = generator(log_amp, phase)
        return from_amp_phase(a, p, spec, length=x.shape[-1], backend="reference")

    return run
