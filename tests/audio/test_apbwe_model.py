"""AP-BWE generator: official size and names, shapes at every rate pair, initialisation, stream updates."""

from __future__ import annotations

import pytest
import torch
from sigkit.audio.apbwe.model import APBWEGenerator, ConvNeXtBlock, count_parameters

from sigkit.spectral import STFTSpec, amp_phase

# Sizes read from the official models/model.py (APNet_BWE_Model with n_fft 1024, 512 channels, 8 layers).
OFFICIAL_SHAPES = {
    "conv_pre_mag.weight": (512, 513, 7),
    "conv_pre_mag.bias": (512,),
    "norm_pre_mag.weight": (512,),
    "norm_pre_pha.bias": (512,),
    "convnext_mag.0.dwconv.weight": (512, 1, 7),
    "convnext_pha.7.pwconv1.weight": (1536, 512),
    "convnext_mag.3.pwconv2.weight": (512, 1536),
    "convnext_pha.5.gamma": (512,),
    "convnext_mag.7.norm.weight": (512,),
    "norm_post_pha.weight": (512,),
    "linear_post_mag.weight": (513, 512),
    "linear_post_pha_r.bias": (513,),
    "linear_post_pha_i.weight": (513, 512),
}
RATE_PAIRS = [
    (2000, 16000),
    (4000, 16000),
    (8000, 16000),
    (8000, 48000),
    (12000, 48000),
    (16000, 48000),
    (24000, 48000),
]


@pytest.fixture(scope="module")
def official() -> APBWEGenerator:
    torch.manual_seed(0)
    return APBWEGenerator().eval()


class TestAPBWEGenerator:
    def test_parameter_count_and_names(self, official):
        assert count_parameters(official) == 29_760_515
        state = official.state_dict()
        assert len(state) == 162  # 162 tensors in the released checkpoints
        for name, shape in OFFICIAL_SHAPES.items():
            assert tuple(state[name].shape) == shape, name

    @pytest.mark.parametrize("sr_in,sr_out", RATE_PAIRS)
    def test_shapes_at_every_rate_pair(self, official, sr_in, sr_out):
        spec = STFTSpec(1024, 80, 320)
        n = sr_out // 20  # 50 ms at the target rate
        log_amp, phase = amp_phase(torch.randn(2, n), spec)
        with torch.no_grad():
            a, p, c = official(log_amp, phase)
        frames = n // 80 + 1
        assert a.shape == p.shape == (2, 513, frames) and c.shape == (2, 513, frames, 2)
        assert float(p.abs().max()) <= torch.pi + 1e-6
        torch.testing.assert_close(c[..., 0], torch.exp(a) * torch.cos(p))

    def test_initialisation_as_official(self, official):
        # layer scale 1/8; trunc-normal(0.02) convs/linears before the heads; default init for the heads
        assert torch.allclose(official.convnext_mag[0].gamma, torch.full((512,), 0.125))
        w = official.convnext_pha[2].pwconv1.weight.detach()
        # trunc_normal_(std=0.02) truncates at +-2 (absolute, torch's default), i.e. barely at all
        assert abs(float(w.std()) - 0.02) < 0.001 and 0.06 < float(w.abs().max()) <= 2.0
        assert float(official.conv_pre_mag.bias.abs().max()) == 0.0
        head = official.linear_post_mag.weight.detach()  # kaiming-uniform: U(-1/sqrt(512), 1/sqrt(512))
        bound = 1 / 512**0.5
        assert float(head.abs().max()) <= bound and float(head.std()) > 0.9 * bound / 3**0.5
        assert float(official.linear_post_pha_r.bias.abs().max()) > 0

    def test_stream_exchange_order(self):
        torch.manual_seed(1)
        g = APBWEGenerator(n_bins=9, channels=6, layers=2)
        a, p = torch.randn(1, 9, 5), torch.randn(1, 9, 5)
        # by hand: mag += pha, then pha += (updated) mag, then each block
        xm = g.norm_pre_mag(g.conv_pre_mag(a).transpose(1, 2)).transpose(1, 2)
        xp = g.norm_pre_pha(g.conv_pre_pha(p).transpose(1, 2)).transpose(1, 2)
        for bm, bp in zip(g.convnext_mag, g.convnext_pha, strict=False):
            xm = xm + xp
            xp = xp + xm
            xm, xp = bm(xm), bp(xp)
        hm, hp = g.trunk(a, p)
        torch.testing.assert_close(hm, g.norm_post_mag(xm.transpose(1, 2)))
        out_a, out_p, _ = g(a, p)
        torch.testing.assert_close(out_a, a + g.linear_post_mag(hm).transpose(1, 2))
        torch.testing.assert_close(
            out_p, torch.atan2(g.linear_post_pha_i(hp), g.linear_post_pha_r(hp)).transpose(1, 2)
        )

    def test_convnext_block_known_value(self):
        blk = ConvNeXtBlock(4, 0.0)
        x = torch.randn(2, 4, 6)
        torch.testing.assert_close(blk(x), x)  # zero layer scale: identity
        blk.gamma.data.fill_(1.0)
        y = blk.dwconv(x).transpose(1, 2)
        ref = x + blk.pwconv2(torch.nn.functional.gelu(blk.pwconv1(blk.norm(y)))).transpose(1, 2)
        torch.testing.assert_close(blk(x), ref)

    def test_bad_shape_message(self, official):
        with pytest.raises(ValueError, match=r"\(B, 513, T\)"):
            official(torch.randn(1, 257, 4), torch.randn(1, 257, 4))

    def test_load_official_state_dict(self, official):
        g = APBWEGenerator()
        g.load_official_state_dict(official.state_dict())
        mine, theirs = g.state_dict().values(), official.state_dict().values()
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs, strict=True))
        bad = dict(official.state_dict())
        bad.pop("linear_post_mag.bias")
        with pytest.raises(ValueError, match="missing.*linear_post_mag.bias"):
            g.load_official_state_dict(bad)

    def test_gradients_reach_both_streams(self):
        g = APBWEGenerator(n_bins=17, channels=8, layers=2)
        a, p = torch.randn(1, 17, 6, requires_grad=True), torch.randn(1, 17, 6, requires_grad=True)
        la, ph, _ = g(a, p)
        (la.sum() + ph.sum()).backward()
        assert a.grad.abs().sum() > 0 and p.grad.abs().sum() > 0
        assert all(q.grad is not None for q in g.parameters())
