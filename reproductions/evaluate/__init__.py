"""Evaluation: one protocol for every zoo model (FID/KID/precision/recall, CAS, SSIM/PSNR) and the utility study."""
