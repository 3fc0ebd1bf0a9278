"""pix2pix PatchGAN discriminator, default config and training step (lambda_L1 = 100, Adam 2e-4, beta1 0.5)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, reduce_grads, requires_grad
from zoo.archs.pix2pix import bicubic_degrade
from zoo.base import from_uint8
from zoo.archs import arch_default


@dataclass
class Config:
    """pix2pix hyper-parameters from the paper; input is the 14x14 bicubic version upsampled back to 28x28."""

    epochs: int = 15
    batch_size: int = 32
    base: int = arch_default("pix2pix", "base")
    d_base: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    l1_weight: float = 100.0
    input_resolution: int = 14
    lowres_input: bool = False  # True: the generator takes the input_resolution image itself (and upsamples it)
    depth: int = arch_default("pix2pix", "depth")


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (input, output) pair -> 7x7 real/fake logits, each over a ~16-pixel patch."""

    def __init__(self, channels: int, base: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, base, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False), nn.InstanceNorm2d(2 * base, affine=True), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * base, 1, 3, 1, 1),
        )

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if source.shape[-1] != target.shape[-1]:
            source = F.interpolate(source, size=target.shape[-2:], mode="bicubic", align_corners=False)
        return self.net(torch.cat([source, target], 1))


def init_normal(module: nn.Module) -> None:
    """The pix2pix/CycleGAN initialisation: convolution weights N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Trainer(BaseTrainer):
    """Conditional GAN on (degraded, original) pairs made from the real train split."""

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        kw = {"base": cfg["base"]}
        if cfg.get("depth", 2) != 2 or cfg.get("lowres_input"):
            kw["depth"] = cfg["depth"]
        if cfg.get("lowres_input"):
            kw["input_size"] = cfg["input_resolution"]
        self.g = self.build_generator("pix2pix", kw)
        self.d = PatchDiscriminator(info.channels, cfg["d_base"]).to(device)
        init_normal(self.g)
        init_normal(self.d)
        betas = (cfg["beta1"], 0.999)
        self.modules = {"g": self.g, "d": self.d}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr"], betas=betas),
        }

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        r = self.cfg["input_resolution"]
        if self.cfg.get("lowres_input"):
            low = F.interpolate(images.float(), size=(r, r), mode="bicubic", align_corners=False, antialias=True)
            source = from_uint8(low.clamp(0, 255).round().to(torch.uint8))
        else:
            source = from_uint8(bicubic_degrade(images, r))
        return {"source": source, "target": from_uint8(images)}

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        src, tgt = batch["source"], batch["target"]
        fake = self.g(src)
        d_real, d_fake = self.d(src, tgt), self.d(src, fake.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        d_out = self.d(src, fake)
        loss_adv = F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out))
        loss_l1 = F.l1_loss(fake, tgt)
        loss_g = loss_adv + self.cfg["l1_weight"] * loss_l1
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        return {"loss_d": loss_d.item(), "loss_g_adv": loss_adv.item(), "l1": loss_l1.item()}

    def exports(self) -> list[Export]:
        r, out = self.cfg["input_resolution"], self.info.resolution
        if self.cfg.get("lowres_input"):
            extra = {"input_resolution": r, "input": f"the {r}x{r} image itself (e.g. antialiased bicubic downsampling of a {out}x{out} image)"}
        else:
            extra = {"input_resolution": r, "input": f"{r}x{r} image (antialiased bicubic downsampling) bicubic-upsampled to {out}x{out}; see zoo.archs.pix2pix.bicubic_degrade"}
        return [Export(f"_sr{r}", "super-resolution", self.g, f"pix2pix U-Net: {r}x{r} -> {out}x{out} super-resolution of chest X-rays", extra)]
