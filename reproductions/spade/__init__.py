"""SPADE reproduction: image + lesion-mask pair synthesis (spatially-adaptive normalisation from the mask layout)."""
from reproductions.spade.train import Config, PatchDiscriminator, Trainer

PAPERS: list[str] = ["10.1109/cvpr.2019.00244"]  # DOIs, lower case as catalog/data/papers stores them

__all__ = ["PAPERS", "Config", "PatchDiscriminator", "Trainer"]
