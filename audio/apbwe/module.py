"""AP-BWE's LightningModule: the official training loop with manual optimisation.

Per batch (see :class:`sigkit.train.GANModule`): generate; one AdamW step of MPD+MRAD+MRPD on the
detached output (each discriminator's gradient clipped to norm 10 apart); one AdamW step of the
generator (clipped to 10). ``ExponentialLR(0.999)`` steps both optimizers once per epoch. The batch is
``{"wb": (B, T) target-rate wideband, "nb": (B, T) narrowband already sinc-upsampled to the target rate}``
(:class:`sigkit.audio.apbwe.data.VCTKDataModule` makes it).

Validation runs whole utterances (batch 1) and logs ``val/lsd`` (the checkpoint monitor) and ``val/snr``;
``sigkit test`` logs ``test/lsd``, ``test/snr`` (and ``test/pesq`` for 16 kHz targets when the ``pesq``
package imports) per input rate and prints a table in the paper's format, with the sinc baseline.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn
from sigkit.audio.apbwe.discriminators import (
    MPD_CHANNELS,
    PERIODS,
    RESOLUTIONS,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
)
from sigkit.audio.apbwe.losses import (
    LossWeights,
    complex_from_amp_phase,
    feature_matching_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    reconstruction_losses,
    weighted_reconstruction,
)
from sigkit.audio.apbwe.model import CHECKPOINT_KIND, APBWEGenerator
from torch import Tensor

from sigkit.errors import ConfigError
from sigkit.metrics import lsd, snr
from sigkit.spectral import STFTSpec, amp_phase, from_amp_phase
from sigkit.train import GANModule


def quantize_pcm16(x: Tensor) -> Tensor:
    """What writing a PCM_16 wav with soundfile and reading it back does: ``round(32767 x) / 32768``.

    (libsndfile scales by 32767 when writing floats as 16-bit and by 1/32768 when reading.)

    >>> quantize_pcm16(torch.tensor([0.5, 2.0, -1.0])) * 32768
    tensor([ 16384.,  32767., -32767.])
    """
    return torch.round(x.clamp(-1.0, 1.0) * 32767) / 32768


def pesq_available() -> bool:
    """Whether the ``pesq`` package (WB-PESQ) imports."""
    try:
        import pesq  # noqa: F401
    except ImportError:
        return False
    return True


class APBWEModule(GANModule):
    """AP-BWE generator + MPD/MRAD/MRPD trained the official way.

    Args:
        sr_out: target rate in Hz (16000 or 48000 in the paper).
        sr_in: narrowband rate(s) in Hz: one int per model, or a list for AP-BWE* (the data module
            draws an input rate per example from it).
        channels, layers: generator width and depth (512 and 8 official).
        n_fft, hop, win: the generator's STFT in samples (1024, 80, 320 official at every rate).
        mpd_periods: MPD periods (2, 3, 5, 7, 11 official).
        mpd_channels: MPD conv widths (32, 128, 512, 1024, 1024 official).
        mrd_channels: MRAD/MRPD conv width (64 official).
        lr, betas, weight_decay: AdamW for both networks (2e-4, (0.8, 0.99), PyTorch's default 0.01).
        lr_decay: ``ExponentialLR`` gamma, stepped per epoch (0.999).
        grad_clip: gradient norm clip per network (10).
        weights: loss weights (:class:`~sigkit.audio.apbwe.losses.LossWeights` fields).
        adversarial_start: train the generator on the reconstruction losses alone for this many steps
            before the discriminators join (0, the official recipe; the CPU demo uses a warm-up).

    >>> m = APBWEModule(sr_out=16000, sr_in=8000, channels=16, layers=1, mpd_channels=(4, 4, 4, 4, 4),
    ...                 mrd_channels=4)
    >>> m.sr_in_rates, m.generator.n_bins
    ((8000,), 513)
    """

    checkpoint_monitor = ("val/lsd", "min")

    def __init__(
        self,
        sr_out: int = 16000,
        sr_in: int | list[int] = 8000,
        channels: int = 512,
        layers: int = 8,
        n_fft: int = 1024,
        hop: int = 80,
        win: int = 320,
        mpd_periods: tuple[int, ...] = PERIODS,
        mpd_channels: tuple[int, ...] = MPD_CHANNELS,
        mrd_channels: int = 64,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.8, 0.99),
        weight_decay: float = 0.01,
        lr_decay: float = 0.999,
        grad_clip: float = 10.0,
        weights: dict[str, float] | None = None,
        adversarial_start: int = 0,
    ) -> None:
        super().__init__(grad_clip=grad_clip, scheduler_interval="epoch")
        rates = tuple(int(r) for r in (sr_in if isinstance(sr_in, (list, tuple)) else [sr_in]))
        if not rates or any(r <= 0 or r >= sr_out for r in rates):
            raise ConfigError(f"APBWEModule: every sr_in must be below sr_out={sr_out} Hz, got {list(rates)}")
        self.save_hyperparameters()
        self.sr_out = int(sr_out)
        self.sr_in_rates = rates
        self.spec = STFTSpec(n_fft, hop, win)
        self.loss_weights = LossWeights(**(weights or {}))
        self.generator = APBWEGenerator(self.spec.n_bins, channels, layers)
        self.mpd = MultiPeriodDiscriminator(mpd_periods, mpd_channels)
        self.mrad = MultiResolutionDiscriminator("amplitude", RESOLUTIONS, mrd_channels)
        self.mrpd = MultiResolutionDiscriminator("phase", RESOLUTIONS, mrd_channels)
        self._test_scores: dict = _nested()
        self.batches_seen = 0

    @property
    def adversarial(self) -> bool:
        return self.batches_seen >= self.hparams.adversarial_start

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        super().training_step(batch, batch_idx)
        self.batches_seen += 1

    # ---- the generator on waveforms -----------------------------------------------------------
    def forward(self, nb: Tensor) -> Tensor:
        """Extend ``nb`` ``(B, T)`` (narrowband upsampled to ``sr_out``) to a wideband ``(B, T)``."""
        return self.generate({"nb": nb})["wave"]

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        nb = batch["nb"]
        log_amp, phase = amp_phase(nb, self.spec)
        log_amp_g, phase_g, com_g = self.generator(log_amp, phase)
        wave = from_amp_phase(log_amp_g, phase_g, self.spec, length=nb.shape[-1])
        return {"log_amp": log_amp_g, "phase": phase_g, "com": com_g, "wave": wave}

    # ---- losses -------------------------------------------------------------------------------
    def _discriminate(self, y: Tensor, y_hat: Tensor):
        return self.mpd(y, y_hat), self.mrad(y, y_hat), self.mrpd(y, y_hat)

    def discriminator_loss(
        self, batch: dict[str, Tensor], gen: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        y, y_hat = batch["wb"].unsqueeze(1), gen["wave"].unsqueeze(1)
        (p_r, p_g, _, _), (a_r, a_g, _, _), (ph_r, ph_g, _, _) = self._discriminate(y, y_hat)
        l_mpd = hinge_discriminator_loss(p_r, p_g)
        l_mrad = hinge_discriminator_loss(a_r, a_g)
        l_mrpd = hinge_discriminator_loss(ph_r, ph_g)
        w = self.loss_weights
        loss = w.mpd * l_mpd + w.mrd * (l_mrad + l_mrpd)
        return loss, {"d_mpd": l_mpd, "d_mrad": l_mrad, "d_mrpd": l_mrpd}

    def reconstruction_terms(self, wb: Tensor, gen: dict[str, Tensor]) -> dict[str, Tensor]:
        """The unweighted spectral losses of generated ``gen`` against the wideband ``wb`` ``(B, T)``."""
        with torch.no_grad():
            log_amp, phase = amp_phase(wb, self.spec)
            com = complex_from_amp_phase(log_amp, phase)
        com_hat = complex_from_amp_phase(*amp_phase(gen["wave"], self.spec))
        return reconstruction_losses(log_amp, phase, com, gen["log_amp"], gen["phase"], gen["com"], com_hat)

    def generator_loss(
        self, batch: dict[str, Tensor], gen: dict[str, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        terms = self.reconstruction_terms(batch["wb"], gen)
        if not self.adversarial:
            return weighted_reconstruction(terms, self.loss_weights), dict(terms)
        y, y_hat = batch["wb"].unsqueeze(1), gen["wave"].unsqueeze(1)
        (_, p_g, fp_r, fp_g), (_, a_g, fa_r, fa_g), (_, ph_g, fph_r, fph_g) = self._discriminate(y, y_hat)
        w = self.loss_weights
        adv = w.mpd * hinge_generator_loss(p_g) + w.mrd * (
            hinge_generator_loss(a_g) + hinge_generator_loss(ph_g)
        )
        fm = w.mpd * feature_matching_loss(fp_r, fp_g) + w.mrd * (
            feature_matching_loss(fa_r, fa_g) + feature_matching_loss(fph_r, fph_g)
        )
        loss = weighted_reconstruction(terms, w) + adv + fm
        return loss, {**terms, "adv": adv, "fm": fm}

    def clip_groups(self, which: str):
        if which == "generator":
            return [list(self.generator.parameters())]
        return [list(self.mpd.parameters()), list(self.mrad.parameters()), list(self.mrpd.parameters())]

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.AdamW(
            self.generator.parameters(), hp.lr, betas=tuple(hp.betas), weight_decay=hp.weight_decay
        )
        opt_d = torch.optim.AdamW(
            itertools.chain(self.mrad.parameters(), self.mrpd.parameters(), self.mpd.parameters()),
            hp.lr,
            betas=tuple(hp.betas),
            weight_decay=hp.weight_decay,
        )
        scheds = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=hp.lr_decay) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds

    # ---- evaluation ---------------------------------------------------------------------------
    def _scores(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        wave = self.generate(batch)["wave"]
        return {"lsd": lsd(wave, batch["wb"]).mean(), "snr": snr(wave, batch["wb"]).mean()}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        scores = self._scores(batch)
        self.log_dict(
            {f"val/{k}": v for k, v in scores.items()}, batch_size=batch["wb"].shape[0], prog_bar=True
        )

    def on_test_epoch_start(self) -> None:
        self._test_scores = _nested()

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Official protocol: outputs rounded to PCM_16 as the official script re-reads its wav files."""
        wave = quantize_pcm16(self.generate(batch)["wave"])
        sinc = quantize_pcm16(batch["nb"])
        rates = batch.get("sr_in", torch.full((wave.shape[0],), self.sr_in_rates[0]))
        for i in range(wave.shape[0]):
            store = self._test_scores[int(rates[i])]
            for name, est in (("sinc", sinc[i]), ("AP-BWE (sigkit)", wave[i])):
                store[name]["lsd"].append(float(lsd(est, batch["wb"][i])))
                store[name]["snr"].append(float(snr(est, batch["wb"][i])))
                if self.sr_out == 16000 and pesq_available():
                    from pesq import PesqError, pesq

                    try:
                        value = pesq(16000, batch["wb"][i].cpu().numpy(), est.cpu().numpy(), "wb")
                    except PesqError as err:  # e.g. no speech found in a silent or too short utterance
                        rank_zero_warn(f"WB-PESQ skipped for one utterance ({type(err).__name__}: {err})")
                    else:
                        store[name]["pesq"].append(float(value))
        self.log("test/lsd", lsd(wave, batch["wb"]).mean(), batch_size=wave.shape[0])
        self.log("test/snr", snr(wave, batch["wb"]).mean(), batch_size=wave.shape[0])

    def on_test_epoch_end(self) -> None:
        table = format_results_table(self._test_scores, self.sr_out)
        self.test_table = table
        print("\n" + table)

    # ---- checkpoints --------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sigkit"] = {
            "kind": CHECKPOINT_KIND,
            "sr_in": list(self.sr_in_rates),
            "sr_out": self.sr_out,
            "n_fft": self.spec.n_fft,
            "hop": self.spec.hop,
            "win": self.spec.win,
            "channels": self.generator.channels,
            "layers": self.generator.layers,
            "batches_seen": self.batches_seen,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.batches_seen = int(checkpoint.get("sigkit", {}).get("batches_seen", 0))


def format_results_table(
    scores: dict[int, dict[str, dict[str, list[float]]]], sr_out: int, digits: int = 2
) -> str:
    """A markdown table in the paper's layout: one row per method, LSD/SNR(/PESQ) columns per input rate.

    Args:
        scores: ``{sr_in: {method: {"lsd": [...], "snr": [...], "pesq": [...]}}}`` per-utterance values.
        sr_out: target rate in Hz.
        digits: decimals shown.

    >>> print(format_results_table({8000: {"sinc": {"lsd": [1.8, 1.8], "snr": [19.0, 19.0]},
    ...                                    "AP-BWE": {"lsd": [0.5, 0.7], "snr": [20.0, 22.0]}}}, 16000))
    | Method | 8→16 LSD | 8→16 SNR |
    |---|---|---|
    | sinc | 1.80 | 19.00 |
    | AP-BWE | 0.60 | 21.00 |
    """
    rates = sorted(scores)
    methods = list(dict.fromkeys(m for r in rates for m in scores[r]))
    metrics = [
        k for k in ("lsd", "snr", "pesq") if any(scores[r][m].get(k) for r in rates for m in scores[r])
    ]
    cols = [(r, k) for r in rates for k in metrics]
    lines = [
        "| Method | " + " | ".join(f"{_khz(r)}→{_khz(sr_out)} {k.upper()}" for r, k in cols) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]
    for meth in methods:
        vals = []
        for r, k in cols:
            v = scores[r].get(meth, {}).get(k, [])
            vals.append(f"{sum(v) / len(v):.{digits}f}" if v else "–")
        lines.append(f"| {meth} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def _nested() -> defaultdict:
    return defaultdict(lambda: defaultdict(lambda: defaultdict(list)))


def _khz(rate: int) -> str:
    return f"{rate / 1000:g}"
