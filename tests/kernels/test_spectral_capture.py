"""CUDA-graph safety of the fused spectral kernels (CUDA only: ``pytest tests/kernels --device cuda``).

The kernels read cached DFT tables. They used to be built by the first call, with the calling
thread's allocator: inside ``torch.compile(mode="reduce-overhead")`` that first call is a cudagraph
warm-up whose allocations go to the graph's memory pool, which is handed to other tensors later
(wrong results), and inside a capture the host-to-device copy fails. These tests start from an empty
table cache every time, so the first call of every geometry happens inside the graph machinery.
"""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")


@pytest.fixture(params=["triton", "cuda"])
def cuda(request, monkeypatch):
    """The kernel module with cold caches, its public functions bound to one implementation."""
    if request.config.getoption("--device") != "cuda" or not torch.cuda.is_available():
        pytest.skip("CUDA-graph tests need --device cuda")
    import functools

    from sigkit.kernels import _spectral_cuda, device_cache
    from sigkit.kernels import spectral as ks

    if request.param == "cuda":
        if not _spectral_cuda.available():
            pytest.skip(_spectral_cuda.unavailable_reason())
        _spectral_cuda._KERNELS.clear()  # compiled and loaded inside the capture too
        for name in ("amp_phase", "from_amp_phase", "log_mel"):
            monkeypatch.setattr(ks, name, functools.partial(getattr(ks, name), impl="cuda"))
    device_cache._CACHE.clear()  # cold caches: first use of every table inside the capture
    return ks


def _signal(B, n, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return 0.3 * torch.randn(B, n, device="cuda", generator=g)


def test_manual_cuda_graph_capture_with_cold_tables(cuda):
    from sigkit.spectral import STFTSpec

    ks = cuda
    spec = STFTSpec(1024, 80, 320)
    x = _signal(2, 8000, 0)
    static_out = {}
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(s), torch.cuda.graph(graph, stream=s, capture_error_mode="thread_local"):
        la, ph = ks.amp_phase(x, spec)
        static_out["y"] = ks.from_amp_phase(la, ph, spec, length=x.shape[-1])
    torch.cuda.current_stream().wait_stream(s)
    for seed in (1, 2):
        x.copy_(_signal(2, 8000, seed))
        graph.replay()
        torch.cuda.synchronize()
        y_eager = ks.from_amp_phase(*ks.amp_phase(x, spec), spec, length=x.shape[-1])
        torch.testing.assert_close(static_out["y"], y_eager, rtol=1e-5, atol=1e-5)


def test_reduce_overhead_compile_many_shapes_cold(cuda):
    from sigkit.spectral import STFTSpec, mel_filterbank

    ks = cuda
    spec = STFTSpec(1024, 80, 320)
    fb = mel_filterbank(16000, 512, 40, device="cuda")
    spec2 = STFTSpec(512, 128, 512)

    def body(v):
        a, p = ks.amp_phase(v, spec)
        y = ks.from_amp_phase(a * 0.9, p, spec, length=v.shape[-1])
        return y, ks.log_mel(v, spec2, fb, mode="db")

    fn = torch.compile(body, mode="reduce-overhead", dynamic=False)
    shapes = [(4, 48000), (2, 16000), (1, 24000), (3, 9600)]
    for _ in range(2):  # second round replays the recorded graphs
        for i, (B, n) in enumerate(shapes):
            x = _signal(B, n, i)
            for _ in range(3):  # warm-up, record, replay
                y, lm = fn(x)
                y, lm = y.clone(), lm.clone()
            y_e, lm_e = body(x)
            torch.testing.assert_close(y, y_e, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(lm, lm_e, rtol=1e-5, atol=1e-4)
