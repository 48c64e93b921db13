"""sigkit.data.synth layout writers and the ``sigkit synth`` CLI: exact official names and metadata."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import soundfile as sf

from sigkit.cli import main as sigkit_main
from sigkit.data.synth import (
    ESC10,
    ESC50_COLUMNS,
    ESC50_TARGETS,
    VCTK_TEST_SPEAKERS,
    VCTK_TRAIN_SPEAKERS,
    vctk_speakers,
    write_esc50_layout,
    write_vctk_layout,
)
from sigkit.data.synth.cli import main as synth_main
from sigkit.errors import InputError


def _rel(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class TestVCTK:
    def test_exact_layout(self, tmp_path):
        out = write_vctk_layout(tmp_path, n=5, sr=16000, n_speakers=2, seconds=(0.4, 0.6), seed=3)
        assert _rel(tmp_path) == [
            "speaker-info.txt",
            "txt/p225/p225_001.txt",
            "txt/p225/p225_002.txt",
            "txt/p225/p225_003.txt",
            "txt/p360/p360_001.txt",
            "txt/p360/p360_002.txt",
            "wav48_silence_trimmed/p225/p225_001_mic1.flac",
            "wav48_silence_trimmed/p225/p225_002_mic1.flac",
            "wav48_silence_trimmed/p225/p225_003_mic1.flac",
            "wav48_silence_trimmed/p360/p360_001_mic1.flac",
            "wav48_silence_trimmed/p360/p360_002_mic1.flac",
        ]
        assert len(out.files) == 5
        for p in out.files:
            info = sf.info(p)
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
            assert 0.4 * 16000 <= info.frames <= 0.6 * 16000 + 1
        text = (tmp_path / "txt/p225/p225_001.txt").read_text()
        assert text.endswith(".\n") and text.count("\n") == 1 and len(text) > 3

    def test_speaker_info_format(self, tmp_path):
        write_vctk_layout(tmp_path, n=4, sr=8000, n_speakers=4, seconds=(0.4, 0.4))
        lines = (tmp_path / "speaker-info.txt").read_text().splitlines()
        assert lines[0].split() == ["ID", "AGE", "GENDER", "ACCENTS", "REGION", "COMMENTS"]
        rows = [ln.split() for ln in lines[1:]]
        assert [r[0] for r in rows] == ["p225", "p226", "p227", "p360"]
        assert all(r[1].isdigit() and r[2] in ("F", "M") for r in rows)

    def test_deterministic(self, tmp_path):
        a = write_vctk_layout(tmp_path / "a", n=2, sr=8000, seconds=(0.4, 0.5), seed=1)
        b = write_vctk_layout(tmp_path / "b", n=2, sr=8000, seconds=(0.4, 0.5), seed=1)
        for pa, pb in zip(a.files, b.files, strict=True):
            assert np.array_equal(sf.read(pa)[0], sf.read(pb)[0])
        assert _rel(tmp_path / "a") == _rel(tmp_path / "b")

    def test_speaker_split(self):
        assert len(VCTK_TRAIN_SPEAKERS) == 100 and "p280" not in VCTK_TRAIN_SPEAKERS
        assert "p315" not in VCTK_TRAIN_SPEAKERS and VCTK_TEST_SPEAKERS[-1] == "s5"
        s = vctk_speakers(20)
        assert sum(x in VCTK_TEST_SPEAKERS for x in s) == 4 and len(set(s)) == 20
        assert vctk_speakers(108)[-1] == "s5" and vctk_speakers(1) == ["p225"]
        with pytest.raises(InputError, match="n_speakers must be between 1 and 108"):
            vctk_speakers(109)

    def test_errors(self, tmp_path):
        with pytest.raises(InputError, match="n must be >= 1"):
            write_vctk_layout(tmp_path, n=0)
        with pytest.raises(InputError, match="seconds must be"):
            write_vctk_layout(tmp_path, n=1, seconds=(2.0, 1.0))


NAME = re.compile(r"^(?P<fold>[1-5])-(?P<src>\d+)-(?P<take>[A-Z])-(?P<target>\d{1,2})\.wav$")


class TestESC50:
    def test_exact_layout_and_csv(self, tmp_path):
        classes = ["dog", "rain", "siren"]
        out = write_esc50_layout(tmp_path, n_per_class=6, sr=8000, seconds=0.5, classes=classes, seed=2)
        names = sorted(p.name for p in (tmp_path / "audio").iterdir())
        assert len(names) == 18 and [p.name for p in out.files] and set(names) == {p.name for p in out.files}
        assert _rel(tmp_path) == [f"audio/{n}" for n in names] + ["meta/esc50.csv"]
        with open(tmp_path / "meta" / "esc50.csv", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = list(reader)
        assert (
            tuple(header)
            == ESC50_COLUMNS
            == ("filename", "fold", "target", "category", "esc10", "src_file", "take")
        )
        assert [r[0] for r in rows] == names  # sorted by filename, one row per file
        folds_of_src = {}
        for filename, fold, target, category, esc10, src, take in rows:
            m = NAME.match(filename)
            assert m, filename
            assert (m["fold"], m["src"], m["take"], m["target"]) == (fold, src, take, target)
            assert int(target) == ESC50_TARGETS[category] and category in classes
            assert esc10 == str(category in ESC10) and esc10 in ("True", "False")
            folds_of_src.setdefault(src, set()).add(fold)
            info = sf.info(tmp_path / "audio" / filename)
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (8000, 1, 4000, "PCM_16")
        assert all(len(f) == 1 for f in folds_of_src.values())  # every take of a source in one fold
        for c in classes:
            assert {r[1] for r in rows if r[3] == c} == {"1", "2", "3", "4", "5"}

    def test_errors(self, tmp_path):
        with pytest.raises(InputError, match="unknown classes"):
            write_esc50_layout(tmp_path, classes=["cat"])
        with pytest.raises(InputError, match="n_per_class"):
            write_esc50_layout(tmp_path, n_per_class=0)


class TestCLI:
    def test_speech_through_sigkit_command(self, tmp_path, capsys):
        assert (
            sigkit_main(
                [
                    "synth",
                    "speech",
                    str(tmp_path),
                    "--n",
                    "3",
                    "--sr",
                    "8000",
                    "--speakers",
                    "2",
                    "--min-seconds",
                    "0.4",
                    "--max-seconds",
                    "0.5",
                ]
            )
            == 0
        )
        assert len(list((tmp_path / "wav48_silence_trimmed").rglob("*_mic1.flac"))) == 3
        assert re.search(r"wrote 3 utterances \(2 speakers\), .* at 8000 Hz", capsys.readouterr().out)

    def test_esc(self, tmp_path, capsys):
        assert (
            synth_main(
                [
                    "esc",
                    str(tmp_path),
                    "--n-per-class",
                    "1",
                    "--sr",
                    "8000",
                    "--seconds",
                    "0.5",
                    "--classes",
                    "dog",
                    "engine",
                ]
            )
            == 0
        )
        assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == [
            "1-100000-A-0.wav",
            "1-144000-A-44.wav",
        ]
        assert "wrote 2 clips (2 classes)" in capsys.readouterr().out

    def test_user_error_exits_1_with_message(self, tmp_path, capsys):
        assert sigkit_main(["synth", "speech", str(tmp_path), "--n", "1", "--sr", "96000"]) == 1
        assert "above the supported 48000 Hz" in capsys.readouterr().err

    def test_bad_arguments_exit_2(self, tmp_path):
        with pytest.raises(SystemExit) as e:
            synth_main(["esc", str(tmp_path), "--classes", "cat"])
        assert e.value.code == 2
