"""Callbacks every sigkit training run gets by default (see :func:`default_callbacks`)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info


class SigkitCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` keeping the best checkpoint by the metric the model names (else the latest).

    A LightningModule names its metric with a class attribute ``checkpoint_monitor = ("val/loss", "min")``;
    with none (and no ``monitor`` given here) the latest epoch's checkpoint is kept instead of the best.
    Checkpoints go to ``<log dir>/checkpoints/`` (``lightning_logs/version_N/checkpoints/`` by default)
    as ``epoch=E-step=S.ckpt``; :class:`LastCheckpoint` writes ``last.ckpt`` beside them.

    Args:
        monitor: metric to keep the best checkpoint of; ``None`` asks the model's ``checkpoint_monitor``.
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        **kwargs: any other ``ModelCheckpoint`` argument (``save_top_k``, ``every_n_epochs``, ...).

    >>> cb = SigkitCheckpoint()
    >>> cb.monitor, cb.save_top_k
    (None, 1)
    """

    def __init__(self, monitor: str | None = None, mode: str = "min", **kwargs: Any) -> None:
        super().__init__(monitor=monitor, mode=mode, **kwargs)
        self._monitor_given = monitor is not None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        named = getattr(pl_module, "checkpoint_monitor", None)
        if not self._monitor_given and named:
            self.monitor, mode = named
            self._set_mode(mode)
        super().setup(trainer, pl_module, stage)

    def _set_mode(self, mode: str) -> None:
        # the fields ModelCheckpoint's (private) __init_monitor_mode sets from mode
        if mode not in ("min", "max"):
            raise ValueError(f"checkpoint_monitor mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        inf = torch.tensor(torch.inf)
        self.kth_value = inf if mode == "min" else -inf


class LastCheckpoint(ModelCheckpoint):
    """Writes ``last.ckpt`` after every epoch (validation end, or train epoch end without validation).

    Lightning 2.6's ``ModelCheckpoint(save_last=True)`` refreshes ``last.ckpt`` only when a top-k
    checkpoint was saved in the same step, so with a monitored metric that got worse ``last.ckpt``
    would hold an older epoch; this callback keeps exactly one, always the latest.

    >>> cb = LastCheckpoint()
    >>> cb.filename, cb.monitor, cb.save_top_k
    ('last', None, 1)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(monitor=None, save_top_k=1, filename="last", enable_version_counter=False, **kwargs)


class RunSummary(Callback):
    """Prints one line when ``fit`` ends: epochs, steps, the monitored metric, where checkpoints went, time.

    >>> RunSummary().format_line(2, 16, {"val/loss": 0.0123}, "ckpts", 3.42)
    'fit done: 2 epoch(s), 16 step(s), val/loss 0.0123, checkpoints in ckpts, in 3.4 s'
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last_line: str | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    @staticmethod
    def format_line(epochs: int, steps: int, metrics: dict[str, float], ckpt_dir: str | None,
                    seconds: float) -> str:
        parts = [f"fit done: {epochs} epoch(s), {steps} step(s)"]
        parts += [f"{k} {v:.4g}" for k, v in metrics.items()]
        if ckpt_dir:
            parts.append(f"checkpoints in {ckpt_dir}")
        return ", ".join(parts) + f", in {seconds:.1f} s"

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics: dict[str, float] = {}
        ckpt_dir = None
        if trainer.checkpoint_callback is not None:
            cb = trainer.checkpoint_callback
            ckpt_dir = getattr(cb, "dirpath", None)
            monitor = getattr(cb, "monitor", None)
            if monitor and monitor in trainer.callback_metrics:
                metrics[monitor] = float(trainer.callback_metrics[monitor])
        self.last_line = self.format_line(trainer.current_epoch, trainer.global_step, metrics, ckpt_dir,
                                          time.perf_counter() - self.start)
        rank_zero_info(self.last_line)


class PredictionWriter(BasePredictionWriter):
    """Saves what ``predict_step`` returned to ``<dir>/predictions/rank<R>.pt`` at the end of ``predict``.

    The file holds the list of per-batch outputs (what ``Trainer.predict`` returns), for
    ``torch.load``. ``<dir>`` is ``output_dir`` or else the run's log folder
    (``lightning_logs/version_N``). Methods with their own outputs (audio files, pictures) write them
    in their batch tool instead.

    >>> PredictionWriter().interval.on_epoch
    True
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.path: Path | None = None

    def write_on_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Any,
                           batch_indices: Any) -> None:
        root = self.output_dir or trainer.log_dir or trainer.default_root_dir
        self.path = Path(root) / "predictions" / f"rank{trainer.global_rank}.pt"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.part")
        torch.save(predictions, tmp)
        os.replace(tmp, self.path)
        print(f"predict done: {len(predictions)} batch(es) saved to {self.path}")


def default_callbacks(with_logger: bool = True) -> list[Callback]:
    """The callbacks a ``sigkit fit`` run gets unless the config already has one of the same kind.

    :class:`SigkitCheckpoint` (best), :class:`LastCheckpoint` (``last.ckpt``), :class:`RunSummary`,
    :class:`PredictionWriter` (acts in ``predict`` only), and a ``LearningRateMonitor`` (per step)
    when a logger is on. Lightning's TQDM progress bar is on
    by default (``--trainer.enable_progress_bar false`` turns it off).

    >>> [type(cb).__name__ for cb in default_callbacks()]
    ['SigkitCheckpoint', 'LastCheckpoint', 'LearningRateMonitor', 'RunSummary', 'PredictionWriter']
    """
    callbacks: list[Callback] = [SigkitCheckpoint(), LastCheckpoint()]
    if with_logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    callbacks += [RunSummary(), PredictionWriter()]
    return callbacks
