"""Every model in the shipped registry (zoo/models.json) loads offline through zoo.load and does its job."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.registry import entries

SHIPPED = sorted(entries())


@pytest.mark.parametrize("model_id", SHIPPED)
def test_every_shipped_model_loads_and_runs(model_id, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = zoo.get(model_id)
    model = zoo.load(model_id)
    assert model.resolution == entry.resolution and model.channels == entry.channels
    r = entry.resolution
    if entry.task == "feature-extraction":
        feats = model.features(torch.randint(0, 256, (2, entry.channels, r, r), dtype=torch.uint8))
        assert feats.shape[0] == 2 and torch.isfinite(feats).all()
    elif model.task == "synthesis":
        if hasattr(model, "sample_steps"):  # a diffusion model: few steps, bf16 only where native (the path, not speed)
            model.sample_steps, model.precision = min(model.sample_steps, 3), "auto"
        out = model.generate(2, seed=0)
        images = out[0] if isinstance(out, tuple) else out
        assert images.shape == (2, entry.channels, r, r) and images.dtype == torch.uint8
        again = model.generate(2, seed=0)
        assert torch.equal(images, again[0] if isinstance(again, tuple) else again)
        assert images.float().std() > 1  # not a constant image
    else:
        size = int(getattr(model, "input_size", r))
        x = torch.randint(0, 256, (2, entry.channels, size, size), dtype=torch.uint8)
        assert model.translate(x).shape == (2, entry.channels, r, r)


def test_the_shipped_registry_is_not_empty():
    assert len(SHIPPED) >= 12
