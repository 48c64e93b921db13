"""The fused ConvNeXt prelude kernel (``sigkit::convnext_prelude``) against the torch prelude of AP-BWE's fast path.

The kernel cases (``TestKernel``) need CUDA or Triton's interpreter. On the CPU, ``test_kernel_cases_in_interpreter``
runs them in a fresh interpreter with ``TRITON_INTERPRET=1`` (Triton reads it when the kernels are decorated, and
an xdist worker may already have imported Triton natively); ``--device cuda`` runs them natively.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from sigkit.audio.apbwe.fast import layer, prelude  # noqa: E402
from sigkit.kernels.convnext_triton import CONFIGS, DEFAULT_CONFIG, convnext_prelude  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def _inputs(b: int, n: int, c: int, k: int, y_dtype: torch.dtype, device, seed: int) -> dict:
    """Random streams of order 1, branch outputs, scales, and per-stream (dw weight, bias, LN weight, bias)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, shift=0.0):
        return (shift + scale * torch.randn(*shape, generator=g)).to(device)

    w = [[r(c, k, scale=0.3), r(c, scale=0.1), r(c, scale=0.2, shift=1.0), r(c, scale=0.1)] for _ in "mp"]
    return dict(x=[r(b, n, c, shift=0.5), r(b, n, c)], y=[r(b, n, c).to(y_dtype), r(b, n, c).to(y_dtype)],
                g=[r(c, scale=0.1), r(c, scale=0.1)], w=w)


def _kernel(d: dict, out_dtype: torch.dtype, **launch):
    return convnext_prelude(*d["x"], *d["y"], *d["g"], *d["w"][0], *d["w"][1], out_dtype=out_dtype, **launch)


def _reference(d: dict, dtype: torch.dtype, out_dtype: torch.dtype):
    """The torch prelude (``sigkit.audio.apbwe.fast.prelude``) on copies in ``dtype``."""
    cast = [[t.to(dtype) for t in ts] for ts in (d["x"], d["y"], d["g"])]
    w = [[t.to(dtype) for t in ws] for ws in d["w"]]
    return prelude(*cast[0], *cast[1], *cast[2], w[0], w[1], out_dtype)


