"""AP-BWE's discriminators: multi-period (MPD) and multi-resolution amplitude / phase (MRAD / MRPD).

Each ``Multi*`` module takes real and generated waveforms ``(B, 1, T)`` and returns
``(real_scores, fake_scores, real_fmaps, fake_fmaps)``: lists with one entry per sub-discriminator,
scores flattened to ``(B, N)``, feature maps a list of tensors each. As in the official code:

- MPD (HiFi-GAN periods 2, 3, 5, 7, 11): the feature maps skip the first conv layer's output;
- MRAD / MRPD: rectangular-window STFTs at (n_fft, hop, win) = (512,128,512), (1024,256,1024),
  (2048,512,2048), linear magnitude (MRAD) or wrapped phase (MRPD), 64-channel 2-D conv stacks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from sigkit.spectral import STFTSpec, stft

LRELU_SLOPE = 0.1
RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
PERIODS = (2, 3, 5, 7, 11)
MPD_CHANNELS = (32, 128, 512, 1024, 1024)

DiscOut = tuple[list[Tensor], list[Tensor], list[list[Tensor]], list[list[Tensor]]]


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator: the waveform folded to ``(T / period, period)`` and 2-D convs.

    Shapes: ``(B, 1, T) -> (scores (B, N), feature maps)``.

    >>> s, f = PeriodDiscriminator(3)(torch.randn(2, 1, 400))
    >>> s.shape[0], len(f)
    (2, 5)
    """

    def __init__(
        self, period: int, channels: Sequence[int] = MPD_CHANNELS, kernel_size: int = 5, stride: int = 3
    ) -> None:
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"PeriodDiscriminator needs 5 conv widths, got {list(channels)}")
        self.period = period
        chans = (1, *channels)
        self.convs = nn.ModuleList(
            [
                weight_norm(
                    nn.Conv2d(
                        chans[i], chans[i + 1], (kernel_size, 1), (stride if i < 4 else 1, 1), padding=(2, 0)
                    )
                )
                for i in range(5)
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        fmap = []
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            if i > 0:  # the official AP-BWE skips the first layer's features
                fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class ResolutionDiscriminator(nn.Module):
    """A 2-D conv discriminator on a rectangular-window STFT's magnitude (``"amplitude"``) or phase.

    Args:
        resolution: ``(n_fft, hop, win)`` in samples.
        kind: ``"amplitude"`` (linear ``|X|``) or ``"phase"`` (``angle(X)``).
        channels: conv width (64 official).

    Shapes: ``(B, 1, T) -> (scores (B, N), 6 feature maps)``.

    >>> s, f = ResolutionDiscriminator((512, 128, 512), "phase")(torch.randn(2, 1, 1600))
    >>> s.shape[0], len(f)
    (2, 6)
    """

    def __init__(self, resolution: Sequence[int], kind: str = "amplitude", channels: int = 64) -> None:
        super().__init__()
        if kind not in ("amplitude", "phase"):
            raise ValueError(f"kind must be 'amplitude' or 'phase', got {kind!r}")
        n_fft, hop, win = resolution
        self.spec = STFTSpec(int(n_fft), int(hop), int(win), window="rect")
        self.kind = kind
        c = channels
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(1, c, kernel_size=(7, 5), stride=(2, 2), padding=(3, 2))),
                weight_norm(nn.Conv2d(c, c, kernel_size=(5, 3), stride=(2, 1), padding=(2, 1))),
                weight_norm(nn.Conv2d(c, c, kernel_size=(5, 3), stride=(2, 2), padding=(2, 1))),
                weight_norm(nn.Conv2d(c, c, kernel_size=3, stride=(2, 1), padding=1)),
                weight_norm(nn.Conv2d(c, c, kernel_size=3, stride=(2, 2), padding=1)),
            ]
        )
        self.conv_post = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        X = stft(x.squeeze(1), self.spec)
        x = (X.abs() if self.kind == "amplitude" else X.angle()).unsqueeze(1)
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class _MultiDiscriminator(nn.Module):
    discriminators: nn.ModuleList

    def forward(self, y: Tensor, y_hat: Tensor) -> DiscOut:
        """Score real ``y`` and generated ``y_hat``, both ``(B, 1, T)``, with every sub-discriminator."""
        out: DiscOut = ([], [], [], [])
        for d in self.discriminators:
            s_r, f_r = d(y)
            s_g, f_g = d(y_hat)
            for lst, v in zip(out, (s_r, s_g, f_r, f_g), strict=False):
                lst.append(v)
        return out


class MultiPeriodDiscriminator(_MultiDiscriminator):
    """MPD with periods (2, 3, 5, 7, 11) (41.1 M parameters at the official widths).

    >>> y = torch.randn(1, 1, 800)
    >>> len(MultiPeriodDiscriminator()(y, y)[0])
    5
    """

    def __init__(self, periods: Sequence[int] = PERIODS, channels: Sequence[int] = MPD_CHANNELS) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([PeriodDiscriminator(int(p), tuple(channels)) for p in periods])


class MultiResolutionDiscriminator(_MultiDiscriminator):
    """MRAD (``kind="amplitude"``) or MRPD (``kind="phase"``) over three STFT resolutions.

    >>> y = torch.randn(1, 1, 4000)
    >>> scores = MultiResolutionDiscriminator("phase")(y, y)[0]
    >>> [s.shape[1] for s in scores]
    [36, 34, 33]
    """

    def __init__(
        self, kind: str = "amplitude", resolutions: Sequence[Sequence[int]] = RESOLUTIONS, channels: int = 64
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([ResolutionDiscriminator(r, kind, channels) for r in resolutions])
