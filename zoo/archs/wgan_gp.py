"""WGAN-GP generator (Gulrajani et al. 2017): the DCGAN generator body, trained against a gradient-penalised critic."""
from __future__ import annotations

from zoo.archs import register_arch
from zoo.archs.dcgan import DCGANGenerator


@register_arch("wgan_gp")
class WGANGPGenerator(DCGANGenerator):
    """Unconditional generator; arch_kwargs: z_dim (100), base channels (64)."""
