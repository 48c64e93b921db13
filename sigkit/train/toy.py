"""A tiny LightningModule and DataModule for testing the training CLI end to end.

:class:`SineRegressor` is a two-layer 1-D conv net that learns to predict a sine's amplitude from
its samples; :class:`SineDataModule` makes the synthetic sines, deterministic by seed. Both are a
few hundred parameters and a few hundred samples, so ``sigkit fit -c configs/test/toy.yaml`` runs an
epoch in about a second on a CPU. They depend on nothing but torch and Lightning.
"""
from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset


def make_sines(n: int, length: int = 64, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` noisy sines and their amplitudes.

    Args:
        n: number of examples.
        length: samples per example.
        seed: the random seed (same seed, same data).

    Returns:
        ``(x, y)``: waveforms ``(n, 1, length)`` float32 and amplitudes ``(n,)`` in ``[0.1, 1.0]``.

    >>> x, y = make_sines(4, length=32, seed=1)
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 1, 32), (4,))
    >>> bool((x.abs().amax(dim=(1, 2)) <= y + 0.05).all())
    True
    """
    g = torch.Generator().manual_seed(seed)
    amp = 0.1 + 0.9 * torch.rand(n, generator=g)
    cycles = 1.0 + 4.0 * torch.rand(n, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    t = torch.arange(length, dtype=torch.float32) / length
    noise = 0.01 * torch.randn(n, length, generator=g)
    x = amp[:, None] * torch.sin(2 * math.pi * cycles * t + phase) + noise
    return x[:, None, :].float(), amp.float()


class SineDataModule(pl.LightningDataModule):
    """Synthetic sines for the toy regressor: train, val, test and predict splits.

    Args:
        n_train: training examples.
        n_val: validation (and test) examples.
        length: samples per example.
        batch_size: examples per batch.
        seed: data seed; the splits use ``seed``, ``seed + 1`` and ``seed + 2``.

    >>> dm = SineDataModule(n_train=8, n_val=4, batch_size=4)
    >>> dm.setup("fit")
    >>> x, y = next(iter(dm.train_dataloader()))
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 1, 64), (4,))
    """

    def __init__(self, n_train: int = 256, n_val: int = 64, length: int = 64, batch_size: int = 32,
                 seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.n_train, self.n_val, self.length = n_train, n_val, length
        self.batch_size, self.seed = batch_size, seed
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for name, n, offset in (("train", self.n_train, 0), ("val", self.n_val, 1), ("test", self.n_val, 2)):
            if name not in self.splits:
                self.splits[name] = TensorDataset(*make_sines(n, self.length, self.seed + offset))

    def _loader(self, name: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.splits[name], batch_size=self.batch_size, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test")


class SineRegressor(pl.LightningModule):
    """Predicts a sine's amplitude from its samples: conv -> ReLU -> conv -> global max -> scalar.

    Logs ``train/loss``, ``val/loss`` (the checkpoint monitor), ``test/loss`` and ``world_size`` (the
    number of processes that took part, summed across ranks with ``sync_dist`` — 2 under a
    2-process DDP run, which the tests use to prove both ranks ran).

    Args:
        channels: hidden channels.
        lr: Adam learning rate.

    Input ``(B, 1, T)``, output ``(B,)``.

    >>> model = SineRegressor(channels=4)
    >>> model(torch.zeros(2, 1, 16)).shape
    torch.Size([2])
    """

    #: the metric :class:`sigkit.train.SigkitCheckpoint` keeps the best checkpoint of, and its mode.
    checkpoint_monitor = ("val/loss", "min")

    def __init__(self, channels: int = 8, lr: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.lr = lr
        self.net = nn.Sequential(nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),
                                 nn.Conv1d(channels, 1, 5, padding=2))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).amax(dim=(1, 2))

    def _loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("world_size", 1.0, reduce_fx="sum", sync_dist=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch), prog_bar=True, sync_dist=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("test/loss", self._loss(batch), sync_dist=True)

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)
