"""DDPM reproduction: a small U-Net trained with the DDPM noise-prediction objective, sampled with 50 DDIM steps."""
from reproductions.ddpm.train import Config, Trainer

PAPERS: list[str] = ["10.48550/arxiv.2006.11239", "10.48550/arxiv.2010.02502"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Trainer"]
