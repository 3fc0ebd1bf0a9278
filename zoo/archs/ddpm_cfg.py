"""Class-conditional DDPM with classifier-free guidance (Ho & Salimans 2022): the diffusers DDPM of `zoo.archs.ddpm`
with class embeddings in its `UNet2DModel` (the last class index is the "no class" token)."""
from __future__ import annotations

from typing import Sequence

import torch

from zoo.archs import register_arch
from zoo.archs.ddpm import DDPMModel


@register_arch("ddpm_cfg")
class ClassConditionalDDPM(DDPMModel):
    """arch_kwargs: those of `ddpm` (widths default [32, 64, 128, 128], beta_schedule "squaredcos_cap_v2") and
    guidance (2.0), which can be changed on a loaded model like `sample_steps` and `sampler`."""

    resolutions = (32, 64, 128)

    def __init__(self, channels: int = 1, resolution: int = 64, num_classes: int = 0, widths: Sequence[int] = (32, 64, 128, 128),
                 attention_levels: Sequence[int] = (2,), layers_per_block: int = 1, timesteps: int = 1000,
                 beta_schedule: str = "squaredcos_cap_v2", sample_steps: int = 50, sampler: str = "ddim",
                 guidance: float = 2.0, precision: str = "float32") -> None:
        super().__init__(channels, resolution, num_classes, widths, attention_levels, layers_per_block, timesteps,
                         beta_schedule, sample_steps, sampler, precision)
        self.guidance = guidance

    def class_embeds(self) -> int:
        return self.null_class + 1

    @property
    def null_class(self) -> int:
        return max(self.num_classes, 1)

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Classifier-free guidance: eps = eps_u + w (eps_c - eps_u); one pass when w is 1 or there are no classes."""
        y = labels if labels is not None else torch.zeros(len(x), dtype=torch.long, device=x.device)
        null = torch.full_like(y, self.null_class)
        if self.guidance == 1.0 or self.num_classes == 0:
            return self(x, t, y if self.num_classes else null)
        cond, uncond = self(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null])).chunk(2)
        return uncond + self.guidance * (cond - uncond)
