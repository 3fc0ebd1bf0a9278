"""DCGAN reproduction: unconditional synthesis with a BatchNorm convolutional GAN and the non-saturating loss."""
from reproductions.dcgan.train import Config, Discriminator, Trainer

PAPERS: list[str] = ["10.48550/arxiv.1511.06434", "10.1016/j.neucom.2018.09.013", "10.48550/arxiv.1801.02385"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "Discriminator", "Trainer"]
