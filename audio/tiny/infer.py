"""Inference: load a trained classifier, classify waveforms, ``sigkit classify`` and ``sigkit esc50-cv``.

- ``sigkit classify IN --ckpt X.ckpt [--out predictions.csv --top-k 3]``: every audio file under
  ``IN`` (a file, a folder, a glob or a list file) is resampled to the model's rate, cut into
  clip-long windows whose class probabilities are averaged, and one row per file is written to
  ``predictions.csv`` (``file, label_1, prob_1, ..., label_k, prob_k``). Unreadable files are
  reported in ``errors.jsonl`` beside the csv and the rest goes on (the batch runner's contract).
- ``sigkit esc50-cv -c configs/audio/tiny_esc50.yaml --data.root /data/ESC-50``: trains and validates
  on each of ESC-50's five folds and prints the accuracy of each and their mean +- std.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import warnings
from pathlib import Path

import torch
from sigkit.audio.tiny.module import TinyClassifierModule
from torch import Tensor

from sigkit.errors import CheckpointError, InputError


def load_classifier(ckpt: str | Path) -> TinyClassifierModule:
    """A :class:`TinyClassifierModule` from a checkpoint of ``sigkit fit`` (or ``Trainer.save_checkpoint``),
    on the CPU, in eval mode, with ``class_names`` restored.

    Raises:
        CheckpointError: missing file, or a checkpoint of another kind of model.
    """
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise CheckpointError(
            f"{ckpt}: no such checkpoint; pass --ckpt a .ckpt written by `sigkit fit -c "
            "configs/audio/tiny_*.yaml` (lightning_logs/version_N/checkpoints/)"
        )
    try:
        with (
            warnings.catch_warnings()
        ):  # rebuilding the modules from the saved config re-saves them as hparams
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
            module = TinyClassifierModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=False)
    except Exception as err:  # Lightning raises KeyError/TypeError/RuntimeError/pickle errors here
        raise CheckpointError(
            f"{ckpt}: not a tiny-classifier checkpoint ({type(err).__name__}: {err}); use a "
            "checkpoint trained with a configs/audio/tiny_*.yaml config"
        ) from err
    return module.eval()


def load_datamodule(ckpt: str | Path, **overrides):
    """The DataModule a checkpoint was trained with (its saved hyper-parameters), with ``overrides``
    (e.g. ``root=`` where the data now lives, ``fold=``)."""
    import lightning.pytorch as pl

    try:
        return pl.LightningDataModule.load_from_checkpoint(
            ckpt, map_location="cpu", weights_only=False, **overrides
        )
    except Exception as err:
        raise CheckpointError(
            f"{ckpt}: holds no DataModule settings ({type(err).__name__}: {err}); train with "
            "`sigkit fit -c configs/audio/tiny_*.yaml`, which saves them"
        ) from err


@torch.no_grad()
def clip_probabilities(model: torch.nn.Module, wave: Tensor) -> Tensor:
    """Class probabilities ``(C,)`` of a mono waveform ``(T,)`` at the model's rate.

    A waveform longer than ``model.clip_samples`` is cut into windows of that length starting every
    ``clip_samples`` samples, the last one ending at the file's end (so it overlaps its neighbour
    rather than being padded with silence the model never saw); a shorter one is zero-padded, as in
    training. The windows' softmax probabilities are averaged.

    >>> from sigkit.audio.tiny import TinyTransformer, WaveChunkFrontend
    >>> m = TinyTransformer(WaveChunkFrontend(50), n_classes=3, clip_samples=500).eval()
    >>> p = clip_probabilities(m, torch.randn(1200))
    >>> p.shape, round(float(p.sum()), 5)
    (torch.Size([3]), 1.0)
    """
    if wave.dim() != 1 or wave.numel() == 0:
        raise InputError(
            f"clip_probabilities needs a non-empty mono waveform (T,), got shape {tuple(wave.shape)}"
        )
    n, length = model.clip_samples, wave.numel()
    if length <= n:
        batch = torch.nn.functional.pad(wave, (0, n - length))[None]
    else:
        starts = list(range(0, length - n, n)) + [length - n]
        batch = torch.stack([wave[s : s + n] for s in starts])
    return torch.softmax(model(batch), dim=-1).mean(dim=0)


def top_k(probs: Tensor, class_names: list[str] | None, k: int) -> list[tuple[str, float]]:
    """The ``k`` most probable ``(label, probability)`` pairs, best first.

    >>> top_k(torch.tensor([0.1, 0.7, 0.2]), ["a", "b", "c"], 2)
    [('b', 0.699999988079071), ('c', 0.20000000298023224)]
    """
    k = min(k, probs.numel())
    values, idx = probs.topk(k)
    names = class_names or [str(i) for i in range(probs.numel())]
    return [(names[i], float(v)) for v, i in zip(values.tolist(), idx.tolist(), strict=True)]


def classify_main(argv: list[str] | None = None) -> int:
    """``sigkit classify IN [OUT] --ckpt X.ckpt [--top-k 3]``: class probabilities of every audio file.

    Each file gets a one-row ``OUT/<its relative path>.pred.csv`` (so a killed run resumes), and all
    rows are gathered into ``OUT/predictions.csv`` (``file, label_1, prob_1, ..., label_k, prob_k``,
    sorted by file). Returns 0, or 1 when a file failed (listed in ``OUT/errors.jsonl``).
    """
    from sigkit.batch.cli import add_batch_arguments, resolve_device, run_from_args
    from sigkit.io import load_audio

    parser = argparse.ArgumentParser(
        prog="sigkit classify",
        description="classify audio files with a tiny sound classifier; writes OUT/predictions.csv",
    )
    add_batch_arguments(parser, batch_size=8)
    for action in parser._actions:  # OUT is optional here: `sigkit classify IN --ckpt X`
        if action.dest == "output":
            action.nargs, action.default = "?", "predictions"
    parser.add_argument(
        "--ckpt", required=True, help="a checkpoint of `sigkit fit -c configs/audio/tiny_*.yaml`"
    )
    parser.add_argument("--top-k", type=int, default=3, help="labels written per file (default: 3)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    device = resolve_device(args.device)
    module = load_classifier(args.ckpt)
    model = module.model.to(device).eval()
    sr = int(model.frontend.sr)
    k = min(args.top_k, model.n_classes)

    def load(path: Path) -> Tensor:
        return load_audio(path, sr=sr, mono=True)[0][0]

    def process(jobs) -> list[tuple[str, list[tuple[str, float]]]]:
        return [
            (
                job.source.rel.as_posix(),
                top_k(clip_probabilities(model, job.data.to(device)).cpu(), module.class_names, k),
            )
            for job in jobs
        ]

    def save(result: tuple[str, list[tuple[str, float]]], path: Path) -> None:
        name, preds = result
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerow([name] + [v for label, p in preds for v in (label, f"{p:.6f}")])

    code = run_from_args(args, load=load, process=process, save=save, out_suffix=".pred.csv", desc="classify")
    out = Path(args.output)
    rows = []
    for part in sorted(out.rglob("*.pred.csv")):
        with open(part, newline="") as fh:
            values = next(csv.reader(fh), [])
        if values:
            preds = [(values[i], float(values[i + 1])) for i in range(1, len(values) - 1, 2)]
            rows.append((values[0], preds[:k]))
    if rows:
        _write_predictions(out / "predictions.csv", rows, k)
        print(f"sigkit classify: {len(rows)} file(s) in {out / 'predictions.csv'}")
    return code


def crossval_main(argv: list[str] | None = None) -> int:
    """``sigkit esc50-cv -c CONFIG --data.root ROOT [--folds 1,2,3,4,5] [--out DIR] [LightningCLI args]``.

    Runs ``sigkit fit`` once per fold (``--data.init_args.fold k``, logs under ``OUT/fold{k}``) and
    prints each fold's validation accuracy after the last epoch (no model selection on the held-out
    fold) and their mean +- (sample) std. Returns 0, or 1 if a fold failed.
    """
    from sigkit.errors import SigkitError
    from sigkit.train.cli import SigkitCLI

    parser = argparse.ArgumentParser(
        prog="sigkit esc50-cv",
        add_help=True,
        description="5-fold ESC-50 cross-validation of a tiny config; other arguments go to `sigkit fit`",
    )
    parser.add_argument("--folds", default="1,2,3,4,5", help="comma-separated validation folds")
    parser.add_argument("--out", default="esc50_cv", help="folder for each fold's logs and checkpoints")
    args, rest = parser.parse_known_args(argv)
    try:
        folds = [int(f) for f in args.folds.split(",") if f.strip()]
    except ValueError:
        raise InputError(f"--folds must be comma-separated integers 1-5, got {args.folds!r}") from None
    if not folds or any(f not in range(1, 6) for f in folds):
        raise InputError(f"--folds must list ESC-50 folds 1-5, got {args.folds!r}")
    accs: dict[int, float] = {}
    for fold in folds:
        fit_args = [
            "fit",
            *rest,
            "--data.init_args.fold",
            str(fold),
            "--trainer.default_root_dir",
            str(Path(args.out) / f"fold{fold}"),
        ]
        try:
            with warnings.catch_warnings():  # args are passed on purpose (sys.argv is `sigkit esc50-cv`)
                warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
                cli = SigkitCLI(args=fit_args)
        except SigkitError as err:
            print(f"sigkit esc50-cv: fold {fold}: error: {err}", file=sys.stderr)
            return 1
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
        metric = cli.trainer.callback_metrics.get("val/acc")
        if metric is None:
            print(
                f"sigkit esc50-cv: fold {fold}: no val/acc was logged; is the model a TinyClassifierModule?",
                file=sys.stderr,
            )
            return 1
        accs[fold] = 100.0 * float(metric)
        print(f"fold {fold}: val accuracy {accs[fold]:.2f}%")
    values = list(accs.values())
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    print(
        f"ESC-50 {len(values)}-fold accuracy: {statistics.mean(values):.2f} +- {std:.2f} % "
        f"(folds {', '.join(f'{k}: {v:.2f}' for k, v in accs.items())})"
    )
    return 0


def _write_predictions(path: Path, rows: list[tuple[str, list[tuple[str, float]]]], k: int) -> None:
    header = ["file"] + [c for i in range(1, k + 1) for c in (f"label_{i}", f"prob_{i}")]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for name, preds in rows:
            writer.writerow([name] + [v for label, p in preds for v in (label, f"{p:.6f}")])
    tmp.replace(path)
