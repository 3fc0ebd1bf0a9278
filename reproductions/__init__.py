"""Reproductions: training code for the zoo's GAN and diffusion families on real MedMNIST images."""

FAMILIES: tuple[str, ...] = ("dcgan", "acgan", "wgan_gp", "diffaugment", "pggan", "pix2pix", "cyclegan", "ddpm", "fastgan", "spade", "ddpm_cfg")
