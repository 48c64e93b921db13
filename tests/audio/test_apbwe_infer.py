"""AP-BWE inference: ``APBWE.extend`` (shapes, rates, chunks, low band), official weights, ``sigkit bwe``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from sigkit.audio.apbwe.fast import FastAPBWE
from sigkit.audio.apbwe.infer import APBWE, chunk_starts, edge_margin, fast_batch_shape, main, overlap_add, splice_lowband
from sigkit.audio.apbwe.model import APBWEGenerator

from sigkit.cli import main as sigkit_main
from sigkit.errors import CheckpointError, InputError, SampleRateError
from sigkit.io import audio_info, load_audio, resample, save_audio
from sigkit.metrics import lsd
from sigkit.spectral import STFTSpec


def small_model(**kw) -> APBWE:
    torch.manual_seed(0)
    return APBWE(APBWEGenerator(channels=16, layers=1), sr_in=8000, sr_out=16000, **kw)


def speechy(seconds: float, sr: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sr)) / sr
    x = sum(torch.sin(2 * math.pi * 150 * h * t) / h for h in range(1, 30) if 150 * h < sr / 2)
    return (0.2 * x / x.abs().max() + 0.01 * torch.randn(t.shape, generator=g)).float()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A checkpoint of a small untrained model in the layout `sigkit fit` writes (test_apbwe_module.py
    checks a real `sigkit fit` checkpoint round trip)."""
    from sigkit.audio.apbwe.module import APBWEModule

    torch.manual_seed(0)
    module = APBWEModule(channels=16, layers=1, mpd_channels=(4, 4, 4, 4, 4), mrd_channels=4)
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(checkpoint)
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    torch.save(checkpoint, path)
    return path


class TestExtend:
    def test_shapes(self):
        m = small_model()
        for shape in [(4000,), (2, 4000), (3, 2, 4000)]:
            y, sr = m.extend(0.1 * torch.randn(shape), 8000)
            assert sr == 16000 and y.shape == (*shape[:-1], 8000) and y.dtype == torch.float32

    def test_channels_are_independent(self):
        # (the phase of the empty upper band is so sensitive that only bit-identical inputs give equal
        # outputs, so compare two batches of the same shape that share channel 1)
        m = small_model()
        a, b, c = speechy(0.5, 8000, 1), speechy(0.5, 8000, 2), speechy(0.5, 8000, 3)
        ab, _ = m.extend(torch.stack([a, b]), 8000)
        cb, _ = m.extend(torch.stack([c, b]), 8000)
        torch.testing.assert_close(ab[1], cb[1], atol=1e-6, rtol=0)
        assert float((ab[0] - cb[0]).abs().max()) > 1e-2

    def test_any_input_rate(self):
        m = small_model()
        y, sr = m.extend(speechy(0.5, 11025), 11025)  # resampled to the model's 8 kHz first
        assert sr == 16000 and y.shape == (math.ceil(0.5 * 11025 * 16000 / 11025),)
        assert m.model_rate(11025) == 8000 and m.model_rate(6000) == 8000

    def test_long_input_in_chunks_matches_whole(self):
        x = speechy(3.0, 8000)
        whole, _ = small_model(chunk_seconds=60).extend(x, 8000)
        chunked, _ = small_model(chunk_seconds=0.8, overlap_seconds=0.4).extend(x, 8000)
        assert chunked.shape == whole.shape
        # chunks on the hop grid, cross-faded away from their edges: the same output as in one piece
        torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)

    def test_errors(self):
        m = small_model()
        with pytest.raises(SampleRateError, match="already at or above the model's target rate 16000"):
            m.extend(torch.randn(16000), 16000)
        with pytest.raises(InputError, match="NaN or Inf"):
            m.extend(torch.tensor([0.0, float("nan")] * 2000), 8000)
        with pytest.raises(InputError, match="shorter than one STFT frame"):
            m.extend(torch.randn(100), 8000)
        with pytest.raises(InputError, match=r"\(T,\), \(C, T\) or \(B, C, T\)"):
            m.extend(torch.randn(1, 1, 1, 4000), 8000)


