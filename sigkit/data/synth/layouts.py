"""Write the synthetic corpora to disk in the official VCTK-0.92 and ESC-50 layouts.

VCTK-Corpus-0.92 (as distributed, and as AP-BWE's ``flac2wav.py`` reads it)::

    OUT/wav48_silence_trimmed/p225/p225_001_mic1.flac   (PCM_16 FLAC, at the rate asked for)
    OUT/txt/p225/p225_001.txt                           (one line of text)
    OUT/speaker-info.txt                                ("ID  AGE  GENDER  ACCENTS  REGION COMMENTS")

Speakers are drawn from the real VCTK ids, training speakers (p225, p226, ...) and the eight
speakers of the official AP-BWE/NU-Wave test split (p360 p361 p362 p363 p364 p374 p376 s5), so a
loader's train/test split finds both.

ESC-50 (github.com/karolpiczak/ESC-50)::

    OUT/audio/{fold}-{src_file}-{take}-{target}.wav     (mono PCM_16 WAV, 5 s at 44.1 kHz by default)
    OUT/meta/esc50.csv                                  (filename,fold,target,category,esc10,src_file,take)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigkit.data.synth.environmental import ENV_CLASSES, ESC10, ESC50_TARGETS, environmental
from sigkit.data.synth.speech import make_speaker, speech_like_with_text
from sigkit.errors import InputError

__all__ = [
    "VCTK_SPEAKERS",
    "VCTK_TEST_SPEAKERS",
    "VCTK_TRAIN_SPEAKERS",
    "ESC50_COLUMNS",
    "write_vctk_layout",
    "write_esc50_layout",
    "vctk_speakers",
]

# all 110 speakers of VCTK 0.92
VCTK_SPEAKERS: tuple[str, ...] = tuple(
    [
        f"p{i}"
        for i in (
            225,
            226,
            227,
            228,
            229,
            230,
            231,
            232,
            233,
            234,
            236,
            237,
            238,
            239,
            240,
            241,
            243,
            244,
            245,
            246,
            247,
            248,
            249,
            250,
            251,
            252,
            253,
            254,
            255,
            256,
            257,
            258,
            259,
            260,
            261,
            262,
            263,
            264,
            265,
            266,
            267,
            268,
            269,
            270,
            271,
            272,
            273,
            274,
            275,
            276,
            277,
            278,
            279,
            280,
            281,
            282,
            283,
            284,
            285,
            286,
            287,
            288,
            292,
            293,
            294,
            295,
            297,
            298,
            299,
            300,
            301,
            302,
            303,
            304,
            305,
            306,
            307,
            308,
            310,
            311,
            312,
            313,
            314,
            315,
            316,
            317,
            318,
            323,
            326,
            329,
            330,
            333,
            334,
            335,
            336,
            339,
            340,
            341,
            343,
            345,
            347,
            351,
            360,
            361,
            362,
            363,
            364,
            374,
            376,
        )
    ]
    + ["s5"]
)
VCTK_TEST_SPEAKERS: tuple[str, ...] = ("p360", "p361", "p362", "p363", "p364", "p374", "p376", "s5")
"""The official AP-BWE (and NU-Wave, AERO, ...) test speakers."""
VCTK_TRAIN_SPEAKERS: tuple[str, ...] = tuple(
    s for s in VCTK_SPEAKERS if s not in VCTK_TEST_SPEAKERS and s not in ("p280", "p315")
)
"""The 100 training speakers of AP-BWE's ``training.txt`` (p280 and p315 are in neither list)."""
ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
_REGIONS = (
    "Southern England",
    "Edinburgh",
    "Cardiff",
    "Belfast",
    "Dublin",
    "Toronto",
    "Sydney",
    "Manchester",
)
_ACCENTS = ("English", "Scottish", "Welsh", "NorthernIrish", "Irish", "Canadian", "Australian", "English")


