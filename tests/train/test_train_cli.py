"""``sigkit fit|validate|test|predict`` end to end on the toy config (CPU, 1-2 epochs, a second each)."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

from sigkit.cli import main
from sigkit.train import RunSummary, SigkitCheckpoint, SigkitCLI
from sigkit.train.cli import expand_logger_shorthand
from sigkit.train.toy import SineRegressor, make_sines

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "test" / "toy.yaml")
SIGKIT = Path(sys.executable).with_name("sigkit")
pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI.s args parameter")
QUIET = ["--trainer.enable_progress_bar", "false"]


def read_metrics(version_dir: Path) -> list[dict[str, str]]:
    with open(version_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """One 2-epoch ``sigkit fit`` through the console entry; returns its default_root_dir."""
    root = tmp_path_factory.mktemp("fit")
    code = main(["fit", "-c", CONFIG, "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(root),
                 *QUIET])
    assert code == 0
    return root


@pytest.mark.xdist_group("train_fitted")  # one worker runs the module-scoped fit for both classes
class TestFit:
    def test_writes_logs_config_and_checkpoints(self, fitted):
        version = fitted / "lightning_logs" / "version_0"
        ckpts = sorted(p.name for p in (version / "checkpoints").iterdir())
        assert "last.ckpt" in ckpts and len(ckpts) == 2, ckpts
        # last.ckpt is the last epoch even when that epoch's val/loss was not the best
        assert torch.load(version / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 1
        assert (version / "config.yaml").is_file()
        rows = read_metrics(version)
        assert len(column(rows, "val/loss")) == 2  # one validation per epoch
        assert len(column(rows, "train/loss")) == 8  # 64 examples / 16 per batch * 2 epochs
        assert column(rows, "lr-Adam")[0] == pytest.approx(0.01)  # LearningRateMonitor is on
        assert column(rows, "world_size") == [1.0, 1.0]

    def test_best_checkpoint_is_the_lowest_val_loss(self, fitted):
        version = fitted / "lightning_logs" / "version_0"
        best = next(p for p in (version / "checkpoints").iterdir() if p.name != "last.ckpt")
        state = torch.load(best, map_location="cpu", weights_only=False)
        (cb_state,) = [v for k, v in state["callbacks"].items() if k.startswith("SigkitCheckpoint")]
        assert cb_state["monitor"] == "val/loss"
        best_val = min(column(read_metrics(version), "val/loss"))
        assert float(cb_state["best_model_score"]) == pytest.approx(best_val)

    def test_seeded_rerun_is_identical(self, fitted, tmp_path):
        assert main(["fit", "-c", CONFIG, "--trainer.max_epochs", "2", "--trainer.default_root_dir",
                     str(tmp_path), *QUIET]) == 0
        first = column(read_metrics(fitted / "lightning_logs" / "version_0"), "val/loss")
        again = column(read_metrics(tmp_path / "lightning_logs" / "version_0"), "val/loss")
        assert again == first

    def test_console_script_in_a_subprocess(self, tmp_path):
        out = subprocess.run([str(SIGKIT), "fit", "-c", CONFIG, "--trainer.max_epochs", "1",
                              "--trainer.default_root_dir", str(tmp_path), *QUIET],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert (tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
        assert "fit done: 1 epoch(s), 4 step(s), val/loss" in out.stdout + out.stderr
        assert "litlogger" not in out.stdout + out.stderr


@pytest.mark.xdist_group("train_fitted")
class TestFromCheckpoint:
    def test_validate_reads_the_checkpoint(self, fitted):
        last = fitted / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        root = ["--trainer.default_root_dir", str(fitted), *QUIET]
        assert main(["validate", "-c", CONFIG, "--ckpt_path", str(last), *root]) == 0
        fit_val = column(read_metrics(fitted / "lightning_logs" / "version_0"), "val/loss")[-1]
        validated = read_metrics(fitted / "lightning_logs" / "version_1")
        assert column(validated, "val/loss") == [pytest.approx(fit_val, rel=1e-6)]
        # the same validation without the checkpoint starts from the seeded random init: far worse
        assert main(["validate", "-c", CONFIG, *root]) == 0
        fresh = column(read_metrics(fitted / "lightning_logs" / "version_2"), "val/loss")[0]
        assert fresh > 2 * fit_val

    def test_test_and_predict_read_the_checkpoint(self, fitted, tmp_path):
        last = fitted / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        root = ["--trainer.default_root_dir", str(tmp_path), *QUIET]
        assert main(["test", "-c", CONFIG, "--ckpt_path", str(last), *root]) == 0
        tested = column(read_metrics(tmp_path / "lightning_logs" / "version_0"), "test/loss")
        model = SineRegressor.load_from_checkpoint(last).eval()
        x, y = make_sines(32, 64, seed=2)  # the test split: seed + 2
        with torch.no_grad():
            expected = torch.nn.functional.mse_loss(model(x), y).item()
        assert tested == [pytest.approx(expected, rel=1e-5)]

        cli = SigkitCLI(args=["predict", "-c", CONFIG, "--ckpt_path", str(last), *root])
        preds = torch.cat(cli.trainer.predict_loop.predictions)
        with torch.no_grad():
            torch.testing.assert_close(preds, model(x))
        saved = torch.load(tmp_path / "lightning_logs" / "version_1" / "predictions" / "rank0.pt")
        torch.testing.assert_close(torch.cat(saved), preds)

    def test_missing_checkpoint_is_a_clear_error(self, tmp_path, capsys):
        missing = tmp_path / "nope.ckpt"
        assert main(["validate", "-c", CONFIG, "--ckpt_path", str(missing), *QUIET]) == 1
        err = capsys.readouterr().err
        assert str(missing) in err and "no such checkpoint" in err

    def test_unknown_option_is_a_parser_error(self, capsys):
        assert main(["fit", "-c", CONFIG, "--trainer.max_epochz", "1"]) == 2
        assert "max_epochz" in capsys.readouterr().err


class TestTrainerDefaults:
    def test_tensorboard_shorthand_follows_default_root_dir(self, tmp_path):
        assert main(["fit", "-c", CONFIG, "--trainer.max_epochs", "1", "--trainer.logger", "tensorboard",
                     "--trainer.default_root_dir", str(tmp_path), *QUIET]) == 0
        version = tmp_path / "lightning_logs" / "version_0"
        assert any(p.name.startswith("events.out.tfevents") for p in version.iterdir())
        assert (version / "checkpoints" / "last.ckpt").is_file()

    def test_expand_logger_shorthand(self):
        expanded = expand_logger_shorthand(["fit", "--trainer.logger", "false"])
        assert expanded == ["fit", "--trainer.logger=false"]
        assert expand_logger_shorthand(["--trainer.logger"]) == ["--trainer.logger"]
        (csv_arg,) = expand_logger_shorthand(["--trainer.logger", "CSV"])
        assert "lightning.pytorch.loggers.CSVLogger" in csv_arg

    def test_configured_callbacks_replace_defaults(self, tmp_path):
        cfg = tmp_path / "own.yaml"
        cfg.write_text("trainer:\n  callbacks:\n"
                       "    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
                       "      init_args:\n        every_n_epochs: 3\n")
        args = ["-c", CONFIG, "-c", str(cfg), "--trainer.default_root_dir", str(tmp_path)]
        cli = SigkitCLI(args=args, run=False)
        checkpoints = [cb for cb in cli.trainer.callbacks if isinstance(cb, ModelCheckpoint)]
        assert len(checkpoints) == 1 and not isinstance(checkpoints[0], SigkitCheckpoint)
        assert any(isinstance(cb, LearningRateMonitor) for cb in cli.trainer.callbacks)
        assert any(isinstance(cb, RunSummary) for cb in cli.trainer.callbacks)
        assert type(cli.trainer.logger).__name__ == "CSVLogger"
        assert cli.trainer.logger.save_dir == str(tmp_path)

    def test_no_logger_no_lr_monitor(self, tmp_path):
        cli = SigkitCLI(args=["-c", CONFIG, "--trainer.logger", "false"], run=False)
        assert cli.trainer.logger is None
        assert not any(isinstance(cb, LearningRateMonitor) for cb in cli.trainer.callbacks)
        assert any(isinstance(cb, SigkitCheckpoint) for cb in cli.trainer.callbacks)


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(tmp_path):
    """``--trainer.devices 2 --trainer.strategy ddp`` on CPU: two gloo ranks, one set of outputs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.num_nodes", "1",
           "--trainer.strategy", "ddp"]
    out = subprocess.run([str(SIGKIT), "fit", "-c", CONFIG, "--trainer.max_epochs", "1", *ddp,
                          "--trainer.default_root_dir", str(tmp_path), *QUIET],
                         capture_output=True, text=True, timeout=150, env=env, cwd=tmp_path)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
    versions = list((tmp_path / "lightning_logs").iterdir())
    assert [v.name for v in versions] == ["version_0"]  # rank 0 alone logs and checkpoints
    rows = read_metrics(versions[0])
    assert column(rows, "world_size") == [2.0]  # summed over ranks with sync_dist
    assert len(column(rows, "train/loss")) == 2  # 64 examples split over 2 ranks, 16 per batch
    assert not math.isnan(column(rows, "val/loss")[0])
    ckpts = sorted(p.name for p in (versions[0] / "checkpoints").iterdir())
    assert ckpts == ["epoch=0-step=2.ckpt", "last.ckpt"]
