"""Diffusion models are diffusers models: a loaded DDPM (unconditional or class-conditional) gives a `DDPMPipeline`
whose U-Net computes exactly what the zoo model's does, whose scheduler is the training one, and which saves and loads
in diffusers' layout; the exported folder itself holds the weights once."""
from __future__ import annotations

import pytest
import torch

from tests.test_reproductions import tiny_train
from reproductions.common.export import export_run
from zoo.folder import load_folder


@pytest.mark.parametrize("family", ["ddpm", "ddpm_cfg"])
def test_diffusion_model_is_a_diffusers_pipeline(tmp_path, family):
    from diffusers import DDIMScheduler, DDPMPipeline

    run = tiny_train(family, tmp_path / "run")
    (folder,) = export_run(run, tmp_path / "models")
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".safetensors") == ["model.safetensors"]
    assert not (folder / "unet").exists()
    model = load_folder(folder)
    model.pipeline().save_pretrained(tmp_path / "pipe")
    pipe = DDPMPipeline.from_pretrained(tmp_path / "pipe")
    assert pipe.scheduler.config.num_train_timesteps == model.timesteps
    assert pipe.scheduler.config.beta_schedule == model.beta_schedule
    r = model.resolution
    x = torch.randn(2, 1, r, r, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([10, 500])
    y = torch.tensor([0, 1]) if family == "ddpm_cfg" else None
    with torch.no_grad():
        ours = model(x, t, y)
        theirs = pipe.unet.float()(x, t, class_labels=y).sample
    assert torch.allclose(ours, theirs, atol=1e-4)
    # a user's own sampling loop with diffusers' scheduler gives the zoo model's images
    model.sample_steps = 4
    sched = DDIMScheduler.from_config(pipe.scheduler.config)
    sched.set_timesteps(4)
    assert sched.timesteps.tolist() == model.sample_scheduler().timesteps.tolist()