def _ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in bf16 units in the last place (same-sign values)."""
    return (a.view(torch.int16).int() - b.view(torch.int16).int()).abs()


kernel_only = pytest.mark.skipif(not (INTERPRET or torch.cuda.is_available()), reason="needs CUDA or TRITON_INTERPRET=1")


# (B, N, C, k, frames per program): several programs per item with a partial last one, halos crossing program
# boundaries, N shorter than the kernel, C not a power of two, other odd kernel sizes
SHAPES = [(2, 11, 24, 7, 4), (1, 3, 5, 7, 8), (2, 21, 64, 7, 8), (1, 9, 16, 3, 2), (2, 6, 8, 5, 4)]
FORMS = ["tile", "rows"]
# the rows form is k = 7 only (other k run the tile form whatever is asked)
BF, F32 = torch.bfloat16, torch.float32
CASES = [*[("tile", s, BF) for s in SHAPES], ("tile", SHAPES[0], F32), *[("rows", s, BF) for s in SHAPES[:3]],
         ("rows", SHAPES[0], F32)]


@kernel_only
class TestKernel:
    @pytest.fixture
    def dev(self) -> str:
        return "cpu" if INTERPRET else "cuda"

    @pytest.mark.parametrize("form,shape,y_dtype", CASES, ids=[f"{f}-{s}-{str(d)[6:]}" for f, s, d in CASES])
    def test_matches_float64_reference(self, dev, shape, y_dtype, form):
        b, n, c, k, bt = shape
        d = _inputs(b, n, c, k, y_dtype, dev, seed=sum(shape))
        x_mag, x_pha, h_mag, h_pha = _kernel(d, torch.float32, config=(form, bt, 4))
        ref = _reference(d, torch.float64, torch.float64)
        for got, want in zip((x_mag, x_pha, h_mag, h_pha), ref, strict=True):
            assert got.shape == (b, n, c) and got.dtype == torch.float32
            err = float((got.double().cpu() - want.cpu()).norm() / want.norm())
            assert err < 1e-6, err
            assert torch.allclose(got.double().cpu(), want.cpu(), rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize("form", FORMS)
    @pytest.mark.parametrize("shape", SHAPES[::2][:2], ids=[str(s) for s in SHAPES[::2][:2]])
    def test_bf16_outputs_are_the_torch_path_rounded(self, dev, shape, form):
        """fp32 streams equal the torch fp32 path to 1e-6 relative; bf16 outputs within one bf16 rounding of it."""
        b, n, c, k, bt = shape
        d = _inputs(b, n, c, k, torch.bfloat16, dev, seed=7 * sum(shape))
        got = _kernel(d, torch.bfloat16, config=(form, bt, 4))
        ref32 = _reference(d, torch.float32, torch.float32)
        ref16 = _reference(d, torch.float32, torch.bfloat16)
        torch.testing.assert_close(got[0], ref32[0], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(got[1], ref32[1], rtol=1e-6, atol=1e-6)
        for h, r32, r16 in zip(got[2:], ref32[2:], ref16[2:], strict=True):
            assert h.dtype == torch.bfloat16
            assert int(_ulps(h, r16).max()) <= 1  # only where the fp32 values straddle a rounding boundary
            assert float((h != r16).float().mean()) < 0.02
            assert float(((h.float() - r32).abs() / r32.abs().clamp_min(1e-3)).max()) <= 2**-8

    def test_inputs_untouched_and_launch_shapes_agree(self, dev):
        d = _inputs(2, 19, 32, 7, torch.bfloat16, dev, seed=3)
        before = [t.clone() for t in (*d["x"], *d["y"])]
        configs = [("tile", 2, 4), ("tile", 16, 4), ("rows", 4, 4), ("rows", 32, 2)]
        outs = [_kernel(d, torch.bfloat16, config=cfg) for cfg in configs]
        default = _kernel(d, torch.bfloat16)  # the timed choice on CUDA, DEFAULT_CONFIG in the interpreter
        for o in (*outs[1:], default):
            for a, b in zip(outs[0], o, strict=True):
                assert torch.equal(a, b)
        for a, b in zip(before, (*d["x"], *d["y"]), strict=True):
            assert torch.equal(a, b)
        d["x"][0].requires_grad_(True)  # refused with autograd on (TestRefusals), fine without
        with torch.no_grad():
            assert torch.equal(_kernel(d, torch.bfloat16, config=("rows", 8, 4))[2], outs[0][2])
        assert DEFAULT_CONFIG in CONFIGS

    @pytest.mark.parametrize("form", FORMS)
    def test_zero_scales_and_zero_padding(self, dev, form):
        """First layer (g = 0): the streams are the exchange of x alone; the conv sees zeros past both ends."""
        d = _inputs(1, 6, 8, 7, torch.bfloat16, dev, seed=5)
        d["g"] = [torch.zeros_like(t) for t in d["g"]]
        d["w"][0][0] = torch.zeros_like(d["w"][0][0])
        d["w"][0][0][:, 0] = 1.0  # tap 0 reads frame t - 3: zero for the first 3 frames
        d["w"][0][1] = torch.zeros_like(d["w"][0][1])
        d["w"][0][2] = torch.ones_like(d["w"][0][2])
        x_mag, x_pha, h_mag, _ = _kernel(d, torch.float32, config=(form, 4, 4))
        torch.testing.assert_close(x_mag, d["x"][0] + d["x"][1], rtol=0, atol=0)
        torch.testing.assert_close(x_pha, d["x"][1] + x_mag, rtol=0, atol=0)
        assert torch.equal(h_mag[0, :3], d["w"][0][3].expand(3, -1))  # LayerNorm of zeros = its bias
        z = x_mag[0, :3]
        want = (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-6) + d["w"][0][3]
        torch.testing.assert_close(h_mag[0, 3:], want, rtol=1e-5, atol=1e-5)

    def test_fake_impl_and_compiled_layer(self, dev):
        d = _inputs(2, 10, 16, 7, torch.bfloat16, dev, seed=11)
        args = (*d["x"], *d["y"], *d["g"], *d["w"][0], *d["w"][1], 1e-6, torch.bfloat16, "rows", 4, 4)
        torch.library.opcheck(torch.ops.sigkit.convnext_prelude.default, args,
                              test_utils=("test_schema", "test_faketensor"))
        # a whole layer traced through the fake impl (aot_eager: no code generation, so it runs on the CPU too)
        g = torch.Generator().manual_seed(12)
        pw = [torch.randn(64, 16, generator=g), torch.randn(64, generator=g),
              torch.randn(16, 64, generator=g), torch.randn(16, generator=g)]
        w_mag, w_pha = [*d["w"][0], *[t.to(dev) for t in pw]], [*d["w"][1], *[t.to(dev) for t in pw]]
        with torch.inference_mode():
            want = layer(*d["x"], *d["y"], *d["g"], w_mag, w_pha, True, "triton")
            got = torch.compile(layer, backend="aot_eager", fullgraph=True)(*d["x"], *d["y"], *d["g"], w_mag, w_pha, True, "triton")
            ind = layer(*d["x"], *d["y"], *d["g"], w_mag, w_pha, True, "inductor")
        for a, b, c in zip(got, want, ind, strict=True):
            assert torch.equal(a, b)
            torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(INTERPRET, reason="the driver itself")
def test_kernel_cases_in_interpreter(request):
    if request.config.getoption("--device") != "cpu":
        pytest.skip("--device cuda runs TestKernel natively")
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    here = Path(__file__)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-W", "ignore::UserWarning",
           f"{here}::TestKernel"]
    proc = subprocess.run(cmd, cwd=here.parents[2], env=env, capture_output=True, text=True, timeout=600)
    report = proc.stdout[-8000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, report
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, report


@pytest.mark.skipif(INTERPRET, reason="compiles for the GPU")
def test_rows_kernel_carries_every_row_through_its_loop():
    """The rows form keeps 6 exchanged rows per stream and the next row's 4 loads across loop steps. Triton finds a
    loop's carried values by comparing handles before and after a dry run of the body, so history rows that all
    start as one tensor are silently not carried (seen on an H200: zero streams out; the interpreter, running
    plain Python, cannot show it). Compiled for an sm_90 target without a GPU: the loop must carry all 16."""
    import re

    import triton
    from sigkit.kernels.convnext_triton import _prelude_rows_kernel
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    sig = {n: "*fp32" for n in "XM XP GM GP WM BM LWM LBM WP BP LWP LBP OXM OXP".split()}
    sig.update({n: "*bf16" for n in ("YM", "YP", "HM", "HP")}, N="i32", C="i32", eps="fp32",
               BLOCK_T="constexpr", BLOCK_C="constexpr", RTNE_BY_HAND="constexpr")
    src = ASTSource(_prelude_rows_kernel, sig, constexprs={"BLOCK_T": 32, "BLOCK_C": 512, "RTNE_BY_HAND": False})
    try:
        ttir = triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm["ttir"]
    except Exception as err:  # noqa: BLE001 - no CUDA back end (ptxas) in this Triton install
        pytest.skip(f"cannot compile for sm_90 here: {type(err).__name__}")
    loops = re.findall(r"scf\.for .*? iter_args\((.*?)\)\s*->", ttir)
    assert len(loops) == 1, ttir[-2000:]
    assert loops[0].count("=") == 16, loops[0]


class TestRefusals:
    def _d(self):
        return _inputs(1, 5, 8, 7, torch.bfloat16, "cpu", seed=1)

    def test_requires_grad(self):
        d = self._d()
        d["x"][0].requires_grad_(True)
        with pytest.raises(RuntimeError, match="inference only"):
            _kernel(d, torch.bfloat16)

    def test_shapes_and_dtypes(self):
        d = self._d()
        d["y"][1] = d["y"][1][:, :4]
        with pytest.raises(ValueError, match="y_pha"):
            _kernel(d, torch.bfloat16)
        d = self._d()
        d["x"][0] = d["x"][0].double()
        with pytest.raises(ValueError, match="float32"):
            _kernel(d, torch.bfloat16)
        d = self._d()
        d["w"][1][0] = d["w"][1][0][:, :6]
        with pytest.raises(ValueError, match="k odd"):
            _kernel(d, torch.bfloat16)
        d = self._d()
        d["x"] = [t.expand(1, 5, 8).reshape(1, 5, 8).repeat(1, 1, 129) for t in d["x"]]
        with pytest.raises(ValueError, match="C <= 1024"):
            _kernel(d, torch.bfloat16)
        with pytest.raises(ValueError, match="config"):
            _kernel(self._d(), torch.bfloat16, config=("slab", 4, 4))

    @pytest.mark.skipif(INTERPRET, reason="the interpreter runs CPU tensors")
    def test_cpu_tensors_outside_the_interpreter(self):
        with pytest.raises(RuntimeError, match="CUDA tensors"):
            _kernel(self._d(), torch.bfloat16, config=("tile", 4, 4))

