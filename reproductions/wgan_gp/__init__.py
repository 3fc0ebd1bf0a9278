"""WGAN-GP reproduction: Wasserstein loss with a gradient penalty on a critic without normalisation layers."""
from reproductions.wgan_gp.train import Config, Trainer, gradient_penalty

PAPERS: list[str] = ["10.48550/arxiv.1704.00028"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Trainer", "gradient_penalty"]
