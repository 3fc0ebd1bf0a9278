"""Class-conditional DDPM on diffusers (Ho et al. 2020; classifier-free guidance, Ho & Salimans 2022): a diffusers
`UNet2DModel` with class embeddings (the last class index is the "no class" token), trained with diffusers'
`DDPMScheduler` and sampled with its `DDIMScheduler` or `DPMSolverMultistepScheduler`."""
from __future__ import annotations

from typing import Sequence

import torch

from zoo.archs import register_arch
from zoo.base import GenerativeModel, check_resolution

SAMPLERS = ("ddim", "dpm-solver")


@register_arch("ddpm_cfg")
class ClassConditionalDDPM(GenerativeModel):
    """arch_kwargs: widths ([32, 64, 128, 128]), attention_levels ([2]), timesteps (1000), beta_schedule
    ("squaredcos_cap_v2"), sample_steps (50), sampler ("ddim"), guidance (2.0). `sample_steps`, `sampler` and
    `guidance` can be changed on a loaded model (speed against quality)."""

    task = "synthesis"
    resolutions = (32, 64, 128)
    inference_channels_last = False

    def __init__(self, channels: int = 1, resolution: int = 64, num_classes: int = 0, widths: Sequence[int] = (32, 64, 128, 128),
                 attention_levels: Sequence[int] = (2,), timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2",
                 sample_steps: int = 50, sampler: str = "ddim", guidance: float = 2.0) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        from diffusers import UNet2DModel

        widths = [int(w) for w in widths]
        attn = {int(i) for i in attention_levels}
        self.timesteps, self.beta_schedule = timesteps, beta_schedule
        self.sample_steps, self.sampler, self.guidance = sample_steps, sampler, guidance
        self.noise_shape = (self.channels, self.resolution, self.resolution)
        self.unet = UNet2DModel(
            sample_size=self.resolution, in_channels=self.channels, out_channels=self.channels, layers_per_block=1,
            block_out_channels=tuple(widths), norm_num_groups=8,
            down_block_types=tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(len(widths))),
            up_block_types=tuple("AttnUpBlock2D" if len(widths) - 1 - i in attn else "UpBlock2D" for i in range(len(widths))),
            num_class_embeds=max(self.num_classes, 1) + 1,
        )

    def pipeline_files(self) -> dict[str, bytes]:
        """The same weights in diffusers' layout (model_index.json, unet/, scheduler/), saved beside the medzoo files so
        that `diffusers.DDPMPipeline.from_pretrained(folder)` loads the U-Net and its training scheduler."""
        import copy
        import json
        import tempfile
        from pathlib import Path

        import diffusers

        with tempfile.TemporaryDirectory() as tmp:
            copy.deepcopy(self.unet).to(torch.float16).save_pretrained(Path(tmp) / "unet", safe_serialization=True)
            self.train_scheduler().save_pretrained(Path(tmp) / "scheduler")
            files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}
        index = {"_class_name": "DDPMPipeline", "_diffusers_version": diffusers.__version__,
                 "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"]}
        files["model_index.json"] = (json.dumps(index, indent=2) + "\n").encode()
        return files

    @property
    def null_class(self) -> int:
        return max(self.num_classes, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Predicted noise in x_t at timesteps t for class labels (null_class: unconditional)."""
        return self.unet(x, t, class_labels=labels).sample

    def train_scheduler(self):  # noqa: ANN201
        """The diffusers DDPMScheduler the model is trained with."""
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=self.timesteps, beta_schedule=self.beta_schedule)

    def sample_scheduler(self):  # noqa: ANN201
        """The sampling scheduler (`sampler`) at `sample_steps` steps, deterministic (DDIM eta 0)."""
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        cls = DDIMScheduler if self.sampler == "ddim" else DPMSolverMultistepScheduler
        sched = cls.from_config(self.train_scheduler().config)
        sched.set_timesteps(self.sample_steps)
        return sched

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images from Gaussian noise z with classifier-free guidance: eps = eps_u + w (eps_c - eps_u)."""
        y = labels if labels is not None else torch.zeros(len(z), dtype=torch.long, device=z.device)
        null = torch.full_like(y, self.null_class)
        sched = self.sample_scheduler()
        x = z
        for t in sched.timesteps:
            tt = torch.full((len(x),), int(t), device=x.device, dtype=torch.long)
            if self.guidance == 1.0 or self.num_classes == 0:
                eps = self(x, tt, y if self.num_classes else null)
            else:
                e = self(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null]))
                cond, uncond = e.chunk(2)
                eps = uncond + self.guidance * (cond - uncond)
            x = sched.step(eps, t, x).prev_sample
        return x.clamp(-1, 1)
