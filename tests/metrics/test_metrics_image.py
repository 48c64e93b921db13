"""sigkit.metrics images: PSNR and SSIM against kornia, known values, errors, gradients."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from sigkit.errors import InputError
from sigkit.metrics import psnr, ssim


def _pair(shape=(2, 3, 24, 20), seed=0, dtype=torch.float32, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(*shape, generator=g, dtype=dtype)
    img = (ref + noise * torch.randn(*shape, generator=g, dtype=dtype)).clamp(0, 1)
    return img, ref


class TestPSNR:
    def test_known_value(self):
        ref = torch.zeros(1, 1, 8, 8)
        assert abs(float(psnr(ref + 0.01, ref, 1.0)) - 40.0) < 1e-4
        assert abs(float(psnr(ref + 25.5, ref, 255.0)) - 20.0) < 1e-4

    def test_identical_is_inf(self):
        x = torch.rand(1, 3, 4, 4)
        assert math.isinf(float(psnr(x, x, 1.0)))

    def test_parity_with_kornia_per_image(self, dtype):
        import kornia

        img, ref = _pair(dtype=dtype)
        got = psnr(img, ref, 1.0)
        assert got.shape == (2,)
        for i in range(2):
            torch.testing.assert_close(got[i], kornia.metrics.psnr(img[i], ref[i], 1.0), rtol=1e-5, atol=1e-5)

    def test_uint8_input(self):
        ref = torch.full((1, 4, 4), 100, dtype=torch.uint8)
        assert abs(float(psnr(ref + 10, ref, 255.0)) - 10 * math.log10(255**2 / 100)) < 1e-4


class TestSSIM:
    @pytest.mark.parametrize("padding", ["same", "valid"])
    def test_parity_with_kornia(self, padding, dtype):
        import kornia

        img, ref = _pair(dtype=dtype)
        got = ssim(img, ref, 1.0, padding=padding)
        want = kornia.metrics.ssim(img, ref, 11, max_val=1.0, eps=0.0, padding=padding).mean(dim=(1, 2, 3))
        assert got.shape == (2,)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)

    def test_known_answers(self):
        x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        torch.testing.assert_close(ssim(x, x, 1.0), torch.ones(3, dtype=torch.float64))
        # two constant images: only the luminance term is left, (2ab + C1) / (a^2 + b^2 + C1)
        a, b, c1 = 0.2, 0.6, (0.01) ** 2
        got = ssim(
            torch.full((1, 1, 12, 12), a, dtype=torch.float64),
            torch.full((1, 1, 12, 12), b, dtype=torch.float64),
            1.0,
        )
        assert abs(float(got) - (2 * a * b + c1) / (a * a + b * b + c1)) < 1e-12
        # anti-correlated zero-mean structure gives a negative score
        assert float(ssim(0.5 - (x - 0.5), x, 1.0).mean()) < 0

    def test_batch_dims_and_data_range(self):
        img, ref = _pair(shape=(2, 2, 1, 16, 16))
        out = ssim(img * 255, ref * 255, 255.0)
        assert out.shape == (2, 2)
        torch.testing.assert_close(out, ssim(img, ref, 1.0), rtol=1e-4, atol=1e-4)

    def test_gradient(self):
        img, ref = _pair(shape=(1, 1, 7, 7), dtype=torch.float64)
        img.requires_grad_()
        for pad in ("valid", "same"):
            fn = partial(ssim, ref=ref, data_range=1.0, window_size=5, padding=pad)
            assert torch.autograd.gradcheck(fn, (img,))

    def test_errors(self):
        x = torch.rand(1, 1, 8, 8)
        with pytest.raises(InputError, match="smaller than the 11x11 window"):
            ssim(x, x, 1.0)
        with pytest.raises(InputError, match="same shape"):
            ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 17), 1.0)
        with pytest.raises(InputError, match="data_range must be > 0"):
            psnr(x, x, 0)
        with pytest.raises(InputError, match=r"\(\.\.\., C, H, W\)"):
            psnr(torch.rand(8, 8), torch.rand(8, 8), 1.0)
        with pytest.raises(InputError, match="padding"):
            ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), 1.0, padding="zeros")


def test_image_metrics_on_device_match_cpu(device, dtype):
    img, ref = _pair(dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for fn in (psnr, ssim):
        got = fn(img.to(device), ref.to(device), 1.0)
        assert got.device.type == device.type
        torch.testing.assert_close(got.cpu(), fn(img, ref, 1.0), **tol)
