"""DDPM (Ho et al. 2020) on diffusers: a `UNet2DModel` noise predictor trained with diffusers' `DDPMScheduler` and
sampled deterministically with its `DDIMScheduler` (Song et al. 2021) or `DPMSolverMultistepScheduler`. A loaded
model is also a `diffusers.DDPMPipeline` (`model.pipeline()`)."""
from __future__ import annotations

import warnings
from typing import Sequence

import torch

from zoo.archs import register_arch
from zoo.base import GenerativeModel, check_resolution

SAMPLERS = ("ddim", "dpm-solver")
PRECISIONS = ("float32", "bfloat16", "auto")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 natively (a CUDA GPU with bf16, a CPU with AVX-512/AMX through oneDNN); elsewhere (an
    AVX2-only CPU) bf16 autocast is emulated and several times slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@register_arch("ddpm")
class DDPMModel(GenerativeModel):
    """Unconditional DDPM. arch_kwargs: widths ([32, 64, 64]), attention_levels ([2]: self-attention in the lowest
    level), layers_per_block (1), timesteps (1000), beta_schedule ("linear": 1e-4 to 0.02, the paper's), sample_steps
    (50), sampler ("ddim"), precision ("float32"; "bfloat16": the U-Net runs under bf16 autocast, as it was trained,
2.9x faster on a CPU with AMX (bench/ddpm_diffusers.py) but many times slower on an AVX2-only CPU; "auto": bfloat16
where the device runs it natively, float32 elsewhere). `sample_steps`, `sampler` and `precision` can be changed on a
loaded model (speed against quality)."""

    task = "synthesis"
    resolutions = (28, 32, 64, 128)
    inference_channels_last = False  # GroupNorm/attention U-Net measured slower in channels_last on CPU (bench/generation.py)

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, widths: Sequence[int] = (32, 64, 64),
                 attention_levels: Sequence[int] = (2,), layers_per_block: int = 1, timesteps: int = 1000,
                 beta_schedule: str = "linear", sample_steps: int = 50, sampler: str = "ddim",
                 precision: str = "float32") -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        from diffusers import UNet2DModel

        widths = [int(w) for w in widths]
        attn = {int(i) for i in attention_levels}
        self.timesteps, self.beta_schedule = timesteps, beta_schedule
        self.sample_steps, self.sampler, self.precision = sample_steps, sampler, precision
        self.noise_shape = (self.channels, self.resolution, self.resolution)
        self.unet = UNet2DModel(
            sample_size=self.resolution, in_channels=self.channels, out_channels=self.channels,
            layers_per_block=layers_per_block, block_out_channels=tuple(widths), norm_num_groups=8,
            down_block_types=tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(len(widths))),
            up_block_types=tuple("AttnUpBlock2D" if len(widths) - 1 - i in attn else "UpBlock2D" for i in range(len(widths))),
            num_class_embeds=self.class_embeds(),
        )

    def class_embeds(self) -> int | None:
        """Rows of the U-Net's class-embedding table (None: unconditional)."""
        return None

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise in x_t at timesteps t (for class labels, in conditional subclasses)."""
        return self.unet(x, t, class_labels=labels).sample

    def predict_noise(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The noise estimate one sampling step uses (subclasses add guidance)."""
        return self(x, t)

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
        """Images from Gaussian noise z, `sample_steps` steps of the sampling scheduler."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        sched = self.sample_scheduler()
        bf16 = self.precision == "bfloat16" or (self.precision == "auto" and native_bf16(z.device))
        if bf16 and not native_bf16(z.device):
            warnings.warn(f"bf16 sampling on {z.device.type} without native bf16 is emulated and many times slower than "
                          "float32: set model.precision = 'auto' (or 'float32')", stacklevel=2)
        x = z
        for t in sched.timesteps:
            tt = torch.full((len(x),), int(t), device=x.device, dtype=torch.long)
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                eps = self.predict_noise(x, tt, labels)
            x = sched.step(eps.float(), t, x).prev_sample  # the scheduler's arithmetic stays in float32
        return x.clamp(-1, 1)

    def pipeline(self):  # noqa: ANN201
        """This model as a `diffusers.DDPMPipeline` (its U-Net and training scheduler, sharing the weights), for
        diffusers' own sampling loops; `.save_pretrained(dir)` writes diffusers' folder layout. Built on demand so that a
        model folder holds its weights once."""
        from diffusers import DDPMPipeline

        return DDPMPipeline(unet=self.unet, scheduler=self.train_scheduler())
