"""Anti-wrapping function and AP-BWE's IP / GD / IAF phase losses."""
from __future__ import annotations

import math

import pytest
import torch

from sigkit.errors import InputError
from sigkit.spectral import anti_wrapping, phase_losses


class TestAntiWrapping:
    def test_values(self, device, dtype):
        x = torch.tensor([0.0, 1.0, math.pi - 0.1, math.pi + 0.1, -4.0, 2 * math.pi, 13.0],
                         device=device, dtype=dtype)
        expected = torch.tensor([0.0, 1.0, math.pi - 0.1, math.pi - 0.1, 2 * math.pi - 4.0, 0.0,
                                 abs(13.0 - 4 * math.pi)], device=device, dtype=dtype)
        torch.testing.assert_close(anti_wrapping(x), expected)

    def test_range_and_periodicity(self):
        x = torch.linspace(-20, 20, 1001, dtype=torch.float64)
        y = anti_wrapping(x)
        assert float(y.min()) >= 0 and float(y.max()) <= math.pi + 1e-12
        torch.testing.assert_close(anti_wrapping(x + 2 * math.pi), y)

    def test_gradcheck(self):
        x = torch.tensor([0.3, -1.2, 2.5, 4.0, -7.0], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(anti_wrapping, (x,), fast_mode=True)


class TestPhaseLosses:
    def test_known_values(self):
        true = torch.zeros(1, 4, 5, dtype=torch.float64)
        pred = torch.full((1, 4, 5), 0.5, dtype=torch.float64)  # constant offset: IP only
        ip, gd, iaf = phase_losses(pred, true)
        assert float(ip) == pytest.approx(0.5) and float(gd) == 0 and float(iaf) == 0
        # a linear phase ramp along frequency: GD sees the slope, IAF does not
        ramp = torch.arange(4, dtype=torch.float64)[:, None].expand(4, 5)[None] * 0.25
        ip, gd, iaf = phase_losses(ramp, true)
        assert float(gd) == pytest.approx(0.25) and float(iaf) == 0
        assert float(ip) == pytest.approx(ramp.mean().item())
        # along time: IAF
        tramp = torch.arange(5, dtype=torch.float64)[None, :].expand(4, 5)[None] * 0.5
        assert float(phase_losses(tramp, true)[2]) == pytest.approx(0.5)

    def test_wrap_invariance(self):
        g = torch.Generator().manual_seed(0)
        true = torch.rand(2, 9, 11, generator=g) * 2 * math.pi - math.pi
        pred = true + 2 * math.pi * torch.randint(-2, 3, true.shape, generator=g)
        for v in phase_losses(pred, true):
            assert float(v) < 1e-5

    def test_exception(self):
        with pytest.raises(InputError, match="equal shapes"):
            phase_losses(torch.zeros(3, 4), torch.zeros(3, 5))

    def test_gradcheck(self):
        g = torch.Generator().manual_seed(1)
        pred = (torch.rand(2, 5, 6, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
        true = torch.rand(2, 5, 6, generator=g, dtype=torch.float64) * 2 - 1
        assert torch.autograd.gradcheck(lambda p: torch.stack(phase_losses(p, true)), (pred,), fast_mode=True)
