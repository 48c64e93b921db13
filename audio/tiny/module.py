"""The LightningModule that trains a tiny classifier (the science; the wiring is LightningCLI's).

Batches are ``(wave, label)``: waveforms ``(B, T)`` float and class indices ``(B,)`` long. A training
step runs the waveform augmentation, the model's front end, SpecAugment, mixup on the feature maps,
then ``model.forward_features``; the loss is cross-entropy against the (mixed, optionally smoothed)
targets. AdamW with a one-cycle schedule (warm-up then cosine decay) over the whole run.

Logged: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc`` (the checkpoint monitor, "max"),
``test/loss``, ``test/acc``. The class names of the DataModule are stored in the checkpoint
(``checkpoint["class_names"]``) so ``sigkit classify`` can print labels.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from sigkit.audio.tiny.augment import mixup
from torch import Tensor, nn

from sigkit.errors import InputError


class TinyClassifierModule(pl.LightningModule):
    """Trains a :class:`~sigkit.audio.tiny.TinyTransformer` or :class:`~sigkit.audio.tiny.MFCCCNN`.

    Args:
        model: the classifier (front end inside it).
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        warmup: fraction of the steps spent warming up.
        label_smoothing: cross-entropy label smoothing.
        mixup_alpha: mixup's Beta parameter on the feature maps; ``None`` or 0 turns mixup off.
        spec_augment: a feature-map augmentation (e.g. :class:`~sigkit.audio.tiny.augment.SpecAugment`).
        wave_augment: a waveform augmentation (e.g. :class:`~sigkit.audio.tiny.augment.WaveAugment`).

    >>> from sigkit.audio.tiny import TinyTransformer, WaveChunkFrontend
    >>> module = TinyClassifierModule(TinyTransformer(WaveChunkFrontend(100), n_classes=3, clip_samples=1000))
    >>> module(torch.randn(2, 1000)).shape
    torch.Size([2, 3])
    """

    #: the metric :class:`sigkit.train.SigkitCheckpoint` keeps the best checkpoint of, and its mode.
    checkpoint_monitor = ("val/acc", "max")

    def __init__(
        self,
        model: nn.Module,
        lr: float = 3e-3,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        label_smoothing: float = 0.0,
        mixup_alpha: float | None = None,
        spec_augment: nn.Module | None = None,
        wave_augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if lr <= 0 or not 0.0 <= warmup < 1.0 or not 0.0 <= label_smoothing < 1.0:
            raise InputError(
                f"need lr > 0, 0 <= warmup < 1 and 0 <= label_smoothing < 1; got lr={lr}, "
                f"warmup={warmup}, label_smoothing={label_smoothing}"
            )
        with warnings.catch_warnings():
            # kept on purpose: a checkpoint made outside the CLI rebuilds its modules from these hparams
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`.*")
            self.save_hyperparameters()
        self.model = model
        self.lr, self.weight_decay, self.warmup = lr, weight_decay, warmup
        self.label_smoothing, self.mixup_alpha = label_smoothing, mixup_alpha
        self.spec_augment, self.wave_augment = spec_augment, wave_augment
        self.class_names: list[str] | None = None

    def forward(self, wave: Tensor) -> Tensor:
        """Logits ``(B, n_classes)`` for waveforms ``(B, T)``."""
        return self.model(wave)

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        fe_sr = getattr(self.model.frontend, "sr", None)
        if dm is not None and getattr(dm, "sr", None) not in (None, fe_sr):
            raise InputError(
                f"the data is resampled to {dm.sr} Hz but the model's front end expects {fe_sr} Hz; "
                f"set --data.init_args.sr {fe_sr} (or the front end's sr)"
            )
        clip = getattr(dm, "clip_samples", None)
        if clip is not None and clip != self.model.clip_samples:
            raise InputError(
                f"the data gives clips of {clip} samples but the model was built for "
                f"{self.model.clip_samples}; set --model.init_args.model.init_args.clip_samples {clip} "
                "(or the data's duration)"
            )
        names = getattr(dm, "class_names", None)
        if names:
            n_classes = getattr(self.model, "n_classes", len(names))
            if len(names) != n_classes:
                raise InputError(
                    f"the data has {len(names)} classes but the model was built for {n_classes}; "
                    f"set --model.init_args.model.init_args.n_classes {len(names)}"
                )
            self.class_names = list(names)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        wave, label = batch
        if self.wave_augment is not None:
            wave = self.wave_augment(wave)
        feats = self.model.frontend(wave)
        if self.spec_augment is not None:
            feats = self.spec_augment(feats)
        target = nn.functional.one_hot(label, self.model.n_classes).to(feats.dtype)
        if self.mixup_alpha:
            feats, target = mixup(feats, target, self.mixup_alpha)
        logits = self.model.forward_features(feats)
        loss = nn.functional.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == label).float().mean()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, batch_size=len(label))
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        wave, label = batch
        logits = self(wave)
        loss = nn.functional.cross_entropy(logits, label)
        acc = (logits.argmax(1) == label).float().mean()
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/acc": acc},
            prog_bar=stage == "val",
            batch_size=len(label),
            sync_dist=True,
        )

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        wave = batch[0] if isinstance(batch, (tuple, list)) else batch
        return torch.softmax(self(wave), dim=-1)

    def configure_optimizers(self) -> dict:
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2 and not n.endswith(("pos", "cls"))]
        no_decay = [
            p for n, p in self.named_parameters() if not (p.dim() >= 2 and not n.endswith(("pos", "cls")))
        ]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=self.lr,
            total_steps=max(1, int(self.trainer.estimated_stepping_batches)),
            pct_start=max(self.warmup, 1e-3),
            anneal_strategy="cos",
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["class_names"] = self.class_names

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.class_names = checkpoint.get("class_names")
