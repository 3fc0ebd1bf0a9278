"""CycleGAN reproduction: unpaired normal <-> pneumonia chest X-ray translation with two generators."""
from reproductions.cyclegan.train import Config, Trainer

PAPERS: list[str] = ["10.48550/arxiv.1703.10593", "10.1038/s41598-019-52737-x"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Trainer"]
