"""PGGAN reproduction: progressive growing 7 -> 14 -> 28 with fade-in, WGAN-GP loss, minibatch stddev, EMA."""
from reproductions.pggan.train import Config, Discriminator, Trainer, schedule

PAPERS: list[str] = ["10.48550/arxiv.1710.10196", "10.48550/arxiv.1903.12564", "10.1109/access.2019.2947606", "10.1007/s42979-021-00720-7"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Discriminator", "Trainer", "schedule"]
