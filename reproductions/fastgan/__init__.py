"""FastGAN reproduction: few-shot synthesis at 64-256 px (skip-layer excitation, DiffAugment, hinge loss)."""
from reproductions.fastgan.train import Config, Discriminator, Trainer

PAPERS: list[str] = ["10.48550/arxiv.2101.04775"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Discriminator", "Trainer"]
