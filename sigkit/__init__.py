"""sigkit: a PyTorch toolkit for signals whose bandwidth is the problem.

The core (this package) holds the spectral ops (:mod:`sigkit.spectral`), I/O, data, training, batch
and metrics; the domains live in :mod:`sigkit.audio`, :mod:`sigkit.events`, :mod:`sigkit.vision`,
:mod:`sigkit.ultrasound`, with fused GPU kernels in :mod:`sigkit.kernels`. Importing ``sigkit`` is cheap:
subpackages are imported when used.
"""
__version__ = "0.1.0"
