"""``sigkit fit|validate|test|predict -c CONFIG.yaml``: LightningCLI with sigkit's defaults.

The model and the data are chosen by ``class_path`` in the YAML (any ``LightningModule`` /
``LightningDataModule`` subclass), every run is seeded (``seed_everything: 0`` unless changed), and the
trainer gets, unless the config already has one of the same kind:

- a CSV logger writing ``<default_root_dir>/lightning_logs/version_N/metrics.csv``
  (``--trainer.logger tensorboard`` for TensorBoard in the same place, ``--trainer.logger false`` for
  none, or any logger by class path: ``--trainer.logger WandbLogger ...``);
- :class:`~sigkit.train.callbacks.SigkitCheckpoint` (the best by the model's ``checkpoint_monitor``),
  ``last.ckpt``, a ``LearningRateMonitor``, a one-line summary at the end of ``fit``, and ``predict``'s
  outputs saved to ``<log dir>/predictions/rank0.pt``;
- Lightning's TQDM progress bar.

``--trainer.devices N --trainer.strategy ddp`` trains on N processes (gloo on CPU, NCCL on GPU).
Lightning's DDP launcher starts the other ranks by re-running the current command line, so run
DDP through the ``sigkit`` command (or ``python -m sigkit.cli``), not from inside another program.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger

from sigkit.errors import CheckpointError, SigkitError
from sigkit.train.callbacks import default_callbacks

# ckpt_path values Lightning resolves itself rather than reading a file.
_SPECIAL_CKPT = ("last", "best", "hpc", "registry")
# `--trainer.logger csv|tensorboard` shorthands; their save_dir follows --trainer.default_root_dir.
_LOGGER_SHORTHANDS = {"csv": "lightning.pytorch.loggers.CSVLogger",
                      "tensorboard": "lightning.pytorch.loggers.TensorBoardLogger"}
_ROOT_SENTINEL = "<default_root_dir>"


class _DropAdverts(logging.Filter):
    """Drops Lightning's "💡 Tip: try installing litlogger" line, printed on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def expand_logger_shorthand(argv: list[str]) -> list[str]:
    """Rewrite ``--trainer.logger csv|tensorboard`` into the class-path form LightningCLI parses.

    >>> expand_logger_shorthand(["fit", "--trainer.logger=tensorboard"])[1]
    '--trainer.logger={"class_path": "lightning.pytorch.loggers.TensorBoardLogger", \
"init_args": {"save_dir": "<default_root_dir>"}}'
    """
    out, i = [], 0
    while i < len(argv):
        key, eq, value = argv[i].partition("=")
        if key == "--trainer.logger" and (eq or i + 1 < len(argv)):
            if not eq:
                i += 1
                value = argv[i]
            if value.lower() in _LOGGER_SHORTHANDS:
                value = json.dumps({"class_path": _LOGGER_SHORTHANDS[value.lower()],
                                    "init_args": {"save_dir": _ROOT_SENTINEL}})
            out.append(f"--trainer.logger={value}")
        else:
            out.append(argv[i])
        i += 1
    return out


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class SigkitCLI(LightningCLI):
    """LightningCLI in subclass mode with sigkit's trainer defaults (see the module docstring)."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        super().__init__(LightningModule, LightningDataModule, subclass_mode_model=True,
                         subclass_mode_data=True, args=args, run=run, **kwargs)

    def _subcommand_config(self) -> Any:
        return self.config[self.subcommand] if self.subcommand else self.config

    def _subcommand_config_init(self) -> Any:
        return self.config_init[self.subcommand] if self.subcommand else self.config_init

    def before_instantiate_classes(self) -> None:
        trainer = self._subcommand_config()["trainer"]
        for logger in _as_list(trainer.get("logger")):
            init_args = getattr(logger, "init_args", None)
            if init_args is not None and init_args.get("save_dir") == _ROOT_SENTINEL:
                init_args["save_dir"] = trainer.get("default_root_dir") or os.getcwd()
        ckpt = self._subcommand_config().get("ckpt_path") if self.subcommand else None
        if ckpt and ckpt not in _SPECIAL_CKPT and "://" not in str(ckpt) and not os.path.isfile(ckpt):
            raise CheckpointError(
                f"{ckpt}: no such checkpoint file; pass --ckpt_path a .ckpt written by `sigkit fit` "
                "(under lightning_logs/version_N/checkpoints/), or 'last' / 'best'")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        init = self._subcommand_config_init()
        configured = _as_list(init["trainer"].get("callbacks"))
        configured += [init.get(k) for k in self._parser(self.subcommand).callback_keys]
        logger = init["trainer"].get("logger")
        if logger is True or logger is None:  # Lightning's default (TensorBoard) becomes CSV
            root = init["trainer"].get("default_root_dir") or os.getcwd()
            logger = kwargs.setdefault("logger", CSVLogger(save_dir=root, name="lightning_logs"))
        extra = [cb for cb in default_callbacks(with_logger=bool(logger))
                 if not any(isinstance(c, _kind(cb)) for c in configured if isinstance(c, Callback))]
        kwargs.setdefault("callbacks", _as_list(init["trainer"].get("callbacks")) + extra)
        return super().instantiate_trainer(**kwargs)


def _kind(callback: Callback) -> type:
    """The Lightning class a default callback stands for (a configured ModelCheckpoint replaces ours)."""
    for base in type(callback).__mro__:
        if base.__module__.startswith("lightning.") and base is not Callback:
            return base
    return type(callback)


def run_lightning_cli(argv: list[str] | None = None) -> int:
    """Run ``sigkit fit|validate|test|predict ...`` and return the exit code.

    Args:
        argv: the arguments after ``sigkit`` (``["fit", "-c", "configs/test/toy.yaml", ...]``);
            ``None`` reads ``sys.argv[1:]``.

    Returns:
        0 on success, 1 for a :class:`~sigkit.errors.SigkitError` (its message is printed), the
        parser's code (2) for a bad option.

    >>> run_lightning_cli(["fit", "-c", "no_such_config.yaml"])  # the parser explains on stderr
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # LightningCLI warns when given args while sys.argv holds others; the console script passes sys.argv.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    expanded = expand_logger_shorthand(argv)
    args = None if expanded == sys.argv[1:] else expanded
    try:
        with warnings.catch_warnings():
            # a program passing argv on purpose (tests, notebooks) does not need LightningCLI's warning
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            SigkitCLI(args=args)
    except SigkitError as err:
        verb = argv[0] if argv else "fit"
        print(f"sigkit {verb}: error: {err}", file=sys.stderr)
        return 1
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0
