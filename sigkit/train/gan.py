"""A LightningModule base for adversarial training (generator + discriminator, manual optimisation).

The training step every GAN vocoder/BWE model repeats (HiFi-GAN, Vocos, AP-BWE) lives here once:
generate, update the discriminator on the detached output, update the generator, clip each
network's gradients, step the LR schedulers per epoch or per step. A method only says what its
losses are.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl
import torch
from lightning_utilities.core.apply_func import apply_to_collection
from torch import Tensor, nn


class GANModule(pl.LightningModule):
    """Base class: one discriminator update, then one generator update, per batch.

    A subclass implements four methods:

    - ``generate(batch) -> generated``: the generator's output (a tensor or any nest of tensors);
    - ``discriminator_loss(batch, generated) -> (loss, logs)``: ``generated`` arrives detached;
    - ``generator_loss(batch, generated) -> (loss, logs)``: the adversarial + reconstruction losses;
    - ``configure_optimizers()`` returning ``[opt_g, opt_d]`` or ``([opt_g, opt_d], [sched_g, sched_d])``
      (generator first).

    ``logs`` are dicts of scalars, logged with ``train/`` prefixed; ``train/g_loss``, ``train/d_loss``
    and the pre-clip gradient norms ``train/g_grad_norm``, ``train/d_grad_norm`` are logged too.

    Gradients are clipped in ``on_before_optimizer_step`` — after AMP unscaling — to ``grad_clip``
    (global L2 norm) separately for each group :meth:`clip_groups` returns: by default each
    optimizer's parameters as one group; AP-BWE, for one, clips each of its discriminators apart,
    which a subclass gets by overriding :meth:`clip_groups`. Override :attr:`adversarial` (e.g.
    ``return self.batches_trained >= N``) to train the generator alone at first. A subclass that overrides
    ``on_train_epoch_end`` calls ``super().on_train_epoch_end()`` so epoch schedulers still step. Under
    DDP, use ``--trainer.strategy ddp_find_unused_parameters_true`` (each backward leaves one network out).

    Args:
        grad_clip: the largest gradient norm per clip group; ``None`` does not clip.
        scheduler_interval: ``"epoch"`` (AP-BWE's ``ExponentialLR``) or ``"step"``.

    >>> class Tiny(GANModule):
    ...     def __init__(self):
    ...         super().__init__(grad_clip=10.0)
    ...         self.g, self.d = nn.Linear(4, 4), nn.Linear(4, 1)
    ...     def generate(self, batch):
    ...         return self.g(batch)
    ...     def discriminator_loss(self, batch, fake):
    ...         return ((1 - self.d(batch)) ** 2).mean() + (self.d(fake) ** 2).mean(), {}
    ...     def generator_loss(self, batch, fake):
    ...         return ((1 - self.d(fake)) ** 2).mean() + (fake - batch).abs().mean(), {}
    ...     def configure_optimizers(self):
    ...         return [torch.optim.Adam(self.g.parameters()), torch.optim.Adam(self.d.parameters())]
    >>> Tiny().automatic_optimization
    False
    """

    def __init__(self, grad_clip: float | None = None, scheduler_interval: str = "epoch") -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if grad_clip is not None and grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {grad_clip}")
        self.automatic_optimization = False
        self.grad_clip = grad_clip
        self.scheduler_interval = scheduler_interval
        self._grad_norms: dict[str, float] = {}

    # ---- what a subclass writes -------------------------------------------------------------
    def generate(self, batch: Any) -> Any:
        """The generator's output for ``batch`` (a tensor or nest of tensors)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate(batch)")

    def discriminator_loss(self, batch: Any, generated: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """The discriminator's loss on real ``batch`` and detached ``generated``, and scalars to log."""
        raise NotImplementedError(f"{type(self).__name__} must implement discriminator_loss()")

    def generator_loss(self, batch: Any, generated: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """The generator's loss (adversarial + reconstruction), and scalars to log."""
        raise NotImplementedError(f"{type(self).__name__} must implement generator_loss(batch, generated)")

    @property
    def adversarial(self) -> bool:
        """Whether the discriminator is trained this step (override for a generator-only warm-up)."""
        return True

    @property
    def batches_trained(self) -> int:
        """Training batches finished before this one, over the whole run (restored on resume).

        Unlike ``global_step``, which counts optimizer steps (two a batch here, one while
        :attr:`adversarial` is off), this counts batches: ``adversarial`` can return
        ``self.batches_trained >= warmup``.
        """
        trainer = self._trainer
        return 0 if trainer is None else int(trainer.fit_loop.epoch_loop.batch_progress.total.completed)

    def clip_groups(self, which: str) -> Sequence[Iterable[nn.Parameter]]:
        """Parameter groups clipped apart for ``which`` in ``("generator", "discriminator")``.

        The default is one group: all the parameters of that network's optimizer.
        """
        opt = self._optimizer(which)
        return [[p for group in opt.param_groups for p in group["params"]]]

    # ---- the machinery ----------------------------------------------------------------------
    def _optimizer(self, which: str) -> torch.optim.Optimizer:
        opts = self.optimizers()
        if not isinstance(opts, (list, tuple)) or len(opts) != 2:
            raise ValueError(f"{type(self).__name__}.configure_optimizers must return [opt_g, opt_d]")
        return opts[0 if which == "generator" else 1].optimizer

    @contextmanager
    def _updating(self, which: str) -> Iterator[list[Tensor]]:
        """Freeze the other network, then zero-grad, backward and step on the loss appended inside."""
        opt = self.optimizers()[0 if which == "generator" else 1]
        self.toggle_optimizer(opt)
        try:
            loss: list[Tensor] = []
            yield loss
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss[0])
            opt.step()
        finally:
            self.untoggle_optimizer(opt)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self._grad_norms = {}
        generated = self.generate(batch)
        logs: dict[str, Any] = {}
        if self.adversarial:
            with self._updating("discriminator") as loss:
                detached = apply_to_collection(generated, Tensor, Tensor.detach)
                d_loss, d_logs = self.discriminator_loss(batch, detached)
                loss.append(d_loss)
            logs.update(d_logs, d_loss=d_loss)
        with self._updating("generator") as loss:
            g_loss, g_logs = self.generator_loss(batch, generated)
            loss.append(g_loss)
        logs.update(g_logs, g_loss=g_loss)
        if self.scheduler_interval == "step":
            self._step_schedulers()
        logs.update({f"{k}_grad_norm": v for k, v in self._grad_norms.items()})
        self.log_dict({f"train/{k}": torch.as_tensor(v).detach().float() for k, v in logs.items()})

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        which = "generator" if optimizer is self._optimizer("generator") else "discriminator"
        key = "g" if which == "generator" else "d"
        norms = []
        for params in self.clip_groups(which):
            params = [p for p in params if p.grad is not None]
            if not params:
                continue
            if self.grad_clip is None:
                norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
            else:
                norms.append(nn.utils.clip_grad_norm_(params, self.grad_clip))
        if norms:
            self._grad_norms[key] = float(torch.stack(norms).max())

    def _step_schedulers(self) -> None:
        schedulers = self.lr_schedulers()
        for sched in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            sched.step()

    def on_train_epoch_end(self) -> None:
        if self.scheduler_interval == "epoch":
            self._step_schedulers()
