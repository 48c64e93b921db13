"""The AP-BWE demo (``make demo``): synthesize speech, train a small AP-BWE on the CPU, extend, report.

``python -m sigkit.audio.apbwe.demo --out demo_out`` does, in a few minutes on two CPU cores:

1. synthesizes a speech-like corpus at 16 kHz (:mod:`sigkit.data.synth`): training utterances in
   memory, held-out ones written as 8 kHz input files and 16 kHz references under ``OUT/data/``;
2. trains the small AP-BWE of ``configs/audio/apbwe_tiny.yaml`` (the official losses and training loop,
   64 channels, 2 blocks per stream) for ``--minutes`` with Lightning;
3. extends the held-out inputs with ``sigkit bwe`` (the batch tool) into ``OUT/extended/``;
4. writes ``OUT/report.md``: the LSD of the sinc baseline, the model and the model with
   ``--keep-lowband`` against the references, and input / output / reference spectrogram PNGs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from sigkit.io import load_audio, resample, save_audio

SR_IN, SR_OUT = 8000, 16000
TINY = dict(
    sr_out=SR_OUT, sr_in=SR_IN, channels=64, layers=2, mpd_channels=(8, 16, 32, 32, 32), mrd_channels=16
)


def write_heldout(folder: Path, n: int, seconds: float, seed: int) -> list[str]:
    """Write ``n`` held-out utterances: ``input/<id>.wav`` at 8 kHz and ``reference/<id>.wav`` at 16 kHz."""
    from sigkit.audio.apbwe.data import synthetic_utterances

    names = []
    for u in synthetic_utterances(n, seconds, SR_OUT, seed, "heldout"):
        save_audio(folder / "reference" / f"{u.uid}.wav", u.wave[None], SR_OUT, subtype="PCM_16")
        save_audio(
            folder / "input" / f"{u.uid}.wav", resample(u.wave, SR_OUT, SR_IN)[None], SR_IN, subtype="PCM_16"
        )
        names.append(u.uid)
    return names


def train(
    out: Path,
    minutes: float,
    n_train: int,
    seconds: float,
    seed: int,
    lr: float,
    warmup: int,
    max_steps: int,
    batch_size: int = 8,
) -> Path:
    """Train the tiny AP-BWE for ``minutes`` on the CPU; the path of its checkpoint."""
    import lightning.pytorch as pl
    from sigkit.audio.apbwe.data import VCTKDataModule
    from sigkit.audio.apbwe.module import APBWEModule

    pl.seed_everything(seed, verbose=False)
    model = APBWEModule(**TINY, lr=lr, adversarial_start=warmup)
    data = VCTKDataModule(
        sr_out=SR_OUT,
        sr_in=SR_IN,
        batch_size=batch_size,
        synthetic_train=n_train,
        synthetic_val=2,
        synthetic_seconds=seconds,
        seed=seed,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        enable_progress_bar=sys.stderr.isatty(),
        max_epochs=10_000,
        max_steps=max_steps,
        max_time={"seconds": int(minutes * 60)},
        default_root_dir=str(out / "train"),
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    trainer.fit(model, datamodule=data)
    ckpt = out / "apbwe_tiny.ckpt"
    trainer.save_checkpoint(str(ckpt))
    print(
        f"trained {trainer.global_step} steps ({trainer.current_epoch} epochs) in {minutes:.1f} min -> {ckpt}"
    )
    return ckpt


def spectrogram_png(path: Path, waves: dict[str, torch.Tensor], sr: int) -> None:
    """One PNG with a log-power spectrogram panel per waveform (titles = the dict keys)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sigkit.batch.tools import log_spectrogram

    fig, axes = plt.subplots(1, len(waves), figsize=(4.2 * len(waves), 3.4), sharey=True)
    for ax, (title, w) in zip(axes, waves.items(), strict=False):
        S = log_spectrogram(w.reshape(-1), sr, n_fft=512, hop=128, top_db=90.0)[0][0]
        ax.imshow(
            S.numpy(),
            origin="lower",
            aspect="auto",
            vmin=float(S.min()),
            vmax=float(S.max()),
            extent=(0, w.shape[-1] / sr, 0, sr / 2000),
            cmap="magma",
        )
        ax.set_title(title)
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate(out: Path, names: list[str], ckpt: Path) -> tuple[str, dict[str, float]]:
    """LSD of sinc, model and model + low band on the held-out files; the markdown report's table."""
    from sigkit.audio.apbwe.infer import APBWE

    from sigkit.metrics import lsd

    model = APBWE.from_checkpoint(ckpt)
    rows, totals = [], {"sinc": [], "AP-BWE tiny": [], "AP-BWE tiny + low band": []}
    for k, name in enumerate(names):
        ref, _ = load_audio(out / "data" / "reference" / f"{name}.wav")
        inp, _ = load_audio(out / "data" / "input" / f"{name}.wav")
        sinc = resample(inp, SR_IN, SR_OUT)[..., : ref.shape[-1]]
        ext, _ = load_audio(out / "extended" / f"{name}.wav")  # written by `sigkit bwe`
        ext_lb, _ = model.extend(inp, SR_IN, keep_lowband=True)
        vals = [float(lsd(x[..., : ref.shape[-1]], ref).mean()) for x in (sinc, ext, ext_lb)]
        for key, v in zip(totals, vals, strict=False):
            totals[key].append(v)
        rows.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
        if k < 2:
            spectrogram_png(
                out / f"spectrograms_{name}.png",
                {"input (8 kHz, sinc to 16 kHz)": sinc, "AP-BWE tiny output": ext, "reference 16 kHz": ref},
                SR_OUT,
            )
    means = {key: sum(v) / len(v) for key, v in totals.items()}
    table = "\n".join(
        [
            "| utterance | sinc LSD | AP-BWE tiny LSD | + --keep-lowband LSD |",
            "|---|---|---|---|",
            *rows,
            "| **mean** | " + " | ".join(f"**{v:.3f}**" for v in means.values()) + " |",
        ]
    )
    return table, means


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sigkit.audio.apbwe.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--minutes", type=float, default=3.0, help="training time on the CPU (default 3)")
    p.add_argument(
        "--train-utterances", type=int, default=96, help="synthetic training utterances (default 96)"
    )
    p.add_argument("--test-utterances", type=int, default=6, help="held-out utterances (default 6)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each utterance in s (default 2)")
    p.add_argument(
        "--lr", type=float, default=1e-3, help="learning rate (official 2e-4; default 1e-3 for a short run)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=150,
        help="batches on the reconstruction losses alone before the discriminators join (default 150)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=100_000,
        help="stop after this many optimizer steps (G and D steps count apart; default: time only)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="training batch (default 8)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = write_heldout(out / "data", args.test_utterances, args.seconds, seed=10_000 + args.seed)
    ckpt = train(
        out,
        args.minutes,
        args.train_utterances,
        args.seconds,
        args.seed,
        args.lr,
        args.warmup,
        args.max_steps,
        args.batch_size,
    )
    from sigkit.audio.apbwe.infer import main as bwe_main

    code = bwe_main(
        [
            str(out / "data" / "input"),
            str(out / "extended"),
            "--ckpt",
            str(ckpt),
            "--device",
            "cpu",
            "--overwrite",
            "-q",
        ]
    )
    if code:
        print(f"sigkit bwe failed (exit {code}); see {out / 'extended' / 'errors.jsonl'}", file=sys.stderr)
        return code
    table, means = evaluate(out, names, ckpt)
    verdict = "beats" if means["AP-BWE tiny"] < means["sinc"] else "does NOT beat"
    report = (
        f"# AP-BWE demo (8 kHz -> 16 kHz, synthetic speech)\n\n"
        f"Small AP-BWE (64 channels, 2 blocks per stream) trained "
        f"{args.minutes:g} min on the CPU on {args.train_utterances} synthetic utterances; "
        f"{len(names)} held-out utterances. LSD as the official evaluation (2048/512 STFT, full band; "
        "lower is "
        f"better). The model {verdict} the sinc baseline.\n\n{table}\n\n"
        + "".join(f"![spectrograms](spectrograms_{n}.png)\n" for n in names[:2])
        + f"\nTotal time {time.perf_counter() - start:.0f} s.\n"
    )
    (out / "report.md").write_text(report)
    print(table)
    print(
        f"report: {out / 'report.md'} (the model {verdict} sinc: "
        f"LSD {means['AP-BWE tiny']:.3f} vs {means['sinc']:.3f})"
    )
    return 0 if math.isfinite(means["AP-BWE tiny"]) else 1


if __name__ == "__main__":
    sys.exit(main())
