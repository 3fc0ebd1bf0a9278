"""DiffAugment reproduction: a DCGAN whose discriminator sees real and fake images through the same random
differentiable augmentations (color, translation, cutout), for training on a few hundred images."""
from reproductions.diffaugment.augment import diff_augment
from reproductions.diffaugment.train import Config, Trainer

PAPERS: list[str] = ["10.48550/arxiv.2006.10738"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Trainer", "diff_augment"]
