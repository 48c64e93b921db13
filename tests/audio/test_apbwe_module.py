"""AP-BWE training: every config builds and trains a step (at reduced width), the official recipe's
settings, manual optimisation, checkpoint round trip, ``sigkit test``'s paper-format table."""

from __future__ import annotations

import glob
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml
from sigkit.audio.apbwe import APBWE
from sigkit.audio.apbwe.module import APBWEModule, format_results_table

from sigkit.errors import CheckpointError
from sigkit.train import run_lightning_cli

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(glob.glob(str(ROOT / "configs/audio/apbwe_*.yaml")))
FULL = [c for c in CONFIGS if not c.endswith("apbwe_tiny.yaml")]
EXPECTED_PAIRS = {
    "2k_16k": ([2000], 16000),
    "4k_16k": ([4000], 16000),
    "8k_16k": ([8000], 16000),
    "8k_48k": ([8000], 48000),
    "12k_48k": ([12000], 48000),
    "16k_48k": ([16000], 48000),
    "24k_48k": ([24000], 48000),
    "star_16k": ([2000, 4000, 8000], 16000),
    "star_48k": ([8000, 12000, 16000, 24000], 48000),
    "tiny": ([8000], 16000),
}
SMALL = [
    "--model.init_args.channels",
    "16",
    "--model.init_args.layers",
    "1",
    "--model.init_args.mpd_channels",
    "[4, 4, 4, 4, 4]",
    "--model.init_args.mrd_channels",
    "4",
]
FAST_DATA = [
    "--data.init_args.batch_size",
    "2",
    "--data.init_args.synthetic_train",
    "2",
    "--data.init_args.synthetic_val",
    "1",
    "--data.init_args.synthetic_seconds",
    "0.6",
    "--data.init_args.num_workers",
    "0",
    "--data.init_args.segment",
    "2000",
]


def test_every_rate_pair_has_a_config():
    names = {Path(c).stem.removeprefix("apbwe_") for c in CONFIGS}
    assert names == set(EXPECTED_PAIRS)


@pytest.mark.parametrize("config", FULL, ids=lambda c: Path(c).stem)
def test_full_configs_are_the_official_recipe(config):
    cfg = yaml.safe_load(Path(config).read_text())
    m, d = cfg["model"]["init_args"], cfg["data"]["init_args"]
    rates, sr_out = EXPECTED_PAIRS[Path(config).stem.removeprefix("apbwe_")]
    assert [m["sr_in"]] if isinstance(m["sr_in"], int) else m["sr_in"] == rates
    assert m["sr_out"] == d["sr_out"] == sr_out and d["sr_in"] == m["sr_in"]
    assert (m["channels"], m["layers"], m["n_fft"], m["hop"], m["win"]) == (512, 8, 1024, 80, 320)
    assert (m["lr"], m["betas"], m["weight_decay"], m["lr_decay"], m["grad_clip"]) == (
        2e-4,
        [0.8, 0.99],
        0.01,
        0.999,
        10.0,
    )
    assert (d["segment"], d["batch_size"]) == (8000, 16)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: Path(c).stem)
def test_one_training_step_of_every_config(config, tmp_path):
    code = run_lightning_cli(
        [
            "fit",
            "-c",
            config,
            *SMALL,
            *FAST_DATA,
            "--trainer.fast_dev_run",
            "1",
            "--trainer.accelerator",
            "cpu",
            "--trainer.devices",
            "1",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert code == 0


def test_full_size_module_builds_and_generates():
    torch.manual_seed(0)
    m = APBWEModule(sr_out=48000, sr_in=[8000, 12000, 16000, 24000])
    assert sum(p.numel() for p in m.generator.parameters()) == 29_760_515
    with torch.no_grad():
        y = m(0.1 * torch.randn(1, 4800))
    assert y.shape == (1, 4800) and torch.isfinite(y).all()


def test_manual_optimisation_step_updates_and_clips():
    torch.manual_seed(0)
    m = APBWEModule(channels=16, layers=1, mpd_channels=(4, 4, 4, 4, 4), mrd_channels=4, grad_clip=1e-3)
    (opt_g, opt_d), (sch_g, sch_d) = m.configure_optimizers()
    assert isinstance(opt_g, torch.optim.AdamW) and opt_g.defaults["betas"] == (0.8, 0.99)
    assert opt_g.defaults["lr"] == 2e-4 and opt_g.defaults["weight_decay"] == 0.01 and sch_g.gamma == 0.999
    d_params = {id(p) for g in opt_d.param_groups for p in g["params"]}
    assert d_params == {id(p) for net in (m.mpd, m.mrad, m.mrpd) for p in net.parameters()}
    groups = m.clip_groups("discriminator")
    assert [len(g) for g in groups] == [len(list(n.parameters())) for n in (m.mpd, m.mrad, m.mrpd)]
    batch = {"wb": 0.1 * torch.randn(2, 2000), "nb": 0.1 * torch.randn(2, 2000)}
    gen = m.generate(batch)
    loss, logs = m.generator_loss(batch, gen)
    assert set(logs) >= {"amplitude", "ip", "gd", "iaf", "complex", "consistency", "adv", "fm"}
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(list(m.generator.parameters()), 1e-3)
    assert float(norm) > 1e-3
    assert (
        float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in m.generator.parameters()])))
        <= 1.01e-3
    )


