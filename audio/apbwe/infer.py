"""AP-BWE inference: :class:`APBWE` (checkpoints, official weights, chunked extension) and ``sigkit bwe``.

>>> import torch
>>> model = APBWE(APBWEGenerator(channels=16, layers=1), sr_in=8000, sr_out=16000)
>>> out, sr = model.extend(torch.randn(2, 4000), 8000)  # stereo, 0.5 s at 8 kHz
>>> out.shape, sr
(torch.Size([2, 8000]), 16000)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from sigkit.audio.apbwe.model import CHECKPOINT_KIND, APBWEGenerator
from torch import Tensor, nn

from sigkit.errors import AudioFileError, CheckpointError, InputError, SampleRateError
from sigkit.io import resample
from sigkit.spectral import STFTSpec, amp_phase, from_amp_phase, istft, stft

OFFICIAL_PAIRS = {16000: (2000, 4000, 8000), 48000: (8000, 12000, 16000, 24000)}


class APBWE(nn.Module):
    """A trained AP-BWE generator with its rates: extends waveforms of any length, channel count and rate.

    Args:
        generator: the :class:`~sigkit.audio.apbwe.model.APBWEGenerator`.
        sr_in: the narrowband rate(s) it was trained on (several for AP-BWE*).
        sr_out: its target rate in Hz.
        spec: its STFT (``STFTSpec(1024, 80, 320)`` official).
        chunk_seconds: longest piece processed at once (longer signals go in overlapping chunks).
        overlap_seconds: overlap of neighbouring chunks, cross-faded linearly; it must exceed the
            model's receptive field (27 frames either side plus the window, 0.14 s at 16 kHz).
        max_batch: most chunks run through the generator together.
        bf16: run the generator under bf16 autocast (2.0-2.7x faster than fp32 on a Xeon CPU with AMX;
            outputs differ from fp32 by about 0.02 LSD on an untrained model, see README).
        fast: run batches through :meth:`fast` (:class:`~sigkit.audio.apbwe.fast.FastAPBWE`: bf16 products,
            compiled, one CUDA graph per shape; 0.0042 LSD from fp32 eager for a trained model). Chunks are
            then zero-padded to a few fixed shapes (:func:`fast_batch_shape`), so a folder of files of any
            lengths compiles a handful of shapes (7-17 s each on an H200), not one per file. Zero padding
            replaces the reflect padding at a signal's end, which changes its last :func:`edge_margin`
            samples slightly. Meant for CUDA; on the CPU it compiles with Inductor's C++ backend.
        fast_options: keyword arguments for :class:`~sigkit.audio.apbwe.fast.FastAPBWE` (e.g.
            ``{"compile": False}``).
    """

    def __init__(
        self,
        generator: APBWEGenerator,
        sr_in: int | Sequence[int],
        sr_out: int,
        spec: STFTSpec = STFTSpec(1024, 80, 320),
        chunk_seconds: float = 30.0,
        overlap_seconds: float = 0.5,
        max_batch: int = 16,
        bf16: bool = False,
        fast: bool = False,
        fast_options: dict | None = None,
    ) -> None:
        super().__init__()
        if fast and bf16:
            raise InputError("choose fast=True (bf16 products already) or bf16=True (autocast), not both")
        self.generator = generator.eval()
        self.sr_in_rates = tuple(
            sorted(int(r) for r in (sr_in if isinstance(sr_in, (list, tuple)) else [sr_in]))
        )
        self.sr_out = int(sr_out)
        self.spec = spec
        self.chunk_seconds, self.overlap_seconds, self.max_batch = chunk_seconds, overlap_seconds, max_batch
        self.bf16 = bf16
        self.fast_enabled, self.fast_options = fast, dict(fast_options or {})
        self._fast_path = None

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        map_location: str | torch.device = "cpu",
        sr_in: int | None = None,
        sr_out: int | None = None,
        **kwargs,
    ) -> APBWE:
        """Load a checkpoint written by ``sigkit fit`` with an AP-BWE config.

        Args:
            path: the ``.ckpt`` file.
            map_location: device to load the weights on.
            sr_in, sr_out: when given, the rate pair the caller expects; a checkpoint for another pair
                is refused.
            **kwargs: :class:`APBWE` options (``chunk_seconds``, ...).

        Raises:
            CheckpointError: missing file, not a sigkit AP-BWE checkpoint, or another rate pair.
        """
        ckpt = _load(path, map_location)
        meta = ckpt.get("sigkit") if isinstance(ckpt, dict) else None
        if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
            hint = (
                " It looks like an official AP-BWE generator file: use "
                "APBWE.from_official(path, sr_in, sr_out) "
                "or `sigkit bwe --official --sr-in R --sr-out R`."
                if isinstance(ckpt, dict) and "generator" in ckpt
                else ""
            )
            found = meta.get("kind") if isinstance(meta, dict) else "no sigkit model kind"
            raise CheckpointError(
                f"{path}: not an AP-BWE checkpoint (found {found}); expected one written by "
                f"`sigkit fit -c configs/audio/apbwe_*.yaml`.{hint}"
            )
        rates = tuple(meta["sr_in"])
        if (
            sr_out is not None
            and int(sr_out) != meta["sr_out"]
            or sr_in is not None
            and int(sr_in) not in rates
        ):
            raise CheckpointError(
                f"{path}: this checkpoint extends {'/'.join(f'{r}' for r in rates)} Hz -> "
                f"{meta['sr_out']} Hz, "
                f"not {sr_in or '?'} Hz -> {sr_out or '?'} Hz; pick the checkpoint trained for that pair"
            )
        gen = APBWEGenerator(meta["n_fft"] // 2 + 1, meta["channels"], meta["layers"])
        prefix = "generator."
        gen.load_state_dict(
            {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        )
        spec = STFTSpec(meta["n_fft"], meta["hop"], meta["win"])
        return cls(gen, rates, meta["sr_out"], spec, **kwargs).to(map_location)

    @classmethod
    def from_official(
        cls,
        path: str | os.PathLike,
        sr_in: int,
        sr_out: int,
        map_location: str | torch.device = "cpu",
        **kwargs,
    ) -> APBWE:
        """Load the authors' released generator (``g_8kto16k`` ...: a dict with a ``generator`` state dict).

        Parameter names and shapes are the official ones, so no conversion is needed; width and depth
        are read from the tensors (512 channels, 8 layers in every release). The STFT is the official
        ``(1024, 80, 320)`` at every rate.

        Raises:
            CheckpointError: missing file, no ``generator`` entry, tensors of another model, or a rate
                pair the authors did not release (2/4/8 kHz -> 16 kHz, 8/12/16/24 kHz -> 48 kHz).
        """
        sr_in, sr_out = int(sr_in), int(sr_out)
        if sr_in not in OFFICIAL_PAIRS.get(sr_out, ()):
            pairs = ", ".join(f"{a // 1000}k->{o // 1000}k" for o, ins in OFFICIAL_PAIRS.items() for a in ins)
            raise CheckpointError(
                f"{path}: no official AP-BWE model for {sr_in} Hz -> {sr_out} Hz; official pairs: {pairs}"
            )
        ckpt = _load(path, map_location)
        state = ckpt.get("generator") if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            what = (
                "a sigkit checkpoint: use APBWE.from_checkpoint(path)"
                if isinstance(ckpt, dict) and "sigkit" in ckpt
                else "no 'generator' entry"
            )
            raise CheckpointError(f"{path}: not an official AP-BWE generator file ({what})")
        try:
            n_bins, channels = state["conv_pre_mag.weight"].shape[1], state["conv_pre_mag.weight"].shape[0]
            layers = len({k.split(".")[1] for k in state if k.startswith("convnext_mag.")})
            if layers == 0:
                raise ValueError("no convnext_mag.* blocks")
            gen = APBWEGenerator(n_bins, channels, layers)
            gen.load_official_state_dict(state)
        except (KeyError, ValueError, IndexError) as err:
            raise CheckpointError(f"{path}: 'generator' is not an AP-BWE generator ({err})") from err
        return cls(gen, sr_in, sr_out, STFTSpec(2 * (n_bins - 1), 80, 320), **kwargs).to(map_location)

    def fast(self, **kwargs):
        """This model's fast inference path, :class:`~sigkit.audio.apbwe.fast.FastAPBWE` (``kwargs`` are its
        options): a callable ``(B, T) -> (B, T)`` on narrowband audio already at ``sr_out``
        (:meth:`narrowband` makes it). On CUDA it compiles and captures a CUDA graph per input shape,
        so it suits batches of one fixed shape (``bench/apbwe.py``: 8,027x real time at 48 kHz, batch 16 x
        10 s, on an H200; 0.0042 LSD from fp32 eager for a trained model).

        >>> model = APBWE(APBWEGenerator(channels=16, layers=1), sr_in=8000, sr_out=16000)
        >>> nb, _ = model.narrowband(torch.randn(2, 4000), 8000)
        >>> model.fast(compile=False)(nb).shape
        torch.Size([2, 8000])
        """
        from sigkit.audio.apbwe.fast import FastAPBWE

        return FastAPBWE(self.generator, self.spec, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    # ---- the model on target-rate narrowband audio ------------------------------------------
    def forward(self, nb: Tensor) -> Tensor:
        """Generator on ``nb`` ``(B, T)`` (narrowband already at ``sr_out``) -> wideband ``(B, T)``."""
        if self.fast_enabled:
            if self._fast_path is None:
                self._fast_path = self.fast(**self.fast_options)
            # a CUDA-graph replay returns the same buffer every time: keep this batch's result
            return self._fast_path(nb).clone()
        log_amp, phase = amp_phase(nb, self.spec, backend="reference")
        if self.bf16:
            with torch.autocast(nb.device.type, torch.bfloat16):
                log_amp_g, phase_g, _ = self.generator(log_amp, phase)
            log_amp_g, phase_g = log_amp_g.float(), phase_g.float()
        else:
            log_amp_g, phase_g, _ = self.generator(log_amp, phase)
        return from_amp_phase(log_amp_g, phase_g, self.spec, length=nb.shape[-1], backend="reference")

    def model_rate(self, sr_in: int) -> int:
        """The trained input rate used for audio at ``sr_in``: the highest one not above it (else the lowest).

        >>> APBWE(APBWEGenerator(33, 8, 1), [8000, 12000], 48000).model_rate(11025)
        8000
        """
        below = [r for r in self.sr_in_rates if r <= sr_in]
        return below[-1] if below else self.sr_in_rates[0]

    def narrowband(self, wave: Tensor, sr_in: int) -> tuple[Tensor, int]:
        """``wave`` at ``sr_in`` -> (the model's input at ``sr_out``, the model rate used)."""
        rate = self.model_rate(sr_in)
        return resample(resample(wave, sr_in, rate), rate, self.sr_out), rate

    @torch.inference_mode()
    def extend(self, wave: Tensor, sr_in: int, keep_lowband: bool = False) -> tuple[Tensor, int]:
        """Extend ``wave`` at ``sr_in`` Hz to the model's target rate.

        Audio at another rate than the model's input is first resampled to it (the highest trained
        rate not above ``sr_in``). Each channel is processed alone; signals longer than
        ``chunk_seconds`` go in overlapping chunks with a linear cross-fade, so memory stays bounded.

        Args:
            wave: ``(T,)``, ``(C, T)`` or ``(B, C, T)`` float audio in [-1, 1].
            sr_in: its rate in Hz; must be below the target rate.
            keep_lowband: put the input's own band below its Nyquist frequency back into the output,
                cross-faded over the top 10 % of that band (:func:`splice_lowband`).

        Returns:
            ``(wave_out, sr_out)``, ``wave_out`` of the input's leading shape and
            ``ceil(T * sr_out / sr_in)`` samples, float32 on the input's device.

        Raises:
            SampleRateError: ``sr_in`` at or above the target rate.
            InputError: not a float tensor of 1 to 3 dims, NaN/Inf, or shorter than one STFT frame.
        """
        sr_in = int(sr_in)
        if sr_in >= self.sr_out:
            raise SampleRateError(
                f"input rate {sr_in} Hz is already at or above the model's target rate "
                f"{self.sr_out} Hz; nothing to extend"
            )
        if not torch.is_tensor(wave) or not wave.is_floating_point() or not 1 <= wave.dim() <= 3:
            raise InputError(
                f"wave must be a float tensor (T,), (C, T) or (B, C, T), got "
                f"{tuple(wave.shape) if torch.is_tensor(wave) else type(wave).__name__}"
            )
        if not torch.isfinite(wave).all():
            raise InputError("wave holds NaN or Inf samples; clean the input first")
        lead, device = wave.shape[:-1], wave.device
        flat = wave.reshape(-1, wave.shape[-1]).to(self.device, torch.float32)
        nb, rate = self.narrowband(flat, sr_in)
        min_len = self.spec.n_fft // 2 + 1
        if nb.shape[-1] < min_len:
            raise InputError(
                f"audio of {wave.shape[-1]} samples at {sr_in} Hz is shorter than one STFT frame "
                f"({math.ceil(min_len * sr_in / self.sr_out)} samples at {sr_in} Hz)"
            )
        out = self.extend_narrowband(list(nb))
        out = torch.stack(out)
        if keep_lowband:
            out = splice_lowband(out, nb, rate / 2, self.sr_out, self.spec)
        return out.reshape(*lead, out.shape[-1]).to(device), self.sr_out

    def extend_narrowband(self, signals: list[Tensor]) -> list[Tensor]:
        """Run the model over 1-D narrowband signals at ``sr_out`` of any lengths, batching chunks.

        Each signal is cut into chunks of at most ``chunk_seconds`` overlapping by ``overlap_seconds``,
        all starting on the STFT's hop grid so that a chunk's frames are the whole signal's frames, and
        run in batches of up to ``max_batch`` chunks of equal length; the outputs are cross-faded back
        together over the middle of each overlap, away from the chunks' edges (:func:`edge_margin`), so
        the result equals processing the signal in one piece. Signals shorter than a chunk are batched
        together, zero-padded to the longest of their batch (which changes only their last
        ``edge_margin`` samples slightly; ``max_batch=1`` avoids it). With ``fast=True`` every batch is
        zero-padded to :func:`fast_batch_shape` instead.
        """
        hop = self.spec.hop
        margin = edge_margin(self.spec)
        overlap = max(int(self.overlap_seconds * self.sr_out) // hop * hop, 2 * margin + hop)
        chunk = max(int(self.chunk_seconds * self.sr_out) // hop * hop, overlap + 4 * hop)
        pieces = []  # (signal index, start, tensor)
        for i, x in enumerate(signals):
            for start in chunk_starts(x.shape[-1], chunk, overlap):
                pieces.append((i, start, x[start : start + chunk]))
        # chunks of long signals are batched only with pieces of their own length (bit-exact joins);
        # whole short signals are batched together, zero-padded to the longest of their batch
        counts = [sum(1 for p in pieces if p[0] == i) for i in range(len(signals))]
        groups: dict[int, list[int]] = {}
        for k, (i, _, piece) in enumerate(pieces):
            if self.fast_enabled:
                key = fast_batch_shape(1, piece.shape[-1], chunk, hop, self.max_batch)[1]
            else:
                key = -1 if counts[i] == 1 else piece.shape[-1]
            groups.setdefault(key, []).append(k)
        outputs: list[Tensor | None] = [None] * len(pieces)
        for members in groups.values():
            members.sort(key=lambda k: pieces[k][2].shape[-1])
            for b in range(0, len(members), self.max_batch):
                idx = members[b : b + self.max_batch]
                longest = max(pieces[k][2].shape[-1] for k in idx)
                if self.fast_enabled:
                    rows, length = fast_batch_shape(len(idx), longest, chunk, hop, self.max_batch)
                else:
                    rows, length = len(idx), (longest if len(idx) == 1 else math.ceil(longest / hop) * hop)
                batch = pieces[idx[0]][2].new_zeros(rows, length)
                for j, k in enumerate(idx):
                    batch[j, : pieces[k][2].shape[-1]] = pieces[k][2]
                y = self(batch)
                for j, k in enumerate(idx):
                    outputs[k] = y[j, : pieces[k][2].shape[-1]]
        results = []
        for i, x in enumerate(signals):
            parts = [(start, outputs[k]) for k, (si, start, _) in enumerate(pieces) if si == i]
            results.append(overlap_add(parts, x.shape[-1], margin))
        return results


def fast_batch_shape(pieces: int, longest: int, chunk: int, hop: int, max_batch: int) -> tuple[int, int]:
    """The padded ``(rows, samples)`` a batch of ``pieces`` chunks (longest ``longest`` samples) runs at
    with ``APBWE(fast=True)``: rows rounded up to a power of two (at most ``max_batch``), samples to
    ``chunk / 2**k`` (k = 0..3, on the hop grid), so a run compiles at most ``4 * (1 + log2(max_batch))`` shapes.

    >>> fast_batch_shape(3, 70_000, 480_000, 80, 16)  # 3 short clips, 30 s chunks at 16 kHz
    (4, 120000)
    >>> fast_batch_shape(16, 480_000, 480_000, 80, 16), fast_batch_shape(1, 10_000, 480_000, 80, 16)
    ((16, 480000), (1, 60000))
    """
    rows = min(max_batch, 1 << max(0, pieces - 1).bit_length())
    buckets = [math.ceil(chunk / 2**k / hop) * hop for k in range(4)]
    samples = min((b for b in buckets if b >= longest), default=math.ceil(longest / hop) * hop)
    return max(rows, pieces), samples


def edge_margin(spec: STFTSpec, context_frames: int = 28) -> int:
    """Samples at a chunk's edge whose output depends on what lies beyond it.

    The generator sees 27 frames either side (7-tap convolutions: the input conv and 8 blocks, plus one
    frame to spare) and each frame ``n_fft / 2`` samples either side of its centre.

    >>> edge_margin(STFTSpec(1024, 80, 320))
    2752
    """
    return context_frames * spec.hop + spec.n_fft // 2


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    """Start samples of chunks of (at most) ``chunk`` samples, every ``chunk - overlap``, covering ``length``.

    Starts are multiples of the step (so of the hop when chunk and overlap are); the last chunk is the
    one that reaches the end, and it is longer than ``overlap``.

    >>> chunk_starts(10, 4, 1), chunk_starts(3, 4, 1), chunk_starts(9, 4, 1)
    ([0, 3, 6], [0], [0, 3, 6])
    """
    step = chunk - overlap
    starts = [0]
    while starts[-1] + chunk < length:
        starts.append(starts[-1] + step)
    return starts


def overlap_add(parts: list[tuple[int, Tensor]], length: int, margin: int = 0) -> Tensor:
    """Join ``(start, piece)`` parts into one ``(length,)`` signal with linear cross-fades.

    Where two pieces overlap, the earlier is kept for ``margin`` samples, then fades out while the later
    fades in, and the later alone is kept for the last ``margin`` samples of the overlap (the fade uses
    the whole overlap when it is shorter than ``2 * margin + 1``).

    >>> ones = torch.ones(4)
    >>> overlap_add([(0, ones), (3, 3 * ones)], 7).tolist()
    [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    >>> overlap_add([(0, ones), (2, 3 * ones)], 6).tolist()
    [1.0, 1.0, 1.6666666269302368, 2.3333332538604736, 3.0, 3.0]
    >>> overlap_add([(0, torch.ones(6)), (1, 3 * torch.ones(6))], 7, margin=2).tolist()
    [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0]
    """
    parts = sorted(parts, key=lambda p: p[0])
    out = parts[0][1].new_zeros(length)
    end = 0
    for start, piece in parts:
        n = piece.shape[-1]
        ov = max(0, end - start)
        if ov:
            m = margin if ov > 2 * margin else 0
            fade = torch.zeros(ov, dtype=out.dtype, device=out.device)
            k = ov - 2 * m
            fade[m : m + k] = torch.arange(1, k + 1, dtype=out.dtype, device=out.device) / (k + 1)
            fade[m + k :] = 1.0
            out[start : start + ov] = out[start : start + ov] * (1 - fade) + piece[:ov] * fade
        out[start + ov : start + n] = piece[ov:]
        end = start + n
    return out


def splice_lowband(
    out: Tensor, nb: Tensor, cutoff_hz: float, sr: int, spec: STFTSpec, fade: float = 0.1
) -> Tensor:
    """Replace ``out``'s band below ``cutoff_hz`` by ``nb``'s, cross-faded over ``[(1 - fade), 1] cutoff``.

    Done on the complex STFT (``spec``) of both: below the fade band the input's bins, above the cutoff
    the model's, linearly mixed between.

    Args:
        out: model output ``(N, T)`` at ``sr``.
        nb: narrowband input upsampled to ``sr``, ``(N, T)``.
        cutoff_hz: the input's Nyquist frequency in Hz.
        sr: the rate of both in Hz.
        spec: the STFT used for the splice.
        fade: width of the cross-fade as a fraction of ``cutoff_hz``.

    >>> spec = STFTSpec(1024, 80, 320)
    >>> x = torch.randn(1, 4000)
    >>> torch.allclose(splice_lowband(x, x, 4000.0, 16000, spec), x, atol=1e-5)
    True
    """
    freqs = torch.linspace(0, sr / 2, spec.n_bins, device=out.device)
    lo = (1 - fade) * cutoff_hz
    w = ((cutoff_hz - freqs) / max(cutoff_hz - lo, 1e-9)).clamp(0, 1)[:, None]  # 1 in the low band, 0 above
    X_out, X_in = stft(out, spec), stft(nb, spec)
    return istft(w * X_in + (1 - w) * X_out, spec, length=out.shape[-1])


def _load(path: str | os.PathLike, map_location) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch checkpoint ({type(err).__name__}: {err})"
        ) from err


# ---- the batch tool -----------------------------------------------------------------------------
def load_for_bwe(path: Path, model: APBWE) -> dict:
    """Read one file for ``sigkit bwe`` and refuse what cannot be extended (with a message saying why)."""
    from sigkit.io import audio_info, load_audio

    info = audio_info(path)
    wave, sr = load_audio(path)  # raises AudioFileError for unreadable / empty / truncated / NaN files
    if sr >= model.sr_out:
        raise SampleRateError(
            f"{path}: sample rate {sr} Hz is already at or above the model's target rate "
            f"{model.sr_out} Hz; nothing to extend (use a model with a higher target rate)"
        )
    if float(wave.abs().max()) == 0.0:
        raise AudioFileError(f"{path}: the audio is silent (all samples are zero); nothing to extend")
    min_in = math.ceil((model.spec.n_fft // 2 + 1) * sr / model.sr_out)
    if wave.shape[-1] < min_in:
        raise AudioFileError(
            f"{path}: {wave.shape[-1]} samples ({wave.shape[-1] / sr * 1000:.1f} ms) is shorter than "
            f"one STFT frame of the model ({min_in} samples at {sr} Hz)"
        )
    return {"wave": wave, "sr": sr, "format": info.format, "subtype": info.subtype}


def process_for_bwe(items: list[dict], model: APBWE, keep_lowband: bool) -> list[Tensor]:
    """Extend every channel of every item together (short files share batches, long ones are chunked)."""
    with torch.inference_mode():
        nbs, rates = [], []
        for item in items:
            nb, rate = model.narrowband(item["wave"].to(model.device), item["sr"])
            nbs.append(nb)
            rates.append(rate)
        flat = model.extend_narrowband([ch for nb in nbs for ch in nb])
        out, k = [], 0
        for nb, rate in zip(nbs, rates, strict=False):
            y = torch.stack(flat[k : k + nb.shape[0]])
            k += nb.shape[0]
            if keep_lowband:
                y = splice_lowband(y, nb, rate / 2, model.sr_out, model.spec)
            out.append(y.cpu())
        return out


def build_parser():
    import argparse

    from sigkit.batch import add_batch_arguments

    p = argparse.ArgumentParser(
        prog="sigkit bwe",
        description="Extend the bandwidth of speech files with AP-BWE: any input rate, any channel count, "
        "any length; outputs keep the input's format and subtype, at the model's target rate.",
    )
    add_batch_arguments(p, batch_size=8)
    p.add_argument(
        "--ckpt",
        required=True,
        help="a checkpoint from `sigkit fit` (or an official g_* file with --official)",
    )
    p.add_argument("--official", action="store_true", help="--ckpt is an official AP-BWE generator file")
    p.add_argument(
        "--sr-in", type=int, default=None, help="the model's input rate in Hz (required with --official)"
    )
    p.add_argument(
        "--sr-out", type=int, default=None, help="the model's target rate in Hz (required with --official)"
    )
    p.add_argument(
        "--keep-lowband", action="store_true", help="put the input's own low band back into the output"
    )
    p.add_argument(
        "--chunk-seconds", type=float, default=30.0, help="longest piece run at once (default 30 s)"
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast for the generator (2-2.7x faster on CPUs with AMX; ~0.02 LSD off fp32)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="on CUDA: the compiled bf16 path with CUDA graphs (FastAPBWE; the model runs 10x eager fp32 at 48 kHz "
        "on an H200, 0.004 LSD off it); each batch shape compiles once (7-17 s, up to 20 shapes): for large corpora",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``sigkit bwe IN OUT --ckpt PATH [--official --sr-in R --sr-out R] [--keep-lowband]``."""
    from sigkit.batch import default_device, run_from_args
    from sigkit.io import save_audio

    args = build_parser().parse_args(argv)
    device = args.device or default_device()
    if args.official:
        if args.sr_in is None or args.sr_out is None:
            raise CheckpointError(
                f"{args.ckpt}: --official needs --sr-in and --sr-out (e.g. --sr-in 8000 --sr-out 16000)"
            )
        model = APBWE.from_official(
            args.ckpt,
            args.sr_in,
            args.sr_out,
            map_location=device,
            chunk_seconds=args.chunk_seconds,
            bf16=args.bf16,
            fast=args.fast,
        )
    else:
        model = APBWE.from_checkpoint(
            args.ckpt,
            map_location=device,
            sr_in=args.sr_in,
            sr_out=args.sr_out,
            chunk_seconds=args.chunk_seconds,
            bf16=args.bf16,
            fast=args.fast,
        )
    model.max_batch = max(model.max_batch, args.batch_size)

    def process(jobs):
        return [
            (y, job.data["format"], job.data["subtype"])
            for job, y in zip(
                jobs, process_for_bwe([j.data for j in jobs], model, args.keep_lowband), strict=True
            )
        ]

    def save(result, tmp: Path) -> None:
        y, fmt, subtype = result
        save_audio(tmp, y, model.sr_out, subtype=subtype, format=fmt)

    return run_from_args(
        args, load=lambda p: load_for_bwe(p, model), process=process, save=save, desc="sigkit bwe"
    )
