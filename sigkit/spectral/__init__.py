"""The spectral core: STFT/iSTFT, amplitude/phase, mel, MFCC and AP-BWE's phase losses.

Functions first (``stft``, ``amp_phase``, ``log_mel``, ...), ``nn.Module`` wrappers over them
(``STFT``, ``AmpPhase``, ``LogMel``, ...). Waveforms are ``(..., T)``, spectra ``(..., F, frames)``.
On CUDA the ops with a fused kernel dispatch to :mod:`sigkit.kernels` (``backend="auto"``).
"""
from sigkit.spectral._backend import kernels_available
from sigkit.spectral.mel import hz_to_mel, log_mel, mel_filterbank, mel_spectrogram, mel_to_hz, mfcc, power_to_db
from sigkit.spectral.modules import (
    ISTFT,
    MFCC,
    STFT,
    AmpPhase,
    FromAmpPhase,
    LogMel,
    MelSpectrogram,
    Spectrogram,
)
from sigkit.spectral.phase import anti_wrapping, phase_losses
from sigkit.spectral.spec import STFTSpec
from sigkit.spectral.transforms import amp_phase, from_amp_phase, istft, spectrogram, stft

__all__ = [
    "STFTSpec", "stft", "istft", "spectrogram", "amp_phase", "from_amp_phase",
    "mel_filterbank", "mel_spectrogram", "log_mel", "power_to_db", "mfcc", "hz_to_mel", "mel_to_hz",
    "anti_wrapping", "phase_losses", "kernels_available",
    "STFT", "ISTFT", "Spectrogram", "AmpPhase", "FromAmpPhase", "MelSpectrogram", "LogMel", "MFCC",
]
