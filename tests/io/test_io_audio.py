"""sigkit.io audio: round trips per format/subtype, info, and every error path with its message."""

from __future__ import annotations

import math
import os
import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from sigkit.errors import AudioFileError, InputError, SampleRateError, SigkitError
from sigkit.io import audio_info, load_audio, save_audio


def _tone(channels: int = 2, n: int = 4800, sr: int = 48000) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    rows = [0.5 * torch.sin(2 * math.pi * (440.0 * (c + 1)) * t) for c in range(channels)]
    return torch.stack(rows).float()


class TestRoundTrip:
    @pytest.mark.parametrize(
        "ext,subtype,atol",
        [
            ("wav", "PCM_16", 1 / 2**15),
            ("wav", "PCM_24", 1 / 2**23),
            ("wav", "FLOAT", 0.0),
            ("wav", "DOUBLE", 0.0),
            ("flac", "PCM_16", 1 / 2**15),
            ("flac", "PCM_24", 1 / 2**23),
        ],
    )
    def test_lossless_formats_keep_samples_and_subtype(self, tmp_path, ext, subtype, atol):
        x = _tone()
        p = tmp_path / f"a.{ext}"
        save_audio(p, x, 48000, subtype=subtype)
        info = audio_info(p)
        assert (info.sr, info.channels, info.frames, info.subtype) == (48000, 2, 4800, subtype)
        assert info.format == ext.upper()
        y, sr = load_audio(p)
        assert sr == 48000 and y.dtype == torch.float32 and y.shape == (2, 4800)
        torch.testing.assert_close(y, x, rtol=0, atol=atol)

    @pytest.mark.parametrize("alias,subtype", [("int16", "PCM_16"), ("int24", "PCM_24"), ("float", "FLOAT")])
    def test_subtype_aliases(self, tmp_path, alias, subtype):
        save_audio(tmp_path / "a.wav", _tone(1), 16000, subtype=alias)
        assert audio_info(tmp_path / "a.wav").subtype == subtype

    def test_default_subtypes(self, tmp_path):
        save_audio(tmp_path / "a.wav", _tone(1), 16000)
        save_audio(tmp_path / "a.flac", _tone(1), 16000)
        assert audio_info(tmp_path / "a.wav").subtype == "PCM_16"
        assert audio_info(tmp_path / "a.flac").subtype == "PCM_16"

    def test_ogg_vorbis_is_lossy_but_close(self, tmp_path):
        x = _tone(1, n=48000)
        save_audio(tmp_path / "a.ogg", x, 48000)
        info = audio_info(tmp_path / "a.ogg")
        assert (info.format, info.subtype, info.channels) == ("OGG", "VORBIS", 1)
        y, sr = load_audio(tmp_path / "a.ogg")
        assert sr == 48000 and y.shape == (1, 48000)
        err = (y - x)[:, 2000:-2000].pow(2).mean().sqrt() / x.pow(2).mean().sqrt()
        assert err < 0.05

    def test_1d_input_mono_and_resample_on_load(self, tmp_path):
        save_audio(tmp_path / "a.wav", _tone(2)[0], 48000, subtype="float")
        y, _ = load_audio(tmp_path / "a.wav")
        assert y.shape == (1, 4800)
        save_audio(tmp_path / "b.wav", _tone(2), 48000, subtype="float")
        m, sr = load_audio(tmp_path / "b.wav", mono=True, sr=16000)
        assert sr == 16000 and m.shape == (1, 1600)
        ref = torch.nn.functional.pad(_tone(2).mean(0, keepdim=True), (0, 0))
        import torchaudio.functional as taf

        torch.testing.assert_close(m, taf.resample(ref, 48000, 16000), rtol=0, atol=1e-6)

    def test_pcm_write_clips_out_of_range(self, tmp_path):
        save_audio(tmp_path / "a.wav", torch.tensor([[0.5, 1.5, -1.7]]), 8000)
        y, _ = load_audio(tmp_path / "a.wav")
        assert y[0, 1] > 0.999 and y[0, 2] == -1.0  # clipped, not wrapped around

    def test_atomic_write_leaves_no_temporary(self, tmp_path):
        save_audio(tmp_path / "deep" / "a.flac", _tone(1), 16000)
        assert os.listdir(tmp_path / "deep") == ["a.flac"]


def _wav_bytes(tmp_path, n=1000) -> bytes:
    p = tmp_path / "full.wav"
    sf.write(p, np.zeros((n, 1), np.float32), 8000, subtype="PCM_16")
    return p.read_bytes()


