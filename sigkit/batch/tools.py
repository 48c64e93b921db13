"""The two foundation batch tools: ``sigkit resample`` and ``sigkit spectrogram``.

``sigkit resample IN OUT --sr 16000 [--method sinc|soxr]`` writes each audio file at the new rate in
its own format and subtype; ``sigkit spectrogram IN OUT [--n-fft 1024 --hop 256]`` writes a PNG
log-spectrogram of each (time in seconds, frequency in Hz, a colorbar in dB re full scale). Both take
the shared batch arguments (:func:`~sigkit.batch.cli.add_batch_arguments`).
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch
from torch import Tensor

from sigkit.batch.cli import add_batch_arguments, resolve_device, run_from_args
from sigkit.batch.runner import Job
from sigkit.errors import InputError


def resample_batch(waves: list[Tensor], rates: list[int], sr_out: int, method: str = "sinc",
                   device: str | torch.device = "cpu") -> list[Tensor]:
    """Resample several ``(C, T)`` waveforms to ``sr_out`` Hz, those of the same rate in one call.

    With ``method="sinc"`` the waveforms of one rate are zero-padded to a common length, stacked
    (channels of all files along the batch dimension) and resampled together on ``device``; each
    output is then cut to its own length ``ceil(T * sr_out / sr_in)``. The sinc filter sees zeros
    past a signal's end either way, so the result equals resampling each file alone.
    ``method="soxr"`` runs each file alone on the CPU.

    Returns:
        One ``(C, ceil(T * sr_out / sr_in))`` float32 CPU tensor per input, in order.

    >>> a, b = torch.randn(1, 441), torch.randn(2, 882)
    >>> [tuple(y.shape) for y in resample_batch([a, b], [44100, 44100], 16000)]
    [(1, 160), (2, 320)]
    """
    from sigkit.io import resample

    out: list[Tensor | None] = [None] * len(waves)
    if method != "sinc":
        pairs = zip(waves, rates, strict=True)
        return [resample(w, sr, sr_out, method=method).float().cpu() for w, sr in pairs]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, sr in enumerate(rates):
        groups[sr].append(i)
    for sr, idx in groups.items():
        longest = max(waves[i].shape[-1] for i in idx)
        rows = [torch.nn.functional.pad(waves[i], (0, longest - waves[i].shape[-1])) for i in idx]
        y = resample(torch.cat(rows).to(device), sr, sr_out, method="sinc").float().cpu()
        row = 0
        for i in idx:
            channels, length = waves[i].shape
            n_out = -(-length * sr_out // sr)  # ceil
            out[i] = y[row:row + channels, :n_out]
            row += channels
    return out  # type: ignore[return-value]


def resample_main(argv: list[str]) -> int:
    """``sigkit resample IN OUT --sr 16000 [--method sinc|soxr]``; returns the exit code."""
    from sigkit.io import RESAMPLE_METHODS, audio_info, check_rate, load_audio, save_audio

    parser = argparse.ArgumentParser(
        prog="sigkit resample",
        description="Resample audio files to --sr Hz; each output keeps its input's format and subtype.")
    add_batch_arguments(parser, batch_size=8)
    parser.add_argument("--sr", type=int, required=True, help="output sample rate in Hz")
    parser.add_argument("--method", choices=list(RESAMPLE_METHODS), default="sinc",
                        help="sinc: torchaudio's (AP-BWE's) filter, on the device; soxr: libsoxr HQ (CPU)")
    args = parser.parse_args(argv)
    sr_out = check_rate(args.sr, "--sr")
    device = resolve_device(args.device)

    def load(path: Path) -> tuple[Tensor, int, object]:
        info = audio_info(path)
        wave, sr = load_audio(path)
        return wave, sr, info

    def process(jobs: list[Job]) -> list[tuple[Tensor, object]]:
        ys = resample_batch([j.data[0] for j in jobs], [j.data[1] for j in jobs], sr_out, args.method, device)
        return [(y, j.data[2]) for y, j in zip(ys, jobs, strict=True)]

    def save(result: tuple[Tensor, object], tmp: Path) -> None:
        wave, info = result
        save_audio(tmp, wave, sr_out, subtype=info.subtype, format=info.format)

    return run_from_args(args, load=load, process=process, save=save, desc="resample")


def log_spectrogram(wave: Tensor, sr: int, n_fft: int = 1024, hop: int = 256,
                    top_db: float = 80.0) -> tuple[Tensor, Tensor, Tensor]:
    """Magnitude spectrogram in dB re full scale: a full-scale sine on a bin reads 0 dB.

    ``20 log10(2 |X| / sum(window))`` with a Hann window, centred frames and zero padding at the ends;
    values more than ``top_db`` below the peak are raised to ``peak - top_db``.

    Args:
        wave: ``(C, T)`` or ``(T,)`` waveform in [-1, 1].
        sr: sample rate in Hz.
        n_fft: FFT size in samples; hop: frame step in samples.
        top_db: dynamic range kept below the peak, in dB.

    Returns:
        ``(db, times, freqs)``: ``db`` ``(C, n_fft // 2 + 1, frames)``, frame centres ``(frames,)`` in
        seconds and bin frequencies ``(n_fft // 2 + 1,)`` in Hz.

    >>> t = torch.arange(16000) / 16000
    >>> db, times, freqs = log_spectrogram(torch.sin(2 * torch.pi * 1000 * t), 16000)
    >>> db.shape, round(float(db.max()), 2), float(freqs[db[0, :, 30].argmax()])
    (torch.Size([1, 513, 63]), 0.0, 1000.0)
    """
    from sigkit.spectral import STFTSpec, stft

    if top_db <= 0:
        raise InputError(f"top_db must be positive, got {top_db}")
    wave = wave if wave.dim() == 2 else wave.reshape(1, -1)
    spec = STFTSpec(n_fft=n_fft, hop=hop, pad_mode="constant")
    window_sum = spec.window_tensor(wave.device, torch.float32).sum()
    amp = stft(wave.float(), spec).abs() * (2.0 / window_sum)
    db = 20.0 * torch.log10(amp.clamp_min(1e-10))
    db = db.clamp_min(db.max() - top_db)
    times = torch.arange(db.shape[-1]) * (hop / sr)
    freqs = torch.arange(db.shape[-2]) * (sr / n_fft)
    return db, times, freqs


def render_spectrogram(path: Path, db: Tensor, sr: int, hop: int, title: str, cmap: str = "magma") -> None:
    """Save ``db`` ``(C, F, frames)`` as a PNG: one panel per channel, seconds by Hz, a dB colorbar."""
    from matplotlib.figure import Figure

    channels, bins, frames = db.shape
    n_fft = 2 * (bins - 1)
    extent = (-0.5 * hop / sr, (frames - 0.5) * hop / sr, -0.5 * sr / n_fft, (bins - 0.5) * sr / n_fft)
    height = 0.9 + 2.6 * channels  # inches: 2.6 a panel, margins for the title and the time axis
    fig = Figure(figsize=(10, height))  # fixed margins: constrained layout doubles the render time
    fig.subplots_adjust(left=0.08, right=0.93, bottom=0.55 / height, top=1 - 0.35 / height, hspace=0.12)
    axes = fig.subplots(channels, 1, sharex=True, squeeze=False)[:, 0]
    vmin, vmax = float(db.min()), float(db.max())
    for c, ax in enumerate(axes):
        image = ax.imshow(db[c].numpy(), origin="lower", aspect="auto", extent=extent, cmap=cmap,
                          vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_ylabel("frequency (Hz)" if channels == 1 else f"ch {c}: frequency (Hz)")
        fig.colorbar(image, ax=ax, label="dB re full scale", fraction=0.05, pad=0.01)
    axes[0].set_title(title)
    axes[-1].set_xlabel("time (s)")
    fig.savefig(path, format="png", dpi=100)


def spectrogram_main(argv: list[str]) -> int:
    """``sigkit spectrogram IN OUT [--n-fft 1024 --hop 256 --top-db 80]``; returns the exit code."""
    from sigkit.io import load_audio

    parser = argparse.ArgumentParser(
        prog="sigkit spectrogram",
        description="Write a PNG log-spectrogram of each audio file "
                    "(seconds by Hz, colorbar in dB re full scale).")
    add_batch_arguments(parser, batch_size=8)
    parser.add_argument("--n-fft", type=int, default=1024, help="FFT size in samples (default: 1024)")
    parser.add_argument("--hop", type=int, default=256, help="frame step in samples (default: 256)")
    parser.add_argument("--top-db", type=float, default=80.0, help="dynamic range shown, in dB (default: 80)")
    parser.add_argument("--cmap", default="magma", help="matplotlib colormap (default: magma)")
    args = parser.parse_args(argv)
    from sigkit.spectral import STFTSpec

    STFTSpec(args.n_fft, args.hop)  # a bad --n-fft/--hop is an error before any work
    if args.top_db <= 0:
        raise InputError(f"--top-db must be positive, got {args.top_db}")
    device = resolve_device(args.device)

    def process(jobs: list[Job]) -> list[tuple[Tensor, int, str]]:
        results = []
        for job in jobs:
            wave, sr = job.data
            db, _, _ = log_spectrogram(wave.to(device), sr, args.n_fft, args.hop, args.top_db)
            title = f"{job.source.rel.as_posix()} — {sr} Hz, {wave.shape[-1] / sr:.2f} s"
            results.append((db.cpu(), sr, title))
        return results

    def save(result: tuple[Tensor, int, str], tmp: Path) -> None:
        db, sr, title = result
        render_spectrogram(tmp, db, sr, args.hop, title, args.cmap)

    return run_from_args(args, load=load_audio, process=process, save=save, out_suffix=".png",
                         desc="spectrogram")
