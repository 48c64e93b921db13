"""Smoothing kernels with identity covariance, as log-profiles of the squared distance.

Every kernel here is *standardised*: a draw from it has mean 0 and identity covariance, so a
bandwidth always means the kernel's standard deviation (scikit-learn's meaning for the Gaussian
kernel). scikit-learn's own parametrisation of the other kernels differs by a constant factor,
given by :meth:`Kernel.sklearn_scale` (``h_sigkit = h_sklearn * sklearn_scale(d)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from sigkit.errors import ConfigError


@dataclass(frozen=True)
class Kernel:
    """A radial kernel ``K(u) = exp(log_norm(d) + log_profile(|u|^2, d))`` with identity covariance.

    ``code`` identifies the kernel to the Triton implementation (0 gaussian, 1 epanechnikov, 2 laplace).
    """

    name: str
    code: int

    def param(self, d: int) -> float:
        """The kernel's shape constant in ``d`` dimensions (support radius^2 or inverse scale)."""
        if self.code == 1:
            return float(d + 4)  # Epanechnikov: support |u|^2 < d + 4
        if self.code == 2:
            return math.sqrt(d + 1.0)  # Laplace: exp(-sqrt(d + 1) |u|)
        return 1.0

    def log_profile(self, sq: Tensor, d: int) -> Tensor:
        """Log of the unnormalised kernel at squared distance ``sq`` (any shape, >= 0); -inf off support.

        >>> GAUSSIAN.log_profile(torch.tensor([1.0, 2.0]), d=3)
        tensor([-0.5000, -1.0000])
        """
        if self.code == 0:
            return sq * -0.5
        if self.code == 1:
            u = sq / self.param(d)
            return torch.where(u < 1, torch.log1p(-u.clamp(max=1)), torch.full_like(sq, -math.inf))
        return sq.clamp_min(0).sqrt() * -self.param(d)

    def log_norm(self, d: int) -> float:
        """Log of the constant that makes the kernel a probability density in ``d`` dimensions.

        >>> round(GAUSSIAN.log_norm(1), 6) == round(-0.5 * math.log(2 * math.pi), 6)
        True
        """
        if self.code == 0:
            return -0.5 * d * math.log(2 * math.pi)
        log_unit_ball = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
        if self.code == 1:
            # int_{|u|<a} (1 - |u|^2/a^2) du = a^d V_d 2/(d+2)
            a = math.sqrt(self.param(d))
            return -(d * math.log(a) + log_unit_ball + math.log(2.0) - math.log(d + 2.0))
        # int exp(-|u|/b) du = S_{d-1} Gamma(d) b^d with S_{d-1} = 2 pi^{d/2}/Gamma(d/2)
        b = 1.0 / self.param(d)
        log_sphere = math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)
        return -(log_sphere + math.lgamma(d) + d * math.log(b))

    def sample(
        self,
        n: int,
        d: int,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """``n`` draws of shape ``(n, d)`` from the kernel (mean 0, identity covariance)."""
        g = torch.randn(n, d, generator=generator, dtype=dtype, device=device)
        if self.code == 0:
            return g
        direction = g / g.norm(dim=1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        if self.code == 1:
            # density of r^2/a^2 is Beta(d/2, 2): r^2 = a^2 * Beta
            beta = torch.distributions.Beta(
                torch.tensor(d / 2.0, dtype=dtype), torch.tensor(2.0, dtype=dtype)
            )
            u = _sample_with(beta, n, generator, dtype, device)
            radius = (u * self.param(d)).sqrt()
        else:
            gamma = torch.distributions.Gamma(
                torch.tensor(float(d), dtype=dtype), torch.tensor(1.0, dtype=dtype)
            )
            radius = _sample_with(gamma, n, generator, dtype, device) / self.param(d)
        return direction * radius[:, None]

    def sklearn_scale(self, d: int) -> float:
        """Factor turning scikit-learn's ``bandwidth`` for this kernel into the kernel's standard deviation.

        >>> EPANECHNIKOV.sklearn_scale(5)
        0.3333333333333333
        """
        if self.code == 1:
            return 1.0 / math.sqrt(d + 4.0)
        if self.code == 2:
            return math.sqrt(d + 1.0)
        return 1.0


def _sample_with(dist: torch.distributions.Distribution, n: int, generator, dtype, device) -> Tensor:
    """Draws from a torch distribution reproducibly: seed a local RNG from ``generator`` when given."""
    if generator is None:
        return dist.sample((n,)).to(device=device, dtype=dtype)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        return dist.sample((n,)).to(device=device, dtype=dtype)


GAUSSIAN = Kernel("gaussian", 0)
EPANECHNIKOV = Kernel("epanechnikov", 1)
LAPLACE = Kernel("laplace", 2)
KERNELS = {"gaussian": GAUSSIAN, "epanechnikov": EPANECHNIKOV, "laplace": LAPLACE, "exponential": LAPLACE}


def get_kernel(kernel: str | Kernel) -> Kernel:
    """The :class:`Kernel` called ``kernel`` (``gaussian``, ``epanechnikov``, ``laplace``/``exponential``).

    >>> get_kernel("exponential").name
    'laplace'
    """
    if isinstance(kernel, Kernel):
        return kernel
    try:
        return KERNELS[str(kernel).lower()]
    except KeyError:
        raise ConfigError(f"kernel={kernel!r} is not known; use one of {sorted(KERNELS)}") from None