class TestFastPath:
    """``APBWE(fast=True)`` / ``sigkit bwe --fast``: FastAPBWE on fixed padded shapes (compile off on the CPU)."""

    FP32 = {"compile": False, "trunk": "fp32", "pre": "fp32", "gelu": "exact"}

    def test_same_output_as_eager_except_at_the_end(self):
        x = torch.stack([speechy(3.0, 8000, 1), speechy(2.1, 8000, 2).repeat(2)[:24000]])
        eager, _ = small_model(chunk_seconds=0.8, overlap_seconds=0.4).extend(x, 8000)
        fast, _ = small_model(chunk_seconds=0.8, overlap_seconds=0.4, fast=True, fast_options=self.FP32).extend(x, 8000)
        assert fast.shape == eager.shape
        end = edge_margin(STFTSpec(1024, 80, 320))
        # zero padding to the shape buckets replaces the reflect padding only at each signal's end
        torch.testing.assert_close(fast[:, :-end], eager[:, :-end], atol=1e-5, rtol=0)
        assert float((fast - eager)[:, -end:].abs().max()) > 1e-4

    def test_few_shapes_for_many_lengths(self):
        shapes = set()
        for pieces in range(1, 17):
            for longest in range(600, 48_001, 997):
                rows, samples = fast_batch_shape(pieces, longest, 48_000, 80, 16)
                assert rows >= pieces and samples >= longest and samples % 80 == 0
                shapes.add((rows, samples))
        assert len(shapes) == 5 * 4

    def test_results_survive_a_reused_output_buffer(self):
        # a CUDA-graph replay returns the same buffer every call: every batch must be kept before the next
        model = small_model(chunk_seconds=0.8, overlap_seconds=0.4, max_batch=2, fast=True, fast_options=self.FP32)
        fast = model.fast(**self.FP32)
        buffers = {}

        def replaying(x):
            out = buffers.setdefault(tuple(x.shape), torch.empty(x.shape))
            out.copy_(fast(x))
            return out

        signals = [speechy(s, 16000, i) for i, s in enumerate((0.3, 0.5, 0.4, 2.5, 0.35))]
        expected = model.extend_narrowband(signals)
        model._fast_path = replaying
        for got, want in zip(model.extend_narrowband(signals), expected, strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)

    def test_cli_fast_flag(self, tmp_path, ckpt, monkeypatch):
        monkeypatch.setattr(APBWE, "fast", lambda self, **kw: FastAPBWE(self.generator, self.spec, compile=False))
        src = tmp_path / "in"
        save_audio(src / "a.wav", speechy(0.4, 8000)[None], 8000)
        save_audio(src / "b.wav", speechy(1.3, 8000, 1)[None], 8000)
        assert main([str(src), str(tmp_path / "out"), "--ckpt", str(ckpt), "--fast", "--device", "cpu", "-q"]) == 0
        assert audio_info(tmp_path / "out" / "b.wav").frames == 2 * 10400
        with pytest.raises(InputError, match="not both"):
            small_model(fast=True, bf16=True)


class TestChunkingHelpers:
    def test_chunk_starts_cover(self):
        for length in (1, 999, 1000, 1001, 5000, 12345):
            starts = chunk_starts(length, 1000, 200)
            assert starts[0] == 0 and starts[-1] + 1000 >= length and all(s % 800 == 0 for s in starts)
            assert length - starts[-1] > 200 or len(starts) == 1

    def test_overlap_add_constant(self):
        x = torch.arange(5000.0)
        parts = [(s, x[s : s + 1000].clone()) for s in chunk_starts(5000, 1000, 200)]
        torch.testing.assert_close(overlap_add(parts, 5000, 50), x)


class TestKeepLowband:
    @pytest.mark.parametrize("seed", [0, 5, 9])
    def test_low_band_is_the_input(self, seed):
        spec = STFTSpec(1024, 80, 320)
        nb = resample(resample(speechy(1.0, 16000, 3), 16000, 8000), 8000, 16000)[None]
        out = torch.randn(nb.shape, generator=torch.Generator().manual_seed(seed)) * 0.05
        y = splice_lowband(out, nb, 4000.0, 16000, spec)
        from sigkit.spectral import stft

        Y, N, O = stft(y, spec), stft(nb, spec), stft(out, spec)
        # bins below 2.97 kHz / above 4.3 kHz (the STFT's leakage spreads the splice over a few bins). The
        # spliced STFT is not the STFT of any signal; the iSTFT's least-squares projection leaves errors of
        # up to 1.8% of the noise's bin magnitude (rms 0.55) over 12 seeds: the tolerance is 3% of it
        low, high = slice(0, 190), slice(275, None)
        torch.testing.assert_close(Y[..., low, :], N[..., low, :], atol=1.6e-2, rtol=1e-3)
        torch.testing.assert_close(Y[..., high, :], O[..., high, :], atol=1.6e-2, rtol=1e-3)


class TestFromOfficial:
    def test_official_generator_file(self, tmp_path):
        torch.manual_seed(0)
        gen = APBWEGenerator(channels=32, layers=2)
        path = tmp_path / "g_8kto16k"
        torch.save({"generator": gen.state_dict()}, path)
        m = APBWE.from_official(path, 8000, 16000)
        assert (m.generator.channels, m.generator.layers, m.spec) == (32, 2, STFTSpec(1024, 80, 320))
        x = 0.1 * torch.randn(1, 4000)
        from sigkit.spectral import amp_phase, from_amp_phase

        with torch.no_grad():
            a, p, _ = gen(*amp_phase(x, m.spec))
            torch.testing.assert_close(m(x), from_amp_phase(a, p, m.spec, length=4000))

    def test_refusals(self, tmp_path):
        path = tmp_path / "g"
        torch.save({"generator": APBWEGenerator(channels=8, layers=1).state_dict()}, path)
        with pytest.raises(CheckpointError, match="no official AP-BWE model for 8000 Hz -> 22050 Hz"):
            APBWE.from_official(path, 8000, 22050)
        torch.save({"generator": {"conv_pre_mag.weight": torch.zeros(8, 513, 7)}}, path)
        with pytest.raises(CheckpointError, match="not an AP-BWE generator"):
            APBWE.from_official(path, 8000, 16000)
        torch.save({"state_dict": {}, "sigkit": {"kind": "sigkit.audio.apbwe"}}, path)
        with pytest.raises(CheckpointError, match="from_checkpoint"):
            APBWE.from_official(path, 8000, 16000)


