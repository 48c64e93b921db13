"""AP-BWE's generator: parallel amplitude and phase streams of ConvNeXt blocks (Lu et al., TASLP 2024).

The network works frame by frame on the STFT of the narrowband signal *already upsampled to the
target rate* (sinc interpolation): frequency bins are the channels of 1-D convolutions along time.

::

    log_amp (B,F,T) -conv_pre_mag-norm-+                  +-norm-linear_post_mag- + log_amp -> log_amp_wb
                                       | 8 x [mag += pha;  |                      (residual, log domain)
    phase   (B,F,T) -conv_pre_pha-norm-+  pha += mag;      +-norm-linear_post_pha_r/_i-atan2(I, R) -> phase_wb
                                          mag = blk(mag); pha = blk(pha)]

Parameter names and shapes equal the official ``APNet_BWE_Model``'s, so the ``generator`` state dict of
the authors' ``.pth`` files loads as is (:meth:`APBWEGenerator.load_official_state_dict`). The official
initialisation is kept: truncated normal (std 0.02) for every conv/linear built before the three output
linears, which keep PyTorch's default init.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: the ``checkpoint["sigkit"]["kind"]`` of AP-BWE checkpoints written by ``sigkit fit``
CHECKPOINT_KIND = "sigkit.audio.apbwe"


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block (Vocos style): ``x + gamma * pw2(gelu(pw1(norm(dwconv(x)))))``.

    Args:
        dim: channels C.
        layer_scale: initial value of the per-channel scale ``gamma``.

    Shapes: ``(B, C, T) -> (B, C, T)``.

    >>> ConvNeXtBlock(8, 0.125)(torch.randn(2, 8, 5)).shape
    torch.Size([2, 8, 5])
    """

    def __init__(self, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 3 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class APBWEGenerator(nn.Module):
    """The AP-BWE generator: ``(log_amp_nb, phase_nb) -> (log_amp_wb, phase_wb, complex_wb)``.

    Args:
        n_bins: frequency bins F, ``n_fft // 2 + 1`` (513 for the official ``n_fft=1024``).
        channels: ConvNeXt width (512 official).
        layers: ConvNeXt blocks per stream (8 official); the layer scale starts at ``1 / layers``.

    Shapes: inputs ``(B, F, T)`` natural log-amplitude ``log(|X| + 1e-4)`` and phase in radians; outputs
    ``(B, F, T)``, ``(B, F, T)`` and the complex spectrum as ``(B, F, T, 2)`` (real, imaginary) computed
    from them (``exp(log_amp) * (cos, sin)(phase)``), as the official model returns it.

    The official size has 29,760,515 parameters.

    >>> g = APBWEGenerator(n_bins=33, channels=16, layers=2)
    >>> a, p, c = g(torch.randn(1, 33, 10), torch.randn(1, 33, 10))
    >>> a.shape, p.shape, c.shape
    (torch.Size([1, 33, 10]), torch.Size([1, 33, 10]), torch.Size([1, 33, 10, 2]))
    """

    def __init__(self, n_bins: int = 513, channels: int = 512, layers: int = 8) -> None:
        super().__init__()
        self.n_bins, self.channels, self.layers = n_bins, channels, layers
        scale = 1.0 / layers
        self.conv_pre_mag = nn.Conv1d(n_bins, channels, 7, 1, padding=3)
        self.norm_pre_mag = nn.LayerNorm(channels, eps=1e-6)
        self.conv_pre_pha = nn.Conv1d(n_bins, channels, 7, 1, padding=3)
        self.norm_pre_pha = nn.LayerNorm(channels, eps=1e-6)
        self.convnext_mag = nn.ModuleList([ConvNeXtBlock(channels, scale) for _ in range(layers)])
        self.convnext_pha = nn.ModuleList([ConvNeXtBlock(channels, scale) for _ in range(layers)])
        self.norm_post_mag = nn.LayerNorm(channels, eps=1e-6)
        self.norm_post_pha = nn.LayerNorm(channels, eps=1e-6)
        self.apply(_init_weights)
        # built after apply(): the official output heads keep PyTorch's default initialisation
        self.linear_post_mag = nn.Linear(channels, n_bins)
        self.linear_post_pha_r = nn.Linear(channels, n_bins)
        self.linear_post_pha_i = nn.Linear(channels, n_bins)

    def trunk(self, log_amp: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        """The two streams up to the output norms: ``(B, F, T) x 2 -> (B, T, C) x 2`` (channels last)."""
        x_mag = self.norm_pre_mag(self.conv_pre_mag(log_amp).transpose(1, 2)).transpose(1, 2)
        x_pha = self.norm_pre_pha(self.conv_pre_pha(phase).transpose(1, 2)).transpose(1, 2)
        for block_mag, block_pha in zip(self.convnext_mag, self.convnext_pha, strict=False):
            x_mag = x_mag + x_pha  # phase -> amplitude
            x_pha = x_pha + x_mag  # amplitude -> phase (with the updated amplitude stream)
            x_mag = block_mag(x_mag)
            x_pha = block_pha(x_pha)
        return self.norm_post_mag(x_mag.transpose(1, 2)), self.norm_post_pha(x_pha.transpose(1, 2))

    def forward(self, log_amp: Tensor, phase: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if log_amp.dim() != 3 or log_amp.shape != phase.shape or log_amp.shape[1] != self.n_bins:
            raise ValueError(
                f"APBWEGenerator expects log_amp and phase of shape (B, {self.n_bins}, T), got "
                f"{tuple(log_amp.shape)} and {tuple(phase.shape)}"
            )
        h_mag, h_pha = self.trunk(log_amp, phase)
        log_amp_wb = log_amp + self.linear_post_mag(h_mag).transpose(1, 2)
        phase_wb = torch.atan2(self.linear_post_pha_i(h_pha), self.linear_post_pha_r(h_pha)).transpose(1, 2)
        return log_amp_wb, phase_wb, complex_from_amp_phase(log_amp_wb, phase_wb)

    def forward_time_major(self, log_amp: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        """The same function as :meth:`forward` (without the complex output), computed time-major.

        Every block works on ``(B, T, C)``: the depthwise convolution is written as 7 shifted
        multiply-adds, so that under ``torch.compile`` it fuses with the LayerNorm that follows into one
        kernel, and the layout never flips between the convolution and the linears (the eager
        :meth:`forward` transposes twice per block, as the official code does). This is the fast
        inference path (``bench/apbwe.py`` measures it); the weights are the same.

        Shapes: ``(B, F, T) x 2 -> (log_amp_wb (B, F, T), phase_wb (B, F, T))``.

        >>> g = APBWEGenerator(n_bins=33, channels=16, layers=2).eval()
        >>> a, p = torch.randn(2, 33, 9), torch.randn(2, 33, 9)
        >>> torch.allclose(g.forward_time_major(a, p)[0], g(a, p)[0], atol=1e-5)
        True
        """
        x_mag = self.norm_pre_mag(self.conv_pre_mag(log_amp).transpose(1, 2))
        x_pha = self.norm_pre_pha(self.conv_pre_pha(phase).transpose(1, 2))
        for block_mag, block_pha in zip(self.convnext_mag, self.convnext_pha, strict=False):
            x_mag = x_mag + x_pha
            x_pha = x_pha + x_mag
            x_mag = _block_time_major(block_mag, x_mag)
            x_pha = _block_time_major(block_pha, x_pha)
        log_amp_wb = log_amp + self.linear_post_mag(self.norm_post_mag(x_mag)).transpose(1, 2)
        h = self.norm_post_pha(x_pha)
        phase_wb = torch.atan2(self.linear_post_pha_i(h), self.linear_post_pha_r(h)).transpose(1, 2)
        return log_amp_wb, phase_wb

    def load_official_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load the ``generator`` state dict of an official AP-BWE checkpoint (names are identical).

        Raises ``ValueError`` naming the missing, unexpected or mis-shaped tensors.
        """
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        shapes = [
            f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
            for k, v in own.items()
            if k in state and tuple(state[k].shape) != tuple(v.shape)
        ]
        if missing or unexpected or shapes:
            raise ValueError(
                "not an AP-BWE generator of this size: "
                + "; ".join(
                    f"{name} {vals[:4]}{'...' if len(vals) > 4 else ''}"
                    for name, vals in (
                        ("missing", missing),
                        ("unexpected", unexpected),
                        ("shape mismatch", shapes),
                    )
                    if vals
                )
            )
        self.load_state_dict(state)


def _block_time_major(block: ConvNeXtBlock, x: Tensor) -> Tensor:
    """:class:`ConvNeXtBlock` on ``(B, T, C)``: depthwise conv as shifted multiply-adds, no transposes."""
    k = block.dwconv.kernel_size[0]
    pad = k // 2
    xp = torch.nn.functional.pad(x, (0, 0, pad, pad))
    w = block.dwconv.weight[:, 0, :]  # (C, k)
    T = x.shape[1]
    y = block.dwconv.bias + sum(xp[:, j : j + T, :] * w[:, j] for j in range(k))
    y = block.pwconv2(block.act(block.pwconv1(block.norm(y))))
    return x + block.gamma * y


def complex_from_amp_phase(log_amp: Tensor, phase: Tensor) -> Tensor:
    """Log-amplitude, phase ``(..., F, T)`` -> (real, imag) ``(..., F, T, 2)`` of ``exp(log_amp + i phase)``.

    >>> complex_from_amp_phase(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
    tensor([[[[1., 0.]]]])
    """
    amp = torch.exp(log_amp)
    return torch.stack((amp * torch.cos(phase), amp * torch.sin(phase)), dim=-1)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.constant_(m.bias, 0.0)


def count_parameters(module: nn.Module) -> int:
    """Number of scalars in ``module``'s parameters.

    >>> count_parameters(APBWEGenerator())
    29760515
    """
    return sum(p.numel() for p in module.parameters())
