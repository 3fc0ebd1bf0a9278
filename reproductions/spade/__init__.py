"""SPADE reproduction: image + lesion-mask pair synthesis (spatially-adaptive normalisation from the mask layout)."""
from reproductions.spade.train import Config, PatchDiscriminator, Trainer

PAPERS: list[str] = []  # DOIs, lower case as catalog/data/papers stores them (the SPADE paper is being added)

__all__ = ["PAPERS", "Config", "PatchDiscriminator", "Trainer"]
