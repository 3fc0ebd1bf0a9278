"""ACGAN reproduction: class-conditional synthesis; the discriminator also classifies (auxiliary classifier)."""
from reproductions.acgan.train import Config, Trainer

PAPERS: list[str] = ["10.48550/arxiv.1610.09585", "10.1109/access.2020.2994762"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Trainer"]
