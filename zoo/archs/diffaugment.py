"""DiffAugment generator (Zhao et al. 2020): a DCGAN generator trained with differentiable augmentation in D."""
from __future__ import annotations

from zoo.archs import register_arch
from zoo.archs.dcgan import DCGANGenerator


@register_arch("diffaugment")
class DiffAugmentGenerator(DCGANGenerator):
    """Unconditional generator; arch_kwargs: z_dim (100), base channels (64)."""
