"""The ``backend="auto"`` policy of :mod:`sigkit.spectral._backend` (runs on CPU: it is plain Python).

The thresholds come from the H200 benchmark in docs/benchmarks.md ("Spectral kernels"); these tests pin
the op/shape classes the table shows the kernels winning and losing, so a policy edit that contradicts
the measurements fails here.
"""
from __future__ import annotations

import pytest
import torch

from sigkit.errors import InputError
from sigkit.spectral import STFTSpec
from sigkit.spectral._backend import auto_prefers_triton, resolve

APBWE = STFTSpec(1024, 80, 320)
WHISPER = STFTSpec(400, 160)


def _wave(batch, seconds, sr=16000, grad=False):
    x = torch.zeros(batch, int(seconds * sr))
    return x.requires_grad_() if grad else x


def test_policy_follows_the_measured_wins():
    # amplitude/phase: single clips (1.1x) and training (fused backward, 1.7x at batch 32)
    assert auto_prefers_triton("amp_phase", APBWE, _wave(1, 10))
    assert auto_prefers_triton("amp_phase", APBWE, _wave(32, 10, grad=True))
    assert not auto_prefers_triton("amp_phase", APBWE, _wave(32, 10))  # 0.9x forward only
    assert not auto_prefers_triton("amp_phase", STFTSpec(512, 128), _wave(1, 10))  # 1.0x
    with torch.no_grad():  # grad mode off: the forward-only rule applies
        assert not auto_prefers_triton("amp_phase", APBWE, _wave(32, 10, grad=True))
    # inverse: one clip (1.6-2.0x), not a batch of 32 (0.5-1.0x)
    assert auto_prefers_triton("from_amp_phase", APBWE, torch.zeros(1, 513, 6001))
    assert not auto_prefers_triton("from_amp_phase", APBWE, torch.zeros(32, 513, 2001))
    # Whisper log-mel at batch 32 (1.3x), not one clip (1.0x), not with a backward (0.8x), not TTS (0.7x)
    assert auto_prefers_triton("log_mel", WHISPER, _wave(32, 30))
    assert not auto_prefers_triton("log_mel", WHISPER, _wave(1, 30))
    assert not auto_prefers_triton("log_mel", WHISPER, _wave(32, 30, grad=True))
    assert not auto_prefers_triton("mel_spectrogram", STFTSpec(1024, 256), _wave(32, 10, 22050))
    # power spectrogram: never (0.6-0.9x)
    for batch in (1, 32):
        assert not auto_prefers_triton("spectrogram", STFTSpec(512, 128), _wave(batch, 10))


def test_auto_is_the_reference_off_cuda_and_needs_the_op(monkeypatch):
    monkeypatch.delenv("SIGKIT_SPECTRAL_BACKEND", raising=False)
    x = _wave(1, 10)
    assert resolve("auto", x, op="amp_phase", spec=APBWE) == "reference"  # a CPU tensor
    with pytest.raises(TypeError):
        resolve("auto", x)  # the policy needs the op and its spec
    with pytest.raises(InputError, match="unknown spectral op"):
        auto_prefers_triton("stft", APBWE, x)
    monkeypatch.setenv("SIGKIT_SPECTRAL_BACKEND", "reference")
    assert resolve("auto", x, op="amp_phase", spec=APBWE) == "reference"


def test_auto_choice_runs_every_op_on_the_cuda_kernels_where_they_run(monkeypatch):
    """Every op and class on the CUDA kernels where they can run (H200: one clip 2.0-3.7x the eager chain in wall
    time after the host-path cut, batch 32 2.4-6.9x in device time), the single-clip and autograd classes that
    the Triton rule leaves on the reference included; where they cannot, the Triton rule decides; an unknown op
    is refused."""
    from sigkit.spectral import _backend

    cases = [("from_amp_phase", APBWE, lambda b: torch.zeros(b, 513, 2001)),
             ("amp_phase", STFTSpec(512, 128), lambda b: _wave(b, 10)),
             ("amp_phase", APBWE, lambda b: _wave(b, 10, grad=True)),
             ("spectrogram", STFTSpec(2048, 512), lambda b: _wave(b, 10, 48000)),
             ("log_mel", WHISPER, lambda b: _wave(b, 30, grad=True)),
             ("log_mel", STFTSpec(1024, 256), lambda b: _wave(b, 10, 22050, grad=True)),
             ("mel_spectrogram", STFTSpec(1024, 256), lambda b: _wave(b, 10, 22050))]
    monkeypatch.setattr(_backend, "cuda_supported", lambda op, spec: True)
    for batch in (1, 32):
        for op, spec, wave in cases:
            assert _backend.auto_choice(op, spec, wave(batch)) == "cuda", (op, spec, batch)
    monkeypatch.setattr(_backend, "cuda_supported", lambda op, spec: False)
    for batch in (1, 32):
        for op, spec, wave in cases:
            x = wave(batch)
            want = "triton" if auto_prefers_triton(op, spec, x) else "reference"
            assert _backend.auto_choice(op, spec, x) == want, (op, spec, batch)
    assert _backend.auto_choice("spectrogram", STFTSpec(2048, 512), _wave(32, 10, 48000)) == "reference"  # 0.6-0.9x
    with pytest.raises(InputError, match="unknown spectral op"):
        _backend.auto_choice("stft", APBWE, _wave(1, 1))


def test_backend_cuda_is_refused_cleanly_without_a_gpu(monkeypatch):
    from sigkit.spectral import _backend

    monkeypatch.delenv("SIGKIT_SPECTRAL_BACKEND", raising=False)
    x = _wave(1, 1)
    if _backend.cuda_unavailable_reason() is None:  # a GPU machine: the refusal as a machine without one gives it
        monkeypatch.setattr(_backend, "cuda_unavailable_reason", lambda: "no CUDA device")
    with pytest.raises(InputError, match="backend='cuda' is unavailable"):
        _backend.resolve("cuda", x, op="amp_phase", spec=APBWE)
    assert _backend.resolve("auto", x, op="amp_phase", spec=APBWE) == "reference"
    assert not _backend.cuda_supported("amp_phase", APBWE)
