"""ResNet-18 adapted to 28x28 images (3x3 stem, no max-pool): medzoo's feature extractor and evaluation classifier."""
from __future__ import annotations

from typing import Any, Sequence

import timm
import torch
from torch import nn

from zoo.archs import register_arch

RESNET18_WIDTHS = (64, 128, 256, 512)


def resnet18_28(num_classes: int, widths: Sequence[int] = RESNET18_WIDTHS, stem_stride: int = 1) -> nn.Module:
    """timm resnet18 for 3-channel 28x28 input: 3x3 stem conv (stride `stem_stride`), no max-pool; 0 classes: pooled features."""
    net = timm.create_model("resnet18", pretrained=False, num_classes=num_classes, in_chans=3, channels=tuple(int(w) for w in widths))
    net.conv1 = nn.Conv2d(3, net.bn1.num_features, 3, int(stem_stride), 1, bias=False)
    net.maxpool = nn.Identity()
    return net


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 1 or 3, H, W) as network input: 3 channels (grayscale repeated), floats in [-1, 1]."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (N, C, H, W), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, 1 or 3, H, W), got {tuple(images.shape)}")
    return images.expand(-1, 3, -1, -1).float() / 127.5 - 1


@register_arch("resnet18_28")
class ResNet18Features(nn.Module):
    """Pooled ResNet-18 features of 28x28 images, with the classification head it was trained with.

    arch_kwargs: widths of the four stages (64, 128, 256, 512: a 512-d feature) and stem_stride (1).
    """

    task = "feature-extraction"

    def __init__(self, channels: int = 3, resolution: int = 28, num_classes: int = 0,
                 widths: Sequence[int] = RESNET18_WIDTHS, stem_stride: int = 1) -> None:
        super().__init__()
        self.channels, self.resolution, self.num_classes = channels, resolution, int(num_classes or 0)
        if self.resolution != 28 or self.channels != 3:
            raise ValueError(f"{self.arch_name} takes 3-channel 28x28 input, config says {self.channels} x {self.resolution}")
        widths = tuple(int(w) for w in widths)
        self.config: dict[str, Any] = {"arch": self.arch_name, "channels": channels, "resolution": resolution,
                                       "num_classes": self.num_classes, "arch_kwargs": {"widths": list(widths), "stem_stride": stem_stride}}
        self.dim = widths[-1]
        self.body = resnet18_28(0, widths, stem_stride)
        self.head = nn.Linear(self.dim, self.num_classes) if self.num_classes else nn.Identity()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ResNet18Features":
        """The extractor a config.json describes (typed arch_kwargs), keeping the file's other facts in `config`."""
        model = cls(config["channels"], config["resolution"], config.get("num_classes") or 0, **config.get("arch_kwargs", {}))
        model.config = {**config, "arch_kwargs": model.config["arch_kwargs"]}
        return model

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of network input `x` (see `as_input`)."""
        return self.head(self.body(x))

    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """(N, dim) float features of uint8 images (N, 1 or 3, 28, 28)."""
        if images.ndim != 4 or images.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"{self.arch_name} features need {self.resolution}x{self.resolution} images, got {tuple(images.shape)}")
        with torch.inference_mode():
            return torch.cat([self.body(as_input(images[i : i + batch_size]).to(self.device)).float().cpu()
                              for i in range(0, len(images), batch_size)])
