"""The AP-BWE demo end to end at toy size: corpus, training, `sigkit bwe`, report with table and PNGs."""

from __future__ import annotations

import re

from sigkit.audio.apbwe.demo import main

from sigkit.io import audio_info


def test_demo_writes_report(tmp_path, capsys):
    out = tmp_path / "demo_out"
    code = main(
        [
            "--out",
            str(out),
            "--minutes",
            "0.5",
            "--max-steps",
            "2",
            "--train-utterances",
            "2",
            "--batch-size",
            "2",
            "--test-utterances",
            "2",
            "--seconds",
            "0.6",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| **mean** |" in printed and "report:" in printed
    report = (out / "report.md").read_text()
    rows = re.findall(r"\| heldout_\d+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", report)
    assert len(rows) == 2 and all(float(v) > 0 for row in rows for v in row)
    assert (out / "spectrograms_heldout_0000.png").stat().st_size > 10_000
    assert (out / "apbwe_tiny.ckpt").is_file()
    info = audio_info(out / "extended" / "heldout_0001.wav")
    assert (info.sr, info.frames) == (16000, 9600)
    # the sinc column is the LSD of the plain upsampled input: the same file measured again gives it
    from sigkit.io import load_audio, resample
    from sigkit.metrics import lsd

    ref, _ = load_audio(out / "data" / "reference" / "heldout_0000.wav")
    inp, _ = load_audio(out / "data" / "input" / "heldout_0000.wav")
    assert (
        abs(float(lsd(resample(inp, 8000, 16000)[..., : ref.shape[-1]], ref).mean()) - float(rows[0][0]))
        < 1e-3
    )
