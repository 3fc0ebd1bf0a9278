"""Paired image metrics: mean SSIM and PSNR of uint8 outputs against their real targets (scikit-image)."""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0  # dB, for an output identical to its target (PSNR is infinite there)


def ssim_psnr(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean per-image SSIM (7x7 window, data range 255) and PSNR (dB, capped at PSNR_CAP) of uint8 (N, C, H, W) pairs."""
    if output.dtype != torch.uint8 or target.dtype != torch.uint8:
        raise TypeError(f"SSIM/PSNR take uint8 images, got {output.dtype} and {target.dtype}")
    if output.shape != target.shape:
        raise ValueError(f"outputs {tuple(output.shape)} and targets {tuple(target.shape)} differ in shape")
    a = output.permute(0, 2, 3, 1).numpy()
    b = target.permute(0, 2, 3, 1).numpy()
    ssim, psnr = [], []
    for x, y in zip(a, b):
        ssim.append(structural_similarity(x, y, data_range=255, channel_axis=2))
        psnr.append(PSNR_CAP if np.array_equal(x, y) else min(PSNR_CAP, peak_signal_noise_ratio(y, x, data_range=255)))
    return {"ssim": float(np.mean(ssim)), "psnr": float(np.mean(psnr))}
