"""Models of sigkit.audio.tiny: parameter counts of every config, shapes, tokens, gradients, errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from sigkit.audio.tiny import (
    MFCCCNN,
    LogMelFrontend,
    MFCCFrontend,
    TinyClassifierModule,
    TinyTransformer,
    WaveChunkFrontend,
    count_parameters,
)
from sigkit.audio.tiny.model import PatchTokens, SelfAttention

from sigkit.errors import InputError

# one worker runs the whole file under `pytest -n 2 --dist loadgroup`, so module fixtures run once
pytestmark = pytest.mark.xdist_group("tiny_model")

REPO = Path(__file__).resolve().parents[2]


def _instantiate(config: Path):
    from sigkit.train.cli import SigkitCLI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SigkitCLI(args=["-c", str(config), "--trainer.logger", "false"], run=False)


@pytest.fixture(scope="module")
def config_counts() -> dict[str, int]:
    """Parameter count of the model of every configs/audio/tiny_*.yaml (instantiated through the CLI)."""
    return {
        c.name: count_parameters(_instantiate(c).model.model)
        for c in sorted((REPO / "configs/audio").glob("tiny_*.yaml"))
    }


def test_paper_config_is_just_over_6000_parameters():
    cli = _instantiate(REPO / "configs/audio/tiny_esc50.yaml")
    assert isinstance(cli.model, TinyClassifierModule)
    assert count_parameters(cli.model.model) == 6114
    # the budget, term by term: 40 mels -> 16 (656), [CLS] (16), 80 positions (1280), one block
    # (2 LayerNorms 64, qkv 816, out 272, MLP 16-64-16 2128), final LayerNorm (32), 16 -> 50 head (850)
    assert 656 + 16 + 1280 + (64 + 816 + 272 + 2128) + 32 + 850 == 6114
    assert cli.datamodule.fold == 1 and cli.datamodule.clip_samples == 80000


def test_readme_lists_every_config_with_its_parameter_count(config_counts):
    readme = (REPO / "audio/tiny/README.md").read_text()
    assert len(config_counts) >= 10
    for name, count in config_counts.items():
        row = re.search(rf"`{name}`[^\n]*?\|\s*([\d,]+)\s*\|", readme)
        assert row, f"{name} missing from the README's parameter table"
        assert int(row.group(1).replace(",", "")) == count, name


def test_family_spans_6k_to_1m_and_baseline_has_9985_percent_more(config_counts):
    assert min(config_counts.values()) < 7000 and 900_000 < config_counts["tiny_esc50_base.yaml"] < 1_100_000
    ratio = 1 - config_counts["tiny_esc50.yaml"] / config_counts["tiny_esc50_cnn_mfcc.yaml"]
    assert ratio == pytest.approx(0.9985, abs=5e-5)


class TestTinyTransformer:
    def test_shapes_and_forward_features(self):
        m = TinyTransformer(
            LogMelFrontend(sr=8000, n_fft=256, hop=256, n_mels=16),
            n_classes=5,
            clip_samples=4000,
            dim=8,
            depth=2,
            heads=2,
            ffn=16,
        ).eval()
        wave = torch.randn(3, 4000)
        assert m.feature_shape == (16, 16) and m.n_tokens == 16
        torch.testing.assert_close(m(wave), m.forward_features(m.frontend(wave)))
        assert m(wave).shape == (3, 5)

    def test_patch_tokens_cover_the_map(self):
        tok = PatchTokens(n_features=10, n_frames=7, dim=4, patch=(4, 3))
        assert tok.n_tokens == 3 * 3
        assert tok(torch.randn(2, 10, 7)).shape == (2, 9, 4)
        # token (i, j) sees only its patch: changing one cell moves exactly one token
        x = torch.randn(1, 10, 7)
        y = x.clone()
        y[0, 5, 4] += 1.0  # feature row 5 -> patch row 1, frame 4 -> patch column 1
        moved = (tok(y) - tok(x)).abs().sum(-1)[0]
        assert moved.nonzero().flatten().tolist() == [1 * 3 + 1]

    def test_attention_is_permutation_equivariant_and_rows_sum_to_one(self):
        att = SelfAttention(8, 2).eval()
        x = torch.randn(2, 5, 8)
        perm = torch.randperm(5)
        torch.testing.assert_close(att(x)[:, perm], att(x[:, perm]), atol=1e-6, rtol=1e-5)

    def test_cls_output_depends_on_every_token(self):
        m = TinyTransformer(
            WaveChunkFrontend(20, norm="none"),
            n_classes=3,
            clip_samples=200,
            dim=8,
            heads=2,
            ffn=16,
            dropout=0.0,
        )
        feats = torch.randn(1, 20, 10, requires_grad=True)
        m.forward_features(feats).sum().backward()
        assert bool((feats.grad.abs().sum(1) > 0).all())
        assert all(p.grad is not None for p in m.parameters())

    def test_errors(self):
        fe = LogMelFrontend(sr=8000, n_fft=256, hop=256, n_mels=16)
        with pytest.raises(InputError, match="not divisible by heads"):
            TinyTransformer(fe, 5, 4000, dim=10, heads=3)
        with pytest.raises(InputError, match="tokens must be one of"):
            TinyTransformer(fe, 5, 4000, tokens="pixel")
        with pytest.raises(InputError, match="n_classes must be at least 2"):
            TinyTransformer(fe, 1, 4000)
        m = TinyTransformer(fe, 5, 4000)
        with pytest.raises(InputError, match="give clips of 4000 samples"):
            m(torch.randn(1, 5000))


class TestMFCCCNN:
    def test_shapes_and_training_mode(self):
        m = MFCCCNN(
            MFCCFrontend(sr=8000, n_fft=256, hop=128, n_mfcc=13, n_mels=32),
            4,
            4000,
            channels=(4, 8),
            hidden=16,
        )
        assert m(torch.randn(2, 4000)).shape == (2, 4)
        # 13 x 32 map -> two pools -> 3 x 8 x 8 channels flattened
        assert m.classifier[2].in_features == 8 * 3 * 8

    def test_too_many_stages(self):
        with pytest.raises(InputError, match="too many"):
            MFCCCNN(
                MFCCFrontend(sr=8000, n_fft=256, hop=128, n_mfcc=4, n_mels=16), 4, 4000, channels=(2, 2, 2)
            )


def test_module_training_step_runs_mixup_and_augmentations():
    from sigkit.audio.tiny import SpecAugment, WaveAugment

    model = TinyTransformer(WaveChunkFrontend(50), n_classes=3, clip_samples=500, dim=8, heads=2, ffn=16)
    module = TinyClassifierModule(
        model,
        mixup_alpha=0.2,
        spec_augment=SpecAugment(1, 4, 1, 2),
        wave_augment=WaveAugment(max_shift=10, gain_db=(-3.0, 3.0), snr_db=(10.0, 20.0)),
    )
    module.log_dict = lambda *a, **k: None  # no trainer attached
    loss = module.training_step((torch.randn(4, 500), torch.tensor([0, 1, 2, 0])), 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.head.weight.grad is not None
    with pytest.raises(InputError, match="lr > 0"):
        TinyClassifierModule(model, lr=0.0)


def test_module_setup_checks_the_data_fits_the_model():
    from types import SimpleNamespace

    from sigkit.audio.tiny.data import SyntheticDataModule

    def setup(model, dm):
        module = TinyClassifierModule(model)
        module._trainer = SimpleNamespace(datamodule=dm)
        module.setup("fit")
        return module

    dm = SyntheticDataModule(n_classes=3, n_train=1, n_val=1, sr=8000, duration=0.5)
    with pytest.raises(InputError, match="resampled to 8000 Hz but the model's front end expects 16000 Hz"):
        setup(TinyTransformer(WaveChunkFrontend(50, sr=16000), 3, 4000), dm)
    with pytest.raises(InputError, match="clips of 4000 samples but the model was built for 8000"):
        setup(TinyTransformer(WaveChunkFrontend(50, sr=8000), 3, 8000), dm)
    dm.setup()
    with pytest.raises(InputError, match="data has 3 classes but the model was built for 4"):
        setup(TinyTransformer(WaveChunkFrontend(50, sr=8000), 4, 4000), dm)
    names = setup(TinyTransformer(WaveChunkFrontend(50, sr=8000), 3, 4000), dm).class_names
    assert names == ["dog", "rain", "crackling_fire"]
