"""Metrics: AP-BWE's LSD/SNR/APD, SI-SDR, and image PSNR/SSIM.

>>> from sigkit.metrics import lsd, snr, si_sdr, psnr, ssim
"""

from sigkit.metrics.audio import apd, lsd, si_sdr, snr
from sigkit.metrics.image import gaussian_window, psnr, ssim

__all__ = ["lsd", "snr", "si_sdr", "apd", "psnr", "ssim", "gaussian_window"]
