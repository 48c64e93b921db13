"""The tiny BERT-style sound transformer and the MFCC-CNN baseline (nn.Modules only).

Both classifiers share one interface: ``model(wave)`` takes waveforms ``(B, T)`` of the clip length
the model was built for and returns logits ``(B, n_classes)``; ``model.frontend(wave)`` gives the
feature map ``(B, F, N)`` and ``model.forward_features(features)`` the logits from it (the part that is
quantised and exported -- the front end is plain DSP, recomputed on the device).

:class:`TinyTransformer` (Elliott et al., arXiv 2103.12157, "just over 6,000 parameters"):
tokens from the feature map (one per frame, or one per time-frequency patch) -> linear embedding ->
``[CLS]`` + learned positions -> ``depth`` pre-norm blocks (multi-head self-attention, GELU MLP) ->
LayerNorm -> linear classifier on ``[CLS]``. With 40 mels, 79 frames, ``dim=16``, one block of
2 heads and an MLP of 64 it has 6,114 parameters for ESC-50's 50 classes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sigkit.errors import InputError

TOKENS = ("frame", "patch")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    >>> count_parameters(nn.Linear(16, 10))
    170
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class FrameTokens(nn.Module):
    """One token per frame: ``(B, F, N) -> (B, N, dim)`` by a linear map of each frame's ``F`` features."""

    def __init__(self, n_features: int, n_frames: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(n_features, dim)
        self.n_tokens = n_frames

    def forward(self, features: Tensor) -> Tensor:
        return self.proj(features.transpose(1, 2))


class PatchTokens(nn.Module):
    """One token per non-overlapping ``(pf, pt)`` time-frequency patch, in frequency-major order.

    ``(B, F, N) -> (B, ceil(F/pf) * ceil(N/pt), dim)``; the map is zero-padded up to whole patches.
    """

    def __init__(self, n_features: int, n_frames: int, dim: int, patch: tuple[int, int]) -> None:
        super().__init__()
        self.pf, self.pt = int(patch[0]), int(patch[1])
        if self.pf <= 0 or self.pt <= 0:
            raise InputError(f"patch size must be positive (features, frames), got {tuple(patch)}")
        self.pad_f = -n_features % self.pf
        self.pad_t = -n_frames % self.pt
        self.proj = nn.Conv2d(1, dim, (self.pf, self.pt), stride=(self.pf, self.pt))
        self.n_tokens = math.ceil(n_features / self.pf) * math.ceil(n_frames / self.pt)

    def forward(self, features: Tensor) -> Tensor:
        x = nn.functional.pad(features, (0, self.pad_t, 0, self.pad_f))[:, None]
        return self.proj(x).flatten(2).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention written out (one ``qkv`` and one output ``nn.Linear``, so int8
    post-training quantisation and ONNX export see plain matrix products). ``(B, L, dim) -> (B, L, dim)``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise InputError(f"dim={dim} is not divisible by heads={heads}; choose heads dividing dim")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, l, d = x.shape
        q, k, v = self.qkv(x).reshape(b, l, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(b, l, d)
        return self.out(y)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))`` then ``x + MLP(LN(x))``; ``(B, L, dim)`` in and out."""

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class _Classifier(nn.Module):
    """What both classifiers share: the front end, the clip length and the feature-map shape."""

    def __init__(self, frontend: nn.Module, n_classes: int, clip_samples: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise InputError(f"n_classes must be at least 2, got {n_classes}")
        if clip_samples <= 0:
            raise InputError(f"clip_samples must be a positive number of samples, got {clip_samples}")
        if not hasattr(frontend, "out_shape"):
            raise InputError(
                f"frontend {type(frontend).__name__} has no out_shape(n_samples); use one of "
                "sigkit.audio.tiny.frontends"
            )
        self.frontend = frontend
        self.n_classes, self.clip_samples = n_classes, clip_samples
        self.feature_shape: tuple[int, int] = tuple(frontend.out_shape(clip_samples))

    def _check_features(self, features: Tensor) -> None:
        if features.dim() != 3 or tuple(features.shape[1:]) != self.feature_shape:
            raise InputError(
                f"features of shape {tuple(features.shape)} do not match the model's (B, "
                f"{self.feature_shape[0]}, {self.feature_shape[1]}); "
                f"give clips of {self.clip_samples} samples"
            )

    def forward_features(self, features: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward_features() (base class of the models)")

    def forward(self, wave: Tensor) -> Tensor:
        return self.forward_features(self.frontend(wave))


class TinyTransformer(_Classifier):
    """BERT-style encoder over spectrogram (or waveform-chunk) tokens.

    Args:
        frontend: a front end of :mod:`sigkit.audio.tiny.frontends` (waveform -> ``(B, F, N)``).
        n_classes: number of classes.
        clip_samples: clip length in samples at the front end's rate (sizes the learned positions).
        tokens: ``"frame"`` (one token per frame) or ``"patch"`` (one per time-frequency patch).
        patch: ``(features, frames)`` per patch when ``tokens="patch"``.
        dim: embedding size; depth: blocks; heads: attention heads; ffn: MLP hidden size.
        dropout: dropout in the blocks and on the embeddings.

    Input ``(B, clip_samples)``, output logits ``(B, n_classes)``.

    >>> from sigkit.audio.tiny.frontends import LogMelFrontend
    >>> m = TinyTransformer(LogMelFrontend(sr=16000, n_fft=1024, hop=1024, n_mels=40), n_classes=50,
    ...                     clip_samples=80000, dim=16, depth=1, heads=2, ffn=64)
    >>> count_parameters(m), m(torch.randn(2, 80000)).shape
    (6114, torch.Size([2, 50]))
    """

    def __init__(
        self,
        frontend: nn.Module,
        n_classes: int = 50,
        clip_samples: int = 80000,
        tokens: str = "frame",
        patch: tuple[int, int] = (8, 8),
        dim: int = 16,
        depth: int = 1,
        heads: int = 2,
        ffn: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(frontend, n_classes, clip_samples)
        if tokens not in TOKENS:
            raise InputError(f"tokens must be one of {TOKENS}, got {tokens!r}")
        n_feat, n_frames = self.feature_shape
        self.dim, self.depth, self.heads, self.ffn, self.token_kind = dim, depth, heads, ffn, tokens
        self.tokens = (
            FrameTokens(n_feat, n_frames, dim)
            if tokens == "frame"
            else PatchTokens(n_feat, n_frames, dim, patch)
        )
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.n_tokens = self.tokens.n_tokens
        self.pos = nn.Parameter(torch.randn(1, self.n_tokens + 1, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, ffn, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward_features(self, features: Tensor) -> Tensor:
        """Logits ``(B, n_classes)`` from the feature map ``(B, F, N)``."""
        self._check_features(features)
        x = self.tokens(features)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(self.drop(x)))
        return self.head(x[:, 0])


class MFCCCNN(_Classifier):
    """The baseline: a 2-D CNN over MFCCs (conv3x3 -> BatchNorm -> ReLU -> max-pool 2, per stage),
    flattened into a dense layer, then the classifier -- the paper's "MFCC-based CNN" with ~4M parameters.

    Args:
        frontend: usually :class:`~sigkit.audio.tiny.frontends.MFCCFrontend`.
        n_classes, clip_samples: as :class:`TinyTransformer`.
        channels: output channels of each conv stage (each stage halves both axes, rounding down).
        hidden: dense layer size.
        dropout: dropout before the dense layers.

    Input ``(B, clip_samples)``, output logits ``(B, n_classes)``.

    >>> from sigkit.audio.tiny.frontends import MFCCFrontend
    >>> m = MFCCCNN(MFCCFrontend(sr=16000, n_fft=512, hop=256), 10, 16000, channels=(4, 8), hidden=16)
    >>> m(torch.randn(2, 16000)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        frontend: nn.Module,
        n_classes: int = 50,
        clip_samples: int = 80000,
        channels: tuple[int, ...] = (32, 64, 128, 256),
        hidden: int = 512,
        dropout: float = 0.3,
    ) -> None:
        super().__init__(frontend, n_classes, clip_samples)
        layers: list[nn.Module] = []
        f, n, c_in = *self.feature_shape, 1
        for c in channels:
            if f < 2 or n < 2:
                raise InputError(
                    f"MFCCCNN: {len(channels)} pooling stages are too many for features "
                    f"{self.feature_shape}; use fewer channels entries"
                )
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            f, n, c_in = f // 2, n // 2, c
        self.convs = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c_in * f * n, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward_features(self, features: Tensor) -> Tensor:
        """Logits ``(B, n_classes)`` from MFCCs ``(B, F, N)``."""
        self._check_features(features)
        return self.classifier(self.convs(features[:, None]))
