"""AP-BWE: speech bandwidth extension with parallel amplitude and phase prediction (Lu et al., TASLP 2024).

``APBWE`` (inference) and ``APBWEGenerator`` import without Lightning; ``APBWEModule`` and
``VCTKDataModule`` (training) and ``FastAPBWE`` (the compiled GPU inference path) are imported on first use.

>>> from sigkit.audio.apbwe import APBWE, APBWEGenerator, APBWEModule, FastAPBWE, VCTKDataModule
"""

from sigkit.audio.apbwe.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
from sigkit.audio.apbwe.infer import APBWE
from sigkit.audio.apbwe.model import APBWEGenerator, ConvNeXtBlock, count_parameters

__all__ = [
    "APBWE",
    "APBWEGenerator",
    "APBWEModule",
    "ConvNeXtBlock",
    "FastAPBWE",
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "VCTKDataModule",
    "count_parameters",
]


def __getattr__(name: str):
    if name == "APBWEModule":
        from sigkit.audio.apbwe.module import APBWEModule

        return APBWEModule
    if name == "FastAPBWE":
        from sigkit.audio.apbwe.fast import FastAPBWE

        return FastAPBWE
    if name == "VCTKDataModule":
        from sigkit.audio.apbwe.data import VCTKDataModule

        return VCTKDataModule
    raise AttributeError(f"module 'sigkit.audio.apbwe' has no attribute {name!r}")