class TestErrors:
    def test_missing(self, tmp_path):
        with pytest.raises(AudioFileError, match=r"nope\.wav: file not found"):
            load_audio(tmp_path / "nope.wav")

    def test_folder(self, tmp_path):
        with pytest.raises(AudioFileError, match="is a folder"):
            audio_info(tmp_path)

    def test_not_audio(self, tmp_path):
        p = tmp_path / "text.wav"
        p.write_text("hello, this is not audio at all" * 10)
        with pytest.raises(AudioFileError, match=r"text\.wav: not a readable audio file"):
            load_audio(p)

    def test_empty_file(self, tmp_path):
        p = tmp_path / "empty.flac"
        p.write_bytes(b"")
        with pytest.raises(AudioFileError, match=r"empty\.flac: not a readable audio file"):
            load_audio(p)

    def test_zero_length_audio(self, tmp_path):
        p = tmp_path / "zero.wav"
        sf.write(p, np.zeros((0, 1), np.float32), 8000)
        with pytest.raises(AudioFileError, match=r"zero\.wav: zero-length audio"):
            load_audio(p)

    def test_truncated_wav_detected_from_header(self, tmp_path):
        raw = _wav_bytes(tmp_path)
        p = tmp_path / "cut.wav"
        p.write_bytes(raw[: len(raw) - 500])
        assert sf.info(p).frames > 0  # libsndfile alone would read it silently
        with pytest.raises(
            AudioFileError,
            match=r"cut\.wav: truncated wav file \(its data chunk declares "
            r"2000 bytes but only 1500 are present\)",
        ):
            load_audio(p)

    def test_wav_with_streaming_size_field_is_not_truncated(self, tmp_path):
        raw = bytearray(_wav_bytes(tmp_path, n=10))
        pos = raw.index(b"data")
        raw[pos + 4 : pos + 8] = struct.pack("<I", 0xFFFFFFFF)
        p = tmp_path / "stream.wav"
        p.write_bytes(bytes(raw))
        y, _ = load_audio(p)
        assert y.shape == (1, 10)

    def test_truncated_flac(self, tmp_path):
        p = tmp_path / "full.flac"
        sf.write(p, np.random.default_rng(0).uniform(-0.5, 0.5, (8000, 1)), 8000)
        cut = tmp_path / "cut.flac"
        cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        with pytest.raises(AudioFileError, match=r"cut\.flac: (decoding failed|truncated file)"):
            load_audio(cut)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_nan_inf_samples(self, tmp_path, bad):
        p = tmp_path / "bad.wav"
        x = np.zeros((100, 1), np.float32)
        x[37] = bad
        sf.write(p, x, 1000, subtype="FLOAT")
        with pytest.raises(
            AudioFileError, match=r"bad\.wav: contains NaN or Inf samples \(first at frame 37, 0\.037 s\)"
        ):
            load_audio(p)

    def test_bad_load_rate(self, tmp_path):
        save_audio(tmp_path / "a.wav", _tone(1), 16000)
        with pytest.raises(SampleRateError, match="not a whole number"):
            load_audio(tmp_path / "a.wav", sr=22050.5)

    def test_save_errors(self, tmp_path):
        with pytest.raises(InputError, match="NaN or Inf"):
            save_audio(tmp_path / "a.wav", torch.tensor([[0.0, float("nan")]]), 8000)
        with pytest.raises(InputError, match="zero-length"):
            save_audio(tmp_path / "a.wav", torch.zeros(1, 0), 8000)
        with pytest.raises(InputError, match=r"shape \(C, T\)"):
            save_audio(tmp_path / "a.wav", torch.zeros(1, 2, 3), 8000)
        with pytest.raises(InputError, match="unknown audio extension '.mp3'"):
            save_audio(tmp_path / "a.mp3", torch.zeros(1, 10), 8000)
        with pytest.raises(InputError, match="format FLAC cannot hold subtype FLOAT"):
            save_audio(tmp_path / "a.flac", torch.zeros(1, 10), 8000, subtype="float")
        with pytest.raises(SampleRateError):
            save_audio(tmp_path / "a.wav", torch.zeros(1, 10), 0)
        with pytest.raises(InputError, match="floating point"):
            save_audio(tmp_path / "a.wav", torch.zeros(1, 10, dtype=torch.int16), 8000)
        assert not list(tmp_path.iterdir())

    def test_unwritable_destination(self, tmp_path):
        blocker = tmp_path / "blocker"
        blocker.write_text("a file where a folder should be")
        with pytest.raises(AudioFileError, match=r"a\.wav: cannot write audio .*writable"):
            save_audio(blocker / "a.wav", torch.zeros(1, 10), 8000)

    def test_all_are_sigkit_errors(self):
        assert issubclass(AudioFileError, SigkitError) and issubclass(SampleRateError, SigkitError)