class TestBatchTool:
    def test_folder_with_long_short_stereo_and_broken_files(self, tmp_path, ckpt, capsys):
        src = tmp_path / "in"
        save_audio(src / "short.wav", speechy(0.3, 8000)[None], 8000, subtype="PCM_16")
        save_audio(
            src / "sub" / "stereo.flac",
            torch.stack([speechy(0.6, 8000, 1), speechy(0.6, 8000, 2)]),
            8000,
            subtype="PCM_24",
        )
        save_audio(src / "long.wav", speechy(4.0, 11025)[None], 11025, subtype="FLOAT")
        save_audio(src / "wide.wav", speechy(0.5, 16000)[None], 16000)
        save_audio(src / "silent.wav", torch.zeros(1, 4000), 8000)
        save_audio(src / "tiny.wav", 0.1 * torch.ones(1, 50), 8000)
        (src / "junk.wav").write_bytes(b"RIFF not really a wav file")
        sf.write(src / "nan.wav", np.array([0.1, np.nan] * 2000, dtype=np.float32), 8000, subtype="FLOAT")
        out = tmp_path / "out"
        code = sigkit_main(
            [
                "bwe",
                str(src),
                str(out),
                "--ckpt",
                str(ckpt),
                "-r",
                "--chunk-seconds",
                "1",
                "--device",
                "cpu",
                "-q",
            ]
        )
        assert code == 1  # some inputs failed, the rest were written
        summary = capsys.readouterr().out.strip().splitlines()[-1]
        assert summary.startswith("processed 3, skipped 0 (done before), failed 5")
        info = audio_info(out / "sub" / "stereo.flac")
        assert (info.sr, info.channels, info.format, info.subtype) == (16000, 2, "FLAC", "PCM_24")
        info = audio_info(out / "long.wav")
        assert (info.sr, info.frames, info.subtype) == (16000, 64000, "FLOAT")
        assert audio_info(out / "short.wav").frames == 4800
        errors = {
            json.loads(line)["input"].split("/")[-1]: json.loads(line)["message"]
            for line in (out / "errors.jsonl").read_text().splitlines()
        }
        assert "already at or above the model's target rate 16000 Hz" in errors["wide.wav"]
        assert "silent" in errors["silent.wav"]
        assert "shorter than one STFT frame" in errors["tiny.wav"]
        assert "NaN or Inf" in errors["nan.wav"]
        assert "junk.wav" in errors
        # rerun: finished files are skipped
        assert main([str(src), str(out), "--ckpt", str(ckpt), "-r", "--device", "cpu", "-q"]) == 1
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("processed 0, skipped 3")

    def test_keep_lowband_improves_lsd_against_the_narrowband(self, tmp_path, ckpt):
        src = tmp_path / "in"
        save_audio(src / "a.wav", speechy(1.0, 8000)[None], 8000)
        for flag, name in (([], "plain"), (["--keep-lowband"], "lb")):
            assert (
                main([str(src), str(tmp_path / name), "--ckpt", str(ckpt), "--device", "cpu", "-q", *flag])
                == 0
            )
        ref = resample(speechy(1.0, 8000), 8000, 16000)
        plain, _ = load_audio(tmp_path / "plain" / "a.wav")
        lb, _ = load_audio(tmp_path / "lb" / "a.wav")
        # an almost untrained model: putting the true low band back must bring the output closer to it
        assert float(lsd(lb[0], ref)) < float(lsd(plain[0], ref))

    def test_wrong_checkpoint_kind_and_rates(self, tmp_path, ckpt, capsys):
        src = tmp_path / "in"
        save_audio(src / "a.wav", speechy(0.5, 8000)[None], 8000)
        assert (
            sigkit_main(["bwe", str(src), str(tmp_path / "o"), "--ckpt", str(ckpt), "--sr-out", "48000"]) == 1
        )
        assert "extends 8000 Hz -> 16000 Hz, not ? Hz -> 48000 Hz" in capsys.readouterr().err
        assert sigkit_main(["bwe", str(src), str(tmp_path / "o"), "--ckpt", str(ckpt), "--official"]) == 1
        assert "--official needs --sr-in and --sr-out" in capsys.readouterr().err
