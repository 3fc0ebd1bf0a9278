"""pix2pix reproduction: paired 14x14 -> 28x28 super-resolution of chest X-rays; U-Net, PatchGAN, L1 + adversarial."""
from reproductions.pix2pix.train import Config, PatchDiscriminator, Trainer, init_normal

PAPERS: list[str] = ["10.48550/arxiv.1611.07004"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "PatchDiscriminator", "Trainer", "init_normal"]
