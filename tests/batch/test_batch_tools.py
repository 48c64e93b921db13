"""``sigkit resample`` and ``sigkit spectrogram`` through the console entry, on tiny real audio files."""
from __future__ import annotations

import json
import math

import matplotlib.image
import pytest
import torch

from sigkit.batch.tools import log_spectrogram, resample_batch
from sigkit.cli import main
from sigkit.io import audio_info, load_audio, resample, save_audio

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, channels: int = 1, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * sr)) / sr
    return (amp * torch.sin(2 * math.pi * freq * t)).repeat(channels, 1)


@pytest.fixture
def audio_dir(tmp_path):
    """a.wav (PCM_16 mono), b_corrupt.wav (garbage), c.ogg (vorbis), sub/d.flac (PCM_24 stereo),
    sub/e.wav (FLOAT, 22050 Hz), and notes.md (not audio, not matched)."""
    root = tmp_path / "in"
    save_audio(root / "a.wav", tone(440, 0.25), SR)
    (root / "b_corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    save_audio(root / "c.ogg", tone(1000, 0.25), SR)
    save_audio(root / "sub" / "d.flac", tone(3000, 0.2, channels=2), SR, subtype="PCM_24")
    save_audio(root / "sub" / "e.wav", tone(500, 0.1, sr=22050), 22050, subtype="FLOAT")
    (root / "notes.md").write_text("not audio")
    return root


class TestResampleTool:
    def test_folder_with_a_corrupt_file(self, audio_dir, tmp_path, capsys):
        out = tmp_path / "out"
        code = main(["resample", str(audio_dir), str(out), "--sr", "8000", "-r", "-q", "--device", "cpu"])
        assert code == 1
        stdout = capsys.readouterr().out.strip().splitlines()[-1]
        expected = f"processed 4, skipped 0 (done before), failed 1 (see {out / 'errors.jsonl'}) in "
        assert stdout.startswith(expected)
        (err,) = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
        assert err["input"] == str(audio_dir / "b_corrupt.wav") and err["stage"] == "load"
        assert err["error"] == "AudioFileError" and "b_corrupt.wav" in err["message"]
        for rel in ("a.wav", "c.ogg", "sub/d.flac", "sub/e.wav"):
            src, dst = audio_info(audio_dir / rel), audio_info(out / rel)
            assert (dst.sr, dst.channels) == (8000, src.channels)
            assert (dst.format, dst.subtype) == (src.format, src.subtype)
            assert dst.frames == math.ceil(src.frames * 8000 / src.sr)
        # the numbers: sigkit.io.resample of the input, up to the output subtype's quantisation
        for rel, atol in (("a.wav", 1.5 / 2**15), ("sub/d.flac", 1.5 / 2**23), ("sub/e.wav", 1e-6)):
            wave, sr = load_audio(audio_dir / rel)
            got, _ = load_audio(out / rel)
            torch.testing.assert_close(got, resample(wave, sr, 8000).clamp(-1, 1), atol=atol, rtol=0)
        # a rerun resumes: everything done is skipped, the corrupt file fails again
        assert main(["resample", str(audio_dir), str(out), "--sr", "8000", "-r", "-q"]) == 1
        assert capsys.readouterr().out.strip().startswith("processed 0, skipped 4 (done before), failed 1")

    def test_list_file_and_single_file_output(self, audio_dir, tmp_path, capsys):
        listing = tmp_path / "inputs.txt"
        listing.write_text(f"{audio_dir / 'a.wav'}\n{audio_dir / 'sub' / 'e.wav'}\n")
        out = tmp_path / "listed"
        assert main(["resample", f"@{listing}", str(out), "--sr", "24000", "-q"]) == 0
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == ["a.wav", "sub/e.wav"]
        assert audio_info(out / "sub" / "e.wav").sr == 24000
        assert not (out / "errors.jsonl").exists()

        single = tmp_path / "one" / "a_8k.wav"
        assert main(["resample", str(audio_dir / "a.wav"), str(single), "--sr", "8000", "-q",
                     "--method", "soxr"]) == 0
        wave, _ = load_audio(audio_dir / "a.wav")
        got, sr = load_audio(single)
        assert sr == 8000
        torch.testing.assert_close(got, resample(wave, SR, 8000, method="soxr"), atol=1.5 / 2**15, rtol=0)

    def test_unwritable_output_is_an_error_before_any_work(self, audio_dir, tmp_path, capsys):
        blocker = tmp_path / "blocker"
        blocker.write_text("a file where a folder should be")
        assert main(["resample", str(audio_dir), str(blocker / "out"), "--sr", "8000", "-q"]) == 1
        captured = capsys.readouterr()
        assert "the output folder cannot be written" in captured.err and str(blocker / "out") in captured.err
        assert "processed" not in captured.out

    def test_bad_arguments(self, audio_dir, capsys):
        assert main(["resample", str(audio_dir), str(audio_dir), "--sr", "8000"]) == 1
        assert "OUT is the input folder itself" in capsys.readouterr().err
        assert main(["resample", str(audio_dir), "x", "--sr", "0"]) == 1
        assert "--sr" in capsys.readouterr().err
        if not torch.cuda.is_available():
            assert main(["resample", str(audio_dir), "x", "--sr", "8000", "--device", "cuda:0"]) == 1
            assert "no such CUDA device" in capsys.readouterr().err
        assert main(["resample", str(audio_dir), "x", "--sr", "8000", "--device", "gpu"]) == 1
        assert "is not a device" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            main(["resample", str(audio_dir), "x"])  # --sr is required (argparse exits 2)

    def test_batched_sinc_equals_one_by_one(self):
        g = torch.Generator().manual_seed(0)
        waves = [torch.randn(1, 1000, generator=g), torch.randn(2, 1733, generator=g),
                 torch.randn(1, 480, generator=g), torch.randn(1, 300, generator=g)]
        rates = [16000, 16000, 48000, 16000]
        batched = resample_batch(waves, rates, 22050)
        for w, sr, y in zip(waves, rates, batched, strict=True):
            torch.testing.assert_close(y, resample(w, sr, 22050), atol=1e-6, rtol=1e-5)


class TestSpectrogramTool:
    def test_pngs_mirror_the_tree(self, audio_dir, tmp_path, capsys):
        out = tmp_path / "png"
        code = main(["spectrogram", str(audio_dir / "sub"), str(out), "-q", "--n-fft", "512", "--hop", "128"])
        assert code == 0
        assert capsys.readouterr().out.startswith("processed 2, skipped 0 (done before), failed 0 in ")
        assert sorted(p.name for p in out.iterdir()) == ["d.png", "e.png"]
        stereo, mono = matplotlib.image.imread(out / "d.png"), matplotlib.image.imread(out / "e.png")
        assert mono.shape[:2] == (350, 1000)  # 10 x 3.5 in at 100 dpi: one panel
        assert stereo.shape[:2] == (610, 1000)  # one panel more for the second channel
        assert stereo[..., :3].std() > 0.1  # a picture, not a blank page

    def test_bad_fft_size(self, audio_dir, tmp_path, capsys):
        assert main(["spectrogram", str(audio_dir), str(tmp_path / "p"), "--n-fft", "0"]) == 1
        assert "n_fft must be a positive integer" in capsys.readouterr().err


class TestLogSpectrogram:
    def test_sine_reads_its_level_at_its_frequency(self):
        wave = tone(1000, 1.0, amp=0.5)  # bin 64 of a 1024-point FFT at 16 kHz
        db, times, freqs = log_spectrogram(wave, SR, n_fft=1024, hop=256)
        assert db.shape == (1, 513, 63)
        middle = db[0, :, 10:50]
        assert bool((freqs[middle.argmax(dim=0)] == 1000.0).all())
        torch.testing.assert_close(middle.max(dim=0).values, torch.full((40,), 20 * math.log10(0.5)),
                                   atol=1e-3, rtol=0)
        torch.testing.assert_close(times[:3], torch.tensor([0.0, 0.016, 0.032]))
        assert freqs[-1] == SR / 2

    def test_top_db_floor(self):
        db, _, _ = log_spectrogram(tone(1000, 0.5), SR, top_db=30.0)
        assert float(db.max() - db.min()) == pytest.approx(30.0, abs=1e-4)
        with pytest.raises(Exception, match="top_db"):
            log_spectrogram(tone(1000, 0.5), SR, top_db=0)
