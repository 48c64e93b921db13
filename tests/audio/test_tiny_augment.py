"""Augmentations of sigkit.audio.tiny: what each changes, by how much, reproducibility, train/eval modes."""

from __future__ import annotations

import math

import pytest
import torch
from sigkit.audio.tiny.augment import (
    SpecAugment,
    WaveAugment,
    add_noise,
    mixup,
    random_gain,
    spec_augment,
    time_shift,
)

from sigkit.errors import InputError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TestSpecAugment:
    def test_masks_are_bands_within_width(self):
        x = torch.ones(64, 20, 30)
        y = spec_augment(x, freq_masks=1, freq_width=5, time_masks=1, time_width=7, generator=_gen())
        for item in y:
            zero_rows = (item == 0).all(dim=1).nonzero().flatten()  # masked features (whole rows)
            zero_cols = (item == 0).all(dim=0).nonzero().flatten()  # masked frames (whole columns)
            assert len(zero_rows) <= 5 and len(zero_cols) <= 7
            for idx in (zero_rows, zero_cols):
                if len(idx):
                    assert int(idx[-1] - idx[0]) == len(idx) - 1  # contiguous
            # every zero lies in a masked row or column
            assert int((item == 0).sum()) == int(
                ((item == 0).all(1)[:, None] | (item == 0).all(0)[None]).sum()
            )
        assert (y == 0).any() and (y == 1).any()
        assert (x == 1).all()  # the input is untouched

    def test_reproducible_and_per_item(self):
        x = torch.randn(8, 16, 40)
        a = spec_augment(x, 2, 4, 2, 8, generator=_gen(3))
        b = spec_augment(x, 2, 4, 2, 8, generator=_gen(3))
        torch.testing.assert_close(a, b)
        masks = a == 0
        assert not all(torch.equal(masks[0], m) for m in masks[1:])

    def test_zero_masks_is_identity(self):
        x = torch.randn(2, 8, 10)
        torch.testing.assert_close(spec_augment(x, 0, 4, 0, 4), x)

    def test_module_train_and_eval(self):
        aug = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=8)
        x = torch.ones(16, 16, 32)
        assert (aug.train()(x) == 0).any()
        torch.testing.assert_close(aug.eval()(x), x)

    def test_errors(self):
        with pytest.raises(InputError, match=r"\(B, F, N\)"):
            spec_augment(torch.ones(4, 4))
        with pytest.raises(InputError, match=">= 0"):
            spec_augment(torch.ones(1, 4, 4), freq_masks=-1)


class TestMixup:
    def test_inputs_and_targets_mix_with_the_same_weights(self):
        x = torch.randn(16, 3, 5)
        labels = torch.arange(16)  # one class per item: the target weight on it is the item's lam
        t = torch.nn.functional.one_hot(labels, 16).float()
        xm, tm = mixup(x, t, alpha=0.5, generator=_gen(1))
        torch.testing.assert_close(tm.sum(1), torch.ones(16))
        for i in range(16):
            lam = float(tm[i, labels[i]])
            partners = [
                j for j in range(16) if torch.allclose(xm[i], lam * x[i] + (1 - lam) * x[j], atol=1e-5)
            ]
            assert partners, f"item {i} is not lam * x_i + (1 - lam) * x_j"
        assert 0.0 <= float(tm.max()) <= 1.0

    def test_weights_follow_beta(self):
        t = torch.eye(2).repeat(2000, 1)
        _, tm = mixup(torch.zeros(4000, 1), t, alpha=0.2, generator=_gen(0))
        lam = tm.max(dim=1).values  # max(lam, 1-lam) when partner differs; 1 when same class
        assert float((lam > 0.9).float().mean()) > 0.5  # Beta(0.2, 0.2) piles up near 0 and 1

    def test_errors(self):
        with pytest.raises(InputError, match="alpha must be positive"):
            mixup(torch.zeros(2, 3), torch.eye(2), alpha=0.0)
        with pytest.raises(InputError, match=r"targets must be \(B, C\)"):
            mixup(torch.zeros(2, 3), torch.zeros(3, 2))


class TestWaveAugmentations:
    def test_time_shift_is_a_roll_within_range(self):
        w = torch.randn(32, 50)
        y = time_shift(w, 4, generator=_gen(2))
        shifts = set()
        for a, b in zip(w, y, strict=True):
            match = [s for s in range(-4, 5) if torch.equal(torch.roll(a, s), b)]
            assert len(match) == 1
            shifts.add(match[0])
        assert len(shifts) > 3

    def test_gain_in_db_range(self):
        w = torch.ones(200, 10)
        y = random_gain(w, -6.0, 3.0, generator=_gen(4))
        db = 20 * torch.log10(y[:, 0])
        assert float(db.min()) >= -6.0 - 1e-4 and float(db.max()) <= 3.0 + 1e-4
        assert float(db.max() - db.min()) > 6.0
        torch.testing.assert_close(y, y[:, :1].expand_as(y))

    @pytest.mark.parametrize("snr", [0.0, 20.0, (5.0, 15.0)])
    def test_noise_at_the_requested_snr(self, snr):
        t = torch.arange(16000) / 16000
        x = torch.stack([torch.sin(2 * math.pi * 440 * t), 0.1 * torch.sin(2 * math.pi * 1000 * t)])
        y = add_noise(x, snr, generator=_gen(5))
        measured = 10 * torch.log10(x.pow(2).mean(1) / (y - x).pow(2).mean(1))
        if isinstance(snr, tuple):
            assert bool(((measured >= snr[0] - 1e-3) & (measured <= snr[1] + 1e-3)).all())
        else:
            torch.testing.assert_close(measured, torch.full((2,), snr), atol=1e-3, rtol=0)

    def test_noise_leaves_silence_silent(self):
        assert (add_noise(torch.zeros(1, 100), 10.0) == 0).all()

    def test_wave_augment_module(self):
        aug = WaveAugment(max_shift=10, gain_db=(-3.0, 3.0), snr_db=(10.0, 20.0), p_noise=1.0)
        x = torch.randn(4, 400)
        assert not torch.allclose(aug.train()(x), x)
        torch.testing.assert_close(aug.eval()(x), x)
        with pytest.raises(InputError, match="p_noise"):
            WaveAugment(p_noise=2.0)

    def test_errors(self):
        with pytest.raises(InputError, match=r"\(B, T\)"):
            time_shift(torch.zeros(3), 1)
        with pytest.raises(InputError, match="max_shift"):
            time_shift(torch.zeros(1, 3), -1)
        with pytest.raises(InputError, match="above max_db"):
            random_gain(torch.zeros(1, 3), 3.0, -3.0)
        with pytest.raises(InputError, match="low above high"):
            add_noise(torch.zeros(1, 3), (10.0, 0.0))