def test_checkpoint_round_trip_and_test_table(tmp_path, capsys):
    tiny = str(ROOT / "configs/audio/apbwe_tiny.yaml")
    args = [
        *SMALL,
        *FAST_DATA,
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert (
        run_lightning_cli(["fit", "-c", tiny, *args, "--trainer.max_steps", "4", "--trainer.max_epochs", "3"])
        == 0
    )
    ckpt = next(tmp_path.rglob("last.ckpt"))
    raw = torch.load(ckpt, weights_only=False)
    assert raw["sigkit"]["kind"] == "sigkit.audio.apbwe" and raw["sigkit"]["sr_in"] == [8000]
    module = APBWEModule.load_from_checkpoint(ckpt)
    model = APBWE.from_checkpoint(ckpt)
    x = 0.1 * torch.randn(1, 3200)
    with torch.no_grad():
        torch.testing.assert_close(model(x), module.eval()(x))
    assert model.sr_in_rates == (8000,) and model.sr_out == 16000
    with pytest.raises(CheckpointError, match="extends 8000 Hz -> 16000 Hz, not 12000 Hz -> 48000 Hz"):
        APBWE.from_checkpoint(ckpt, sr_in=12000, sr_out=48000)
    # sigkit test: the paper-format table with the sinc baseline
    capsys.readouterr()
    assert run_lightning_cli(["test", "-c", tiny, *args, "--ckpt_path", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "| Method | 8→16 LSD | 8→16 SNR |" in out and "| sinc |" in out and "| AP-BWE (sigkit) |" in out
    # WB-PESQ for 16 kHz targets when `pesq` imports; an utterance it rejects is skipped, the run goes on
    fake = types.ModuleType("pesq")

    class PesqError(RuntimeError):
        pass

    calls = []

    def fake_pesq(sr, ref, deg, mode):
        calls.append((sr, mode))
        if len(calls) == 1:
            raise PesqError("No utterances detected")
        return 3.0

    fake.PesqError, fake.pesq = PesqError, fake_pesq
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "pesq", fake)
        assert run_lightning_cli(["test", "-c", tiny, *args, "--ckpt_path", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert calls and all(c == (16000, "wb") for c in calls)
    assert "| Method | 8→16 LSD | 8→16 SNR | 8→16 PESQ |" in out and "3.00 |" in out


def test_wrong_checkpoint_kind_is_refused(tmp_path):
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, other)
    with pytest.raises(CheckpointError, match="not an AP-BWE checkpoint.*sigkit fit"):
        APBWE.from_checkpoint(other)
    official = tmp_path / "g_8kto16k"
    torch.save({"generator": {}}, official)
    with pytest.raises(CheckpointError, match="from_official"):
        APBWE.from_checkpoint(official)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        APBWE.from_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        APBWE.from_checkpoint(tmp_path / "junk.ckpt")


def test_results_table_multi_rate():
    scores = {
        r: {"sinc": {"lsd": [2.0], "snr": [5.0]}, "AP-BWE (sigkit)": {"lsd": [1.0, 0.5], "snr": [10.0, 12.0]}}
        for r in (8000, 24000)
    }
    table = format_results_table(scores, 48000)
    assert table.splitlines()[0] == "| Method | 8→48 LSD | 8→48 SNR | 24→48 LSD | 24→48 SNR |"
    assert table.splitlines()[2] == "| sinc | 2.00 | 5.00 | 2.00 | 5.00 |"
    assert table.splitlines()[3] == "| AP-BWE (sigkit) | 0.75 | 11.00 | 0.75 | 11.00 |"
