"""Architecture pieces whose maths can be checked without training: DDIM, progressive growing, augmentation."""
from __future__ import annotations

import pytest
import torch

from reproductions.diffaugment.augment import diff_augment
from reproductions.pggan.train import Discriminator as PGDiscriminator, schedule
from zoo.archs import get_arch
from zoo.archs.pix2pix import bicubic_degrade


def config(arch: str, channels: int = 1, num_classes: int = 0, **arch_kwargs) -> dict:
    return {"arch": arch, "arch_kwargs": arch_kwargs, "channels": channels, "resolution": 28, "num_classes": num_classes}


def test_ddim_with_an_oracle_denoiser_returns_the_target_image():
    model = get_arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=20)).eval()
    target = torch.rand(2, 1, 28, 28) * 2 - 1
    alphas = model.train_scheduler().alphas_cumprod

    def oracle(x, t, labels=None):
        a = alphas[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * target) / (1 - a).sqrt()

    model.forward = oracle
    for sampler in ("ddim", "dpm-solver"):
        model.sampler = sampler
        out = model.sample(torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)), None)
        assert torch.allclose(out, target, atol=1e-3), sampler


def test_ddpm_trains_on_the_papers_linear_schedule_from_image_to_noise():
    model = get_arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16]))
    sched = model.train_scheduler()
    assert abs(sched.betas[0] - 1e-4) < 1e-9 and abs(sched.betas[-1] - 0.02) < 1e-7 and len(sched.betas) == 1000
    x0, noise = torch.ones(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    assert torch.allclose(sched.add_noise(x0, noise, torch.tensor([0])), x0, atol=1e-4)
    assert sched.add_noise(x0, noise, torch.tensor([999])).abs().max() < 0.01
    assert model(torch.randn(2, 1, 28, 28), torch.tensor([3, 900])).shape == (2, 1, 28, 28)


def test_pggan_grows_7_14_28_and_fades_in_continuously():
    g = get_arch("pggan").from_config(config("pggan", widths=[16, 16, 8])).eval()
    d = PGDiscriminator(1, (16, 16, 8))
    z = torch.randn(3, 128)
    with torch.no_grad():
        for stage, size in enumerate((7, 14, 28)):
            img = g(z, stage)
            assert img.shape == (3, 1, size, size)
            assert d(img, stage).shape == (3, 1)
        low = torch.nn.functional.interpolate(g(z, 1), scale_factor=2, mode="nearest")
        assert torch.allclose(g(z, 2, alpha=0.0), low, atol=1e-5)
    assert schedule(0, 100, 3) == (0, 1.0) and schedule(99, 100, 3) == (2, 1.0)
    stages = [schedule(s, 100, 3) for s in range(100)]
    assert [s for s, _ in stages] == sorted(s for s, _ in stages)


def test_bicubic_degrade_keeps_shape_and_removes_detail():
    images = (torch.arange(28 * 28).reshape(1, 1, 28, 28) % 2 * 255).to(torch.uint8)
    out = bicubic_degrade(images, 14)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert out.float().std() < images.float().std() / 4
    flat = torch.full((2, 3, 28, 28), 100, dtype=torch.uint8)
    assert torch.equal(bicubic_degrade(flat, 14), flat)


def test_diffaugment_is_differentiable_and_seeded():
    x = torch.rand(4, 3, 28, 28, requires_grad=True)
    a = diff_augment(x, torch.Generator().manual_seed(1))
    b = diff_augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_conditional_generator_obeys_labels():
    model = get_arch("acgan").from_config(config("acgan", channels=3, num_classes=5, base=8)).eval()
    a = model.generate(5, labels=[0, 1, 2, 3, 4], seed=0)
    b = model.generate(5, labels=[0, 1, 2, 3, 3], seed=0)
    assert torch.equal(a[:4], b[:4]) and not torch.equal(a[4], b[4])


def test_sampling_settings_changed_on_a_loaded_model_take_effect():
    """The fast inference copy is cached; a changed number of steps or sampler must still reach it."""
    from zoo.archs import get_arch as arch

    model = arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=2)).eval()
    first = model.generate(2, seed=0)
    model.sample_steps, model.sampler = 4, "dpm-solver"
    changed = model.generate(2, seed=0)
    fresh = arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=4, sampler="dpm-solver")).eval()
    fresh.load_state_dict(model.state_dict())
    assert not torch.equal(first, changed) and torch.equal(changed, fresh.generate(2, seed=0))


def test_ddpm_precision_is_a_sampling_setting():
    """bf16 sampling (autocast around the U-Net only) is deterministic, close to fp32, and a bad value is refused."""
    from zoo.archs import get_arch as arch

    model = arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=3)).eval()
    fp32 = model.generate(4, seed=0).int()
    model.precision = "bfloat16"
    bf16 = model.generate(4, seed=0)
    assert torch.equal(bf16, model.generate(4, seed=0)) and bf16.dtype == torch.uint8
    assert 0 < (bf16.int() - fp32).abs().float().mean() < 8
    model.precision = "float16"
    with pytest.raises(ValueError, match="precision must be one of"):
        model.generate(1, seed=0)


@pytest.mark.parametrize("native", [True, False])
def test_ddpm_auto_precision_is_bf16_only_where_the_device_runs_it_natively(native, monkeypatch):
    """"auto" samples exactly as "bfloat16" on hardware with native bf16 and exactly as "float32" elsewhere (emulated
    bf16 on an AVX2-only CPU is many times slower)."""
    import zoo.archs.ddpm as ddpm
    from zoo.archs import get_arch as arch

    monkeypatch.setattr(ddpm, "native_bf16", lambda device: native)
    model = arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=3)).eval()
    model.precision = "bfloat16" if native else "float32"
    expected = model.generate(2, seed=0)
    model.precision = "auto"
    assert torch.equal(model.generate(2, seed=0), expected)


def test_ddpm_warns_when_bf16_would_be_emulated(monkeypatch):
    import zoo.archs.ddpm as ddpm
    from zoo.archs import get_arch as arch

    monkeypatch.setattr(ddpm, "native_bf16", lambda device: False)
    model = arch("ddpm").from_config(config("ddpm", widths=[8, 16, 16], sample_steps=2, precision="bfloat16")).eval()
    with pytest.warns(UserWarning, match="precision = 'auto'"):
        model.generate(1, seed=0)
