"""GANModule: both networks step, gradients are clipped per group, schedulers step per epoch or step."""
from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sigkit.train import GANModule


class TinyGAN(GANModule):
    """Generator maps noise to 4-vectors; a linear discriminator; LSGAN losses with a large L1 term."""

    def __init__(self, grad_clip=None, scheduler_interval="epoch", warmup_steps=0, two_groups=False):
        super().__init__(grad_clip=grad_clip, scheduler_interval=scheduler_interval)
        self.g = nn.Linear(4, 4)
        self.d1, self.d2 = nn.Linear(4, 1), nn.Linear(4, 1)
        self.warmup_steps, self.two_groups = warmup_steps, two_groups
        self.seen_norms: dict[str, list[list[float]]] = {"generator": [], "discriminator": []}
        self.d_steps = 0

    @property
    def adversarial(self) -> bool:
        return self.batches_trained >= self.warmup_steps

    def generate(self, batch):
        return self.g(batch[0])

    def discriminator_loss(self, batch, fake):
        assert not fake.requires_grad  # arrives detached
        self.d_steps += 1
        real = batch[0]
        loss = sum(((1 - d(real)) ** 2).mean() + (d(fake) ** 2).mean() for d in (self.d1, self.d2))
        return 1e3 * loss, {"d_real": self.d1(real).mean()}

    def generator_loss(self, batch, fake):
        adv = ((1 - self.d1(fake)) ** 2).mean() if self.adversarial else fake.new_zeros(())
        return 1e3 * ((fake - batch[0]).abs().mean() + adv), {"adv": adv}

    def clip_groups(self, which):
        if which == "discriminator" and self.two_groups:
            return [list(self.d1.parameters()), list(self.d2.parameters())]
        return super().clip_groups(which)

    def on_before_optimizer_step(self, optimizer):
        super().on_before_optimizer_step(optimizer)  # clips
        which = "generator" if optimizer is self.optimizers()[0].optimizer else "discriminator"
        groups = self.clip_groups(which)
        norms = [nn.utils.get_total_norm([p.grad for p in g if p.grad is not None]) for g in groups]
        self.seen_norms[which].append([float(n) for n in norms])

    def configure_optimizers(self):
        opt_g = torch.optim.SGD(self.g.parameters(), lr=1e-3)
        opt_d = torch.optim.SGD([*self.d1.parameters(), *self.d2.parameters()], lr=1e-3)
        scheds = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds


def fit(model: TinyGAN, epochs: int = 2, n: int = 16) -> tuple[pl.Trainer, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = DataLoader(TensorDataset(torch.randn(n, 4)), batch_size=4)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, data)
    return trainer, before


class TestGANModule:
    def test_both_networks_step_and_losses_are_logged(self):
        model = TinyGAN()
        trainer, before = fit(model)
        after = model.state_dict()
        for name in ("g.weight", "d1.weight", "d2.weight"):
            assert not torch.equal(before[name], after[name]), name
        assert model.d_steps == 8  # 4 batches x 2 epochs
        for key in ("train/g_loss", "train/d_loss", "train/adv", "train/d_real", "train/g_grad_norm",
                    "train/d_grad_norm"):
            assert key in trainer.callback_metrics, key

    def test_gradients_are_clipped_per_group(self):
        unclipped = TinyGAN(two_groups=True)
        fit(unclipped, epochs=1)
        assert max(max(n) for n in unclipped.seen_norms["generator"]) > 1.0  # the 1e3 scale makes them large
        clipped = TinyGAN(grad_clip=1.0, two_groups=True)
        fit(clipped, epochs=1)
        for which in ("generator", "discriminator"):
            norms = clipped.seen_norms[which]
            assert len(norms) == 4 and all(len(n) == (2 if which == "discriminator" else 1) for n in norms)
            # each group alone is clipped to 1 (so two groups together exceed 1)
            assert all(x == pytest.approx(1.0, rel=1e-4) for n in norms for x in n), norms

    @pytest.mark.parametrize("interval, expected", [("epoch", 1e-3 * 0.5**2), ("step", 1e-3 * 0.5**8)])
    def test_schedulers_step_per_epoch_or_step(self, interval, expected):
        model = TinyGAN(scheduler_interval=interval)
        fit(model, epochs=2)
        for opt in model.optimizers():
            assert opt.param_groups[0]["lr"] == pytest.approx(expected)

    def test_generator_alone_until_adversarial(self):
        model = TinyGAN(warmup_steps=10**6)
        _, before = fit(model, epochs=1)
        assert model.d_steps == 0
        torch.testing.assert_close(model.state_dict()["d1.weight"], before["d1.weight"])
        assert not torch.equal(model.state_dict()["g.weight"], before["g.weight"])
        assert model.batches_trained == 4

    def test_warmup_counts_batches_across_epochs(self):
        model = TinyGAN(warmup_steps=5)
        trainer, _ = fit(model, epochs=2)  # 8 batches: the discriminator trains on the last 3
        assert model.d_steps == 3
        assert trainer.global_step == 5 + 2 * 3  # optimizer steps: one a batch, two once adversarial

    def test_batches_trained_survives_a_resume(self, tmp_path):
        model = TinyGAN(warmup_steps=6)
        data = DataLoader(TensorDataset(torch.randn(16, 4)), batch_size=4)
        kw = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                  default_root_dir=tmp_path)
        first = pl.Trainer(max_epochs=1, **kw)
        first.fit(model, data)
        ckpt = tmp_path / "one_epoch.ckpt"
        first.save_checkpoint(ckpt)
        resumed = TinyGAN(warmup_steps=6)
        pl.Trainer(max_epochs=2, **kw).fit(resumed, data, ckpt_path=ckpt)
        assert resumed.batches_trained == 8 and resumed.d_steps == 2  # batches 7 and 8 only

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="scheduler_interval"):
            TinyGAN(scheduler_interval="batch")
        with pytest.raises(ValueError, match="grad_clip"):
            TinyGAN(grad_clip=0.0)