def vctk_speakers(n_speakers: int) -> list[str]:
    """The speaker ids a corpus of ``n_speakers`` uses: about one in five from the test split (at least one,
    when ``n_speakers >= 2``), the rest the first training speakers.

    >>> vctk_speakers(5)
    ['p225', 'p226', 'p227', 'p228', 'p360']
    """
    if not 1 <= n_speakers <= len(VCTK_TRAIN_SPEAKERS) + len(VCTK_TEST_SPEAKERS):
        raise InputError(
            f"n_speakers must be between 1 and {len(VCTK_TRAIN_SPEAKERS) + len(VCTK_TEST_SPEAKERS)}, "
            f"got {n_speakers}"
        )
    n_test = 0 if n_speakers == 1 else min(len(VCTK_TEST_SPEAKERS), max(1, round(n_speakers / 5)))
    n_test = max(n_test, n_speakers - len(VCTK_TRAIN_SPEAKERS))
    return list(VCTK_TRAIN_SPEAKERS[: n_speakers - n_test]) + list(VCTK_TEST_SPEAKERS[:n_test])


@dataclass(frozen=True)
class WrittenCorpus:
    """What a layout writer wrote: the root, the audio files, and the total audio length in seconds."""

    root: Path
    files: tuple[Path, ...]
    seconds: float


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_vctk_layout(
    out_dir: str | os.PathLike,
    n: int = 200,
    sr: int = 48000,
    seed: int = 0,
    n_speakers: int | None = None,
    seconds: tuple[float, float] = (1.5, 4.0),
    subtype: str = "PCM_16",
    progress: bool = False,
) -> WrittenCorpus:
    """Write ``n`` synthetic utterances in the VCTK-0.92 layout (see the module docstring).

    Args:
        out_dir: corpus root (created).
        n: number of utterances, spread round-robin over the speakers (``pXXX_001``, ``pXXX_002``, ...).
        sr: sample rate in Hz (<= 48000); the folder keeps its official name ``wav48_silence_trimmed``.
        seed: corpus seed; utterance ``i`` uses seed ``(seed, i)``, speaker voices come from their ids.
        n_speakers: how many speakers (default ``clamp(n // 10, 2, 108)``); see :func:`vctk_speakers`.
        seconds: ``(min, max)`` utterance length, drawn uniformly per utterance.
        subtype: FLAC sample format (``"PCM_16"`` or ``"PCM_24"``).
        progress: show a tqdm bar.

    Returns:
        :class:`WrittenCorpus` with the flac paths in writing order.

    >>> import tempfile
    >>> out = write_vctk_layout(tempfile.mkdtemp(), n=3, sr=8000, n_speakers=2, seconds=(0.5, 0.6))
    >>> sorted(p.name for p in out.files)
    ['p225_001_mic1.flac', 'p225_002_mic1.flac', 'p360_001_mic1.flac']
    """
    from sigkit.io import save_audio

    if n < 1:
        raise InputError(f"write_vctk_layout: n must be >= 1, got {n}")
    lo, hi = seconds
    if not 0.3 <= lo <= hi:
        raise InputError(
            f"write_vctk_layout: seconds must be (min, max) with 0.3 <= min <= max, got {seconds}"
        )
    root = Path(out_dir)
    speakers = vctk_speakers(n_speakers if n_speakers is not None else min(108, max(2, n // 10)))
    rng = np.random.default_rng([seed, 0xC7])
    genders = {s: ("F" if rng.random() < 0.55 else "M") for s in speakers}
    voices = {s: make_speaker(s, genders[s], seed=seed) for s in speakers}
    lines = ["ID  AGE  GENDER  ACCENTS  REGION COMMENTS "]
    for s in speakers:
        k = int(rng.integers(len(_REGIONS)))
        lines.append(f"{s}  {int(rng.integers(18, 40))}  {genders[s]}    {_ACCENTS[k]}    {_REGIONS[k]}")
    _write_text(root / "speaker-info.txt", "\n".join(lines) + "\n")
    files, total = [], 0.0
    items = range(n)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="synth speech", unit="utt")
    for i in items:
        spk = speakers[i % len(speakers)]
        utt = f"{spk}_{i // len(speakers) + 1:03d}"
        dur = float(np.random.default_rng([seed, i, 1]).uniform(lo, hi))
        wave, text = speech_like_with_text(
            dur, sr, seed=int(np.random.default_rng([seed, i]).integers(2**31)), speaker=voices[spk]
        )
        path = root / "wav48_silence_trimmed" / spk / f"{utt}_mic1.flac"
        save_audio(path, wave, sr, subtype=subtype)
        _write_text(root / "txt" / spk / f"{utt}.txt", text + "\n")
        files.append(path)
        total += len(wave) / sr
    return WrittenCorpus(root, tuple(files), total)


def write_esc50_layout(
    out_dir: str | os.PathLike,
    n_per_class: int = 8,
    sr: int = 44100,
    seconds: float = 5.0,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> WrittenCorpus:
    """Write synthetic environmental clips in the ESC-50 layout (see the module docstring).

    Clips of a class are grouped into source recordings (``src_file``) of one or two takes (``A``, ``B``),
    and whole sources are dealt to folds 1-5 in turn, as in ESC-50 where every take of a source is in one
    fold. ``target`` and ``category`` are the real ESC-50 numbers and names; ``meta/esc50.csv`` is sorted by
    filename.

    Args:
        out_dir: dataset root (created).
        n_per_class: clips per class (ESC-50 has 40).
        sr: sample rate in Hz (ESC-50: 44100). seconds: clip length (ESC-50: 5.0).
        seed: corpus seed. classes: subset of :data:`ENV_CLASSES` (default all).
        progress: show a tqdm bar.

    >>> import tempfile
    >>> out = write_esc50_layout(tempfile.mkdtemp(), 1, sr=8000, seconds=0.5, classes=["dog", "rain"])
    >>> [p.name for p in out.files]
    ['1-100000-A-0.wav', '1-110000-A-10.wav']
    """
    from sigkit.io import save_audio

    classes = list(classes or ENV_CLASSES)
    unknown = [c for c in classes if c not in ESC50_TARGETS]
    if unknown:
        raise InputError(
            f"write_esc50_layout: unknown classes {unknown}; choose from {', '.join(ENV_CLASSES)}"
        )
    if n_per_class < 1:
        raise InputError(f"write_esc50_layout: n_per_class must be >= 1, got {n_per_class}")
    root = Path(out_dir)
    rows, files = [], []
    jobs = []
    for c in classes:
        target = ESC50_TARGETS[c]
        rng = np.random.default_rng([seed, target, 0xF0])
        src_i, take, made = 0, 0, 0
        while made < n_per_class:
            src = 100000 + 1000 * target + src_i
            fold = src_i % 5 + 1
            letter = "AB"[take]
            jobs.append((c, target, fold, src, letter, made))
            made += 1
            if take == 0 and rng.random() < 0.25:
                take = 1
            else:
                take, src_i = 0, src_i + 1
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="synth esc", unit="clip")
    for c, target, fold, src, letter, k in jobs:
        name = f"{fold}-{src}-{letter}-{target}.wav"
        wave = environmental(
            c, seconds, sr, seed=int(np.random.default_rng([seed, target, k]).integers(2**31))
        )
        path = root / "audio" / name
        save_audio(path, wave, sr, subtype="PCM_16")
        files.append(path)
        rows.append((name, fold, target, c, str(c in ESC10), src, letter))
    rows.sort(key=lambda r: r[0])
    meta = root / "meta" / "esc50.csv"
    meta.parent.mkdir(parents=True, exist_ok=True)
    tmp = meta.with_name(f".esc50.csv.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(ESC50_COLUMNS)
        w.writerows(rows)
    os.replace(tmp, meta)
    return WrittenCorpus(root, tuple(files), len(files) * seconds)
