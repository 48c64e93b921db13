"""AP-BWE fast inference path: same function as the official pipeline in fp32, bounded bf16 error, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from sigkit.audio.apbwe.fast import FastAPBWE, back, block, front, layer, reference_pipeline
from sigkit.audio.apbwe.model import APBWEGenerator

from sigkit.metrics import lsd
from sigkit.spectral import STFTSpec, amp_phase

SPEC = STFTSpec(1024, 80, 320)


@pytest.fixture(scope="module")
def gen() -> APBWEGenerator:
    torch.manual_seed(0)
    g = APBWEGenerator(n_bins=513, channels=32, layers=2).eval()
    with torch.no_grad():  # a trained model's log-amplitude residual is large where it fills the band
        g.linear_post_mag.bias[256:] += 4.0
        for head in (g.linear_post_mag, g.linear_post_pha_r, g.linear_post_pha_i):
            head.weight.mul_(2.0)
    return g


@pytest.fixture(scope="module")
def wave() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    t = torch.arange(8000) / 16000
    tone = torch.sin(2 * torch.pi * 440 * t) + 0.5 * torch.sin(2 * torch.pi * 1250 * t)
    return 0.3 * tone + 0.01 * torch.randn(3, 8000, generator=g)


class TestFastAPBWE:
    def test_fp32_equals_official_pipeline(self, gen, wave):
        with torch.inference_mode():
            ref = reference_pipeline(gen, SPEC)(wave)
            out = FastAPBWE(gen, SPEC, trunk="fp32", pre="fp32", heads="fp32", gelu="exact", compile=False)(wave)
            tanh = FastAPBWE(gen, SPEC, trunk="fp32", pre="fp32", heads="fp32", gelu="fused", compile=False)(wave)
        assert out.shape == wave.shape and out.dtype == torch.float32
        torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
        # GELU's tanh form moves the output far less than bf16 rounding does (next test)
        assert 0 < float(lsd(tanh, ref).mean()) < 2e-3

    def test_front_layer_back_are_the_generator(self, gen, wave):
        """The three pieces reproduce the generator's own log-amplitude and phase (before the iSTFT)."""
        fast = FastAPBWE(gen, SPEC, trunk="fp32", pre="fp32", heads="fp32", gelu="exact", compile=False)
        with torch.inference_mode():
            log_amp, x_mag, x_pha = front(wave, fast.window, 1024, 80, *fast.w_front)
            torch.testing.assert_close(log_amp, amp_phase(wave, SPEC)[0], atol=1e-5, rtol=1e-5)
            h_mag, h_pha = gen.trunk(*amp_phase(wave, SPEC))
            y_mag = y_pha = torch.zeros_like(x_mag)
            for (w_mag, w_pha), (g_mag, g_pha) in zip(fast.w_layers, fast.gammas, strict=False):
                x_mag, x_pha, y_mag, y_pha = layer(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, w_mag, w_pha)
            g_mag, g_pha = fast.gammas[-1]
            torch.testing.assert_close(gen.norm_post_mag(x_mag + g_mag * y_mag), h_mag, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(gen.norm_post_pha(x_pha + g_pha * y_pha), h_pha, atol=1e-4, rtol=1e-4)
            y = back(x_mag, x_pha, y_mag, y_pha, g_mag, g_pha, log_amp, fast.window, 1024, 80, wave.shape[-1], *fast.w_back)
        assert y.shape == wave.shape

    def test_block_is_convnext_block(self, gen):
        blk = gen.convnext_mag[0]
        x = torch.randn(2, 9, 32)
        w = FastAPBWE(gen, SPEC, trunk="fp32", compile=False).w_layers[0][0] + [blk.gamma]
        with torch.no_grad():
            torch.testing.assert_close(block(x, *w), blk(x.transpose(1, 2)).transpose(1, 2), atol=1e-5, rtol=1e-5)
            w[4] = 30 * w[4]  # pre-activations of order 1, where GELU's tanh and erf forms differ
            diff = (block(x, *w, fused_gelu=True) - block(x, *w)).abs().max()
        assert 0 < diff < 1e-3

    def test_bf16_error_is_small_and_fp32_heads_reduce_it(self, gen, wave):
        with torch.inference_mode():
            ref = reference_pipeline(gen, SPEC)(wave)
            all_bf16 = FastAPBWE(gen, SPEC, trunk="bf16", pre="bf16", heads="bf16", compile=False)(wave)
            fp32_heads = FastAPBWE(gen, SPEC, trunk="bf16", pre="bf16", heads="fp32", compile=False)(wave)
        d_bf16, d_heads = float(lsd(all_bf16, ref).mean()), float(lsd(fp32_heads, ref).mean())
        assert 0 < d_heads < d_bf16 < 0.2
        rel = (fp32_heads - ref).norm() / ref.norm()
        assert 1e-5 < rel < 0.05

    def test_refusals(self, gen):
        with pytest.raises(ValueError, match="precision"):
            FastAPBWE(gen, SPEC, heads="fp16", compile=False)
        with pytest.raises(ValueError, match="gelu"):
            FastAPBWE(gen, SPEC, gelu="erf", compile=False)
        with pytest.raises(ValueError, match="official STFT"):
            FastAPBWE(gen, STFTSpec(1024, 80, 320, window="hamming"), compile=False)
        fast = FastAPBWE(gen, SPEC, compile=False)
        with pytest.raises(ValueError, match=r"\(B, T\)"):
            fast(torch.randn(8000))
        with pytest.raises(ValueError, match="shorter than one STFT frame"):
            fast(torch.randn(1, 400))

    def test_prelude_choice(self, gen):
        with pytest.raises(ValueError, match="prelude"):
            FastAPBWE(gen, SPEC, prelude="cuda", compile=False)
        if os.environ.get("TRITON_INTERPRET") != "1":
            with pytest.raises(ValueError, match="CUDA generator"):
                FastAPBWE(gen, SPEC, prelude="triton", compile=False)
        assert FastAPBWE(gen, SPEC, compile=False).prelude == "inductor"  # "auto" off CUDA


TRITON_PRELUDE = textwrap.dedent("""
    import json, torch
    from sigkit.audio.apbwe.fast import FastAPBWE
    from sigkit.audio.apbwe.model import APBWEGenerator
    from sigkit.metrics import lsd
    from sigkit.spectral import STFTSpec
    torch.manual_seed(0)
    gen = APBWEGenerator(n_bins=513, channels=32, layers=3).eval()
    with torch.no_grad():  # layer scales of a trained model's size, so every block matters
        for blk in (*gen.convnext_mag, *gen.convnext_pha):
            blk.gamma.fill_(0.3)
    g = torch.Generator().manual_seed(1)
    wave = 0.3 * torch.sin(2 * torch.pi * 440 * torch.arange(4000) / 16000) + 0.02 * torch.randn(2, 4000, generator=g)
    out = {}
    with torch.inference_mode():
        for prec in ("fp32", "bf16"):
            kw = dict(trunk=prec, pre=prec, heads="fp32", compile=False)
            tri = FastAPBWE(gen, STFTSpec(1024, 80, 320), prelude="triton", **kw)
            ind = FastAPBWE(gen, STFTSpec(1024, 80, 320), prelude="inductor", **kw)
            a, b = tri(wave), ind(wave)
            out[prec] = dict(prelude=tri.prelude, shape=list(a.shape), rel=float((a - b).norm() / b.norm()),
                             lsd=float(lsd(a, b).mean()), finite=bool(torch.isfinite(a).all()))
    print(json.dumps(out))
""")


def test_triton_prelude_is_the_inductor_prelude_in_interpreter():
    """FastAPBWE(prelude="triton") == prelude="inductor": fp32 trunk to 1e-5, bf16 trunk to a few bf16 roundings
    (the kernel's bf16 LayerNorm outputs equal torch's except where their fp32 values straddle a rounding)."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore")
    res = subprocess.run([sys.executable, "-c", TRITON_PRELUDE], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads(res.stdout.strip().splitlines()[-1])
    for prec in ("fp32", "bf16"):
        assert r[prec]["prelude"] == "triton" and r[prec]["shape"] == [2, 4000] and r[prec]["finite"], r
    assert r["fp32"]["rel"] < 1e-5, r
    assert r["bf16"]["rel"] < 1e-3 and r["bf16"]["lsd"] < 1e-3, r


def test_apbwe_fast_is_the_models_fast_path(gen, wave):
    from sigkit.audio.apbwe.infer import APBWE

    model = APBWE(gen, sr_in=8000, sr_out=16000)
    with torch.inference_mode():
        a = model.fast(compile=False)(wave)
        b = FastAPBWE(gen, SPEC, compile=False)(wave)
    torch.testing.assert_close(a, b)
    assert model.fast(compile=False).precision == {"trunk": "bf16", "pre": "bf16", "heads": "fp32", "gelu": "fused"}


def test_compiles_every_shape_past_dynamos_default_limit(gen, monkeypatch):
    # dynamo stops compiling a function after 8 shapes and runs it eagerly; on CUDA that eager torch.istft
    # then failed inside the graph capture (seen on an H200 with 9+ batch shapes of `sigkit bwe --fast`)
    import functools

    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()
    fast = FastAPBWE(gen, SPEC, compile=True, heads="fp32", trunk="fp32", pre="fp32")
    before = counters["stats"]["unique_graphs"]
    for n in range(10):
        fast(torch.randn(1 + n % 2, 1600 + 80 * n))
    assert counters["stats"]["unique_graphs"] - before == 3 * 10  # front, layer and back for each shape
