"""AP-BWE discriminators and losses: sizes, shapes, official details, loss values on known inputs."""

from __future__ import annotations

import math

import pytest
import torch
from sigkit.audio.apbwe.discriminators import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    PeriodDiscriminator,
    ResolutionDiscriminator,
)
from sigkit.audio.apbwe.losses import (
    LossWeights,
    complex_from_amp_phase,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    reconstruction_losses,
    weighted_reconstruction,
)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class TestDiscriminators:
    def test_official_sizes(self):
        assert n_params(MultiPeriodDiscriminator()) == 41_105_770  # 5 x 8.22 M (HiFi-GAN MPD)
        assert n_params(MultiResolutionDiscriminator("amplitude")) == 600_198
        assert n_params(MultiResolutionDiscriminator("phase")) == 600_198

    def test_mpd_shapes_and_features(self):
        y = torch.randn(2, 1, 1001)  # not a multiple of any period: reflect-padded
        scores_r, scores_g, f_r, f_g = MultiPeriodDiscriminator(channels=(4, 4, 4, 4, 4))(y, y)
        assert len(scores_r) == 5 and all(s.shape[0] == 2 for s in scores_r)
        assert all(len(f) == 5 for f in f_r)  # 5 convs but the first is skipped, plus conv_post
        d = PeriodDiscriminator(3, (4, 4, 4, 4, 4))
        _, fmap = d(y)
        assert fmap[0].shape[1] == 4 and fmap[-1].shape[1] == 1

    def test_resolution_input_is_rect_window_stft(self):
        d = ResolutionDiscriminator((512, 128, 512), "amplitude", channels=4)
        x = torch.randn(1, 1, 2000)
        seen = {}
        d.convs[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
        d(x)
        ref = torch.stft(x[:, 0], 512, 128, 512, window=None, center=True, return_complex=True).abs()
        torch.testing.assert_close(seen["x"][:, 0], ref)
        dp = ResolutionDiscriminator((1024, 256, 1024), "phase", channels=4)
        dp.convs[0].register_forward_hook(lambda m, inp, out: seen.update(p=inp[0]))
        dp(x)
        ref = torch.stft(x[:, 0], 1024, 256, 1024, window=None, center=True, return_complex=True).angle()
        torch.testing.assert_close(seen["p"][:, 0], ref)

    def test_multi_resolution_shapes(self):
        y = torch.randn(3, 1, 8000)
        s_r, s_g, f_r, f_g = MultiResolutionDiscriminator("phase", channels=4)(y, torch.zeros_like(y))
        assert [s.shape[0] for s in s_r] == [3, 3, 3] and all(len(f) == 6 for f in f_r)
        assert not torch.equal(s_r[0], s_g[0])

    def test_bad_kind(self):
        with pytest.raises(ValueError, match="amplitude"):
            ResolutionDiscriminator((512, 128, 512), "power")


class TestLosses:
    def test_hinge_values(self):
        real = [torch.tensor([[2.0, 0.5]]), torch.tensor([[-1.0]])]
        fake = [torch.tensor([[-2.0, 0.0]]), torch.tensor([[1.0]])]
        # D: (0 + 0.5)/2 + (0 + 1)/2 = 0.75 ; (2) + (2) = 4
        assert float(hinge_discriminator_loss(real, fake)) == pytest.approx(4.75)
        # G: relu(1 - fake): (3 + 1)/2 + 0 = 2
        assert float(hinge_generator_loss(fake)) == pytest.approx(2.0)

    def test_feature_matching_value(self):
        fr = [[torch.zeros(2, 3), torch.ones(4)], [torch.full((5,), 2.0)]]
        fg = [[torch.ones(2, 3), torch.ones(4)], [torch.zeros(5)]]
        assert float(feature_matching_loss(fr, fg)) == pytest.approx(1.0 + 0.0 + 2.0)

    def test_reconstruction_known_values(self):
        torch.manual_seed(0)
        a, p = torch.randn(2, 6, 5), (torch.rand(2, 6, 5) * 2 - 1) * math.pi
        c = complex_from_amp_phase(a, p)
        # phase shifted by a constant 0.3 rad and wrapped: IP 0.3, GD and IAF 0 (differences cancel)
        p_g = torch.remainder(p + 0.3 + math.pi, 2 * math.pi) - math.pi
        out = reconstruction_losses(a, p, c, a + 0.5, p_g, c, c)
        assert float(out["amplitude"]) == pytest.approx(0.25)
        assert float(out["ip"]) == pytest.approx(0.3, abs=1e-5)
        assert float(out["gd"]) == pytest.approx(0.0, abs=1e-5) and float(out["iaf"]) == pytest.approx(
            0.0, abs=1e-5
        )
        assert float(out["complex"]) == 0.0 and float(out["consistency"]) == 0.0
        c_g = c + torch.tensor([1.0, -2.0])
        out = reconstruction_losses(a, p, c, a, p, c_g, c_g + 3)
        assert float(out["complex"]) == pytest.approx(2.5) and float(out["consistency"]) == pytest.approx(9.0)

    def test_official_weights(self):
        w = LossWeights()
        assert (w.amplitude, w.phase, w.complex, w.consistency, w.mpd, w.mrd) == (45, 100, 90, 90, 1, 0.1)
        t = {
            "amplitude": torch.tensor(0.1),
            "ip": torch.tensor(1.0),
            "gd": torch.tensor(2.0),
            "iaf": torch.tensor(3.0),
            "complex": torch.tensor(0.01),
            "consistency": torch.tensor(0.02),
        }
        assert float(weighted_reconstruction(t)) == pytest.approx(4.5 + 600 + 0.9 + 1.8)

    def test_complex_from_amp_phase(self):
        c = complex_from_amp_phase(torch.log(torch.tensor([[2.0]])), torch.tensor([[math.pi / 2]]))
        torch.testing.assert_close(c, torch.tensor([[[0.0, 2.0]]]), atol=1e-6, rtol=0)
