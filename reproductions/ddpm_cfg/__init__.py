"""Class-conditional DDPM reproduction on diffusers, with classifier-free guidance and DDIM / DPM-Solver sampling."""
from reproductions.ddpm_cfg.train import Config, Trainer

PAPERS: list[str] = ["10.48550/arxiv.2006.11239", "10.48550/arxiv.2010.02502"]  # DDPM, DDIM (lower case, as the catalog)

__all__ = ["PAPERS", "Config", "Trainer"]
