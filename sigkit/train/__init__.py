"""Training: the ``sigkit fit|validate|test|predict`` LightningCLI entry, shared callbacks, GAN helper.

>>> from sigkit.train import run_lightning_cli, SigkitCheckpoint, GANModule
"""
from sigkit.train.callbacks import (
    LastCheckpoint,
    PredictionWriter,
    RunSummary,
    SigkitCheckpoint,
    default_callbacks,
)
from sigkit.train.cli import SigkitCLI, run_lightning_cli
from sigkit.train.gan import GANModule

__all__ = ["GANModule", "LastCheckpoint", "PredictionWriter", "RunSummary", "SigkitCLI", "SigkitCheckpoint",
           "default_callbacks", "run_lightning_cli"]
