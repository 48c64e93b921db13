"""Image metrics: PSNR and SSIM (Gaussian 11x11, sigma 1.5, as Wang et al. 2004, scikit-image and kornia).

Images are ``(..., C, H, W)``; each returns one value per image, shape ``(...)``, averaged over channels
and pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sigkit.errors import InputError

__all__ = ["psnr", "ssim", "gaussian_window"]


def _check(img: torch.Tensor, ref: torch.Tensor, name: str, data_range: float) -> None:
    if not (torch.is_tensor(img) and torch.is_tensor(ref)):
        raise InputError(f"{name}: img and ref must be tensors (..., C, H, W)")
    if img.shape != ref.shape:
        raise InputError(
            f"{name}: img {tuple(img.shape)} and ref {tuple(ref.shape)} must have the same shape"
        )
    if img.ndim < 3:
        raise InputError(
            f"{name}: images must be (..., C, H, W), got shape {tuple(img.shape)}; "
            "add a channel axis with x[None] for one gray image"
        )
    if not data_range or data_range <= 0:
        raise InputError(
            f"{name}: data_range must be > 0 (1.0 for [0, 1] images, 255 for uint8), got {data_range}"
        )


def psnr(img: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)`` per image.

    Args:
        img, ref: ``(..., C, H, W)`` images.
        data_range: the value range (1.0 for [0, 1], 255.0 for 8-bit).

    Returns:
        ``(...)`` PSNR in dB (``inf`` for identical images).

    >>> import torch
    >>> ref = torch.zeros(2, 1, 4, 4)
    >>> [round(v, 3) for v in psnr(ref + 0.1, ref, data_range=1.0).tolist()]
    [20.0, 20.0]
    """
    _check(img, ref, "psnr", data_range)
    img, ref = (
        img.float() if not img.is_floating_point() else img,
        ref.float() if not ref.is_floating_point() else ref,
    )
    mse = (img - ref).square().mean(dim=(-3, -2, -1))
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (``size`` odd). ``(size,)``.

    >>> float(gaussian_window(11, 1.5).sum())
    1.0
    """
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma**2))
    return g / g.sum()


def ssim(
    img: torch.Tensor,
    ref: torch.Tensor,
    data_range: float,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    padding: str = "valid",
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, averaged per image.

    Local means, variances and covariance come from a separable Gaussian filter (``window_size`` taps,
    ``sigma``); ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with ``L = data_range``.
    ``padding="valid"`` averages only where the window fits (the original MATLAB code and
    ``skimage.metrics.structural_similarity(gaussian_weights=True, use_sample_covariance=False)``);
    ``padding="same"`` reflect-pads and averages every pixel (the mean of ``kornia.metrics.ssim``'s map with
    ``eps=0``).

    Args:
        img, ref: ``(..., C, H, W)`` images, ``H, W >= window_size``.
        data_range: the value range (1.0 for [0, 1], 255.0 for 8-bit).

    Returns:
        ``(...)`` mean SSIM in [-1, 1] (1 for identical images). Differentiable.

    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16)
    >>> ssim(x, x, data_range=1.0)
    tensor([1., 1.])
    """
    _check(img, ref, "ssim", data_range)
    if padding not in ("valid", "same"):
        raise InputError(f"ssim: padding must be 'valid' or 'same', got {padding!r}")
    if window_size % 2 == 0 or window_size < 1:
        raise InputError(f"ssim: window_size must be odd and positive, got {window_size}")
    h, w = img.shape[-2:]
    if h < window_size or w < window_size:
        raise InputError(
            f"ssim: images of {h}x{w} pixels are smaller than the {window_size}x{window_size} window"
        )
    dtype = img.dtype if img.is_floating_point() else torch.float32
    lead = img.shape[:-3]
    x = img.to(dtype).reshape(-1, 1, h, w)
    y = ref.to(dtype).reshape(-1, 1, h, w)
    g = gaussian_window(window_size, sigma, dtype=dtype, device=img.device)
    r = window_size // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        if padding == "same":
            t = F.pad(t, (r, r, r, r), mode="reflect")
        t = F.conv2d(t, g.view(1, 1, 1, -1))
        return F.conv2d(t, g.view(1, 1, -1, 1))

    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x.square()
    syy = blur(y * y) - mu_y.square()
    sxy = blur(x * y) - mu_x * mu_y
    smap = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / (
        (mu_x.square() + mu_y.square() + c1) * (sxx + syy + c2)
    )
    c = img.shape[-3]
    return smap.reshape(-1, c, smap.shape[-2], smap.shape[-1]).mean(dim=(-3, -2, -1)).reshape(lead)
