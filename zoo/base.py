"""Base class of every zoo model: built from a config dict, generates or translates uint8 images."""
from __future__ import annotations

import copy
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from zoo.errors import InputError, WrongTaskError


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map model output in [-1, 1] to uint8 pixels in [0, 255]."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels (N, C, H, W) to floats in [-1, 1]."""
    if images.dtype != torch.uint8:
        raise WrongTaskError(f"images must be uint8 (N, C, H, W), got dtype {images.dtype}")
    return images.float() / 127.5 - 1


def batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel of a BatchNorm in eval mode: bn(x) == x * scale + shift."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach(), shift.detach()


def _fold_into_conv(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    scale, shift = batchnorm_affine(bn)
    w = conv.weight.detach()
    w = w * (scale.view(1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else scale.view(-1, 1, 1, 1))
    bias = shift if conv.bias is None else conv.bias.detach() * scale + shift
    conv.weight = nn.Parameter(w, requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d / ConvTranspose2d in an nn.Sequential into that
    convolution (in place), and call `fold_batchnorm()` of submodules that know their own pattern (DCGANBody)."""
    for sub in list(module.modules()):
        own = getattr(sub, "fold_batchnorm", None)
        if callable(own):
            own()
        if not isinstance(sub, nn.Sequential):
            continue
        names = list(sub._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = sub._modules[a], sub._modules[b]
            if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.groups == 1 and isinstance(bn, nn.BatchNorm2d)
                    and bn.track_running_stats and bn.running_var is not None and not bn.training):
                _fold_into_conv(conv, bn)
                sub._modules[b] = nn.Identity()
    return module


BASE_ARGUMENTS = ("channels", "resolution", "num_classes")


def _records_arguments(cls: type, init: Any) -> Any:
    """Wrap an architecture's __init__ so that, for the class being built, its other arguments land in config."""
    import functools
    import inspect

    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: "GenerativeModel", *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is wrapped:  # the class being built uses this constructor (itself or inherited)
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arch_kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in bound.arguments.items()
                           if k != "self" and k not in BASE_ARGUMENTS}
            self.config = {**self.config, "arch": self.arch_name, "arch_kwargs": arch_kwargs}

    return wrapped


def check_resolution(model: "GenerativeModel") -> None:
    """Refuse a config whose resolution the architecture was not built for (its `resolutions`)."""
    if model.resolution not in model.resolutions:
        allowed = ", ".join(str(r) for r in model.resolutions)
        raise ValueError(f"{model.arch_name} is built for {allowed} px images, config says {model.resolution}")


class GenerativeModel(nn.Module):
    """A zoo model. Subclasses take typed keyword arguments, set `noise_shape` and implement `sample` (synthesis) or
    `forward` (translation).

    `config` is what config.json holds: channels, resolution, num_classes and `arch_kwargs`, the subclass's other
    constructor arguments (recorded automatically), so `from_config` rebuilds the module before its weights load.
    """

    arch_name: str = ""
    task: str = "synthesis"  # "synthesis" or "translation"
    noise_shape: tuple[int, ...] = ()
    resolutions: tuple[int, ...] = (28,)  # image sizes the architecture is built for (check_resolution)
    # generate/translate run a prepared copy (BatchNorm folded into convolutions, channels_last weights), which
    # bench/generation.py measured faster on CPU; an arch where channels_last measured slower turns it off
    inference_channels_last: bool = True
    # on CPU a forward pass takes at most this many images: larger batches measured slower per image (their
    # activations leave the CPU caches; bench/generation.py), so a larger batch_size only sets what is returned at once
    cpu_forward_batch: int = 64

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0) -> None:
        super().__init__()
        self.channels, self.resolution, self.num_classes = int(channels), int(resolution), int(num_classes or 0)
        self.config: dict[str, Any] = {"arch": self.arch_name, "channels": self.channels, "resolution": self.resolution,
                                       "num_classes": self.num_classes, "arch_kwargs": {}}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Record the typed constructor arguments of every architecture as config["arch_kwargs"] (as diffusers'
        register_to_config does), so config.json is written from the signature and rebuilds the same module."""
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _records_arguments(cls, cls.__dict__["__init__"])

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "GenerativeModel":
        """The module a config.json describes: channels, resolution, num_classes and the typed `arch_kwargs`."""
        model = cls(channels=config["channels"], resolution=config["resolution"], num_classes=config.get("num_classes") or 0,
                    **config.get("arch_kwargs", {}))
        model.config = {**config, "arch_kwargs": model.config["arch_kwargs"]}
        return model

    @staticmethod
    def upgrade_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Tensor names of an older saved version mapped to this version's (identity unless an arch renamed some)."""
        return state

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _state_key(self) -> tuple:
        """Changes whenever a parameter or buffer is replaced, moved or updated in place (optimizer step, load)."""
        return (self.training, tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in (*self.parameters(), *self.buffers())))

    def _settings(self) -> dict[str, Any]:
        """Plain attributes that steer sampling and can be changed on a loaded model (e.g. `sample_steps`, `sampler`,
        `guidance`): every public attribute that is not a module, tensor or the config."""
        return {k: v for k, v in self.__dict__.items()
                if not k.startswith("_") and k not in ("training", "config") and not isinstance(v, (nn.Module, torch.Tensor))}

    def inference_module(self) -> "GenerativeModel":
        """A copy of this model prepared for fast inference, rebuilt when the weights change: eval mode, BatchNorm
        folded into the preceding convolution, channels_last memory format (conv models). Same images per seed."""
        cached = self.__dict__.get("_inference_cache")
        key = self._state_key()
        if cached is not None and cached[0] == key:
            cached[1].__dict__.update(self._settings())  # sampling settings changed since the copy (steps, sampler, ...)
            return cached[1]
        self.__dict__.pop("_inference_cache", None)  # never deep-copied into the copy
        fast = copy.deepcopy(self).eval()
        for p in fast.parameters():
            p.requires_grad_(False)
        fold_batchnorm(fast)
        if self.inference_channels_last and any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in fast.modules()):
            fast = fast.to(memory_format=torch.channels_last)
        self.__dict__["_inference_cache"] = (key, fast)  # a plain attribute: not a submodule, not in state_dict
        return fast

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_inference_cache", None)
        return state

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images in [-1, 1], shape (N, C, H, W), from noise `z` (and class labels for conditional models)."""
        raise WrongTaskError(f"{type(self).__name__} is a translation model: use translate(images)")

    def noise(self, n: int, seed: int | None, start: int = 0) -> torch.Tensor:
        """Noise for samples start..start+n-1: sample i depends only on (seed, i), so batching never changes images."""
        if seed is None:
            return torch.randn(n, *self.noise_shape)
        out = torch.empty(n, *self.noise_shape)
        g = torch.Generator()
        for k in range(n):
            g.manual_seed((seed * 1_000_003 + start + k) % (2**63))
            out[k] = torch.randn(self.noise_shape, generator=g)
        return out

    def check_labels(self, n: int, labels: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor | None:
        """Labels as a (n,) long tensor; balanced over classes when None for a conditional model."""
        if self.num_classes == 0:
            if labels is not None:
                raise InputError(f"{self.arch_name} model is unconditional: labels must be None")
            return None
        if labels is None:
            return torch.arange(n) % self.num_classes
        t = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if t.numel() == 1:
            t = t.expand(n).clone()
        if t.numel() != n:
            raise InputError(f"got {t.numel()} labels for n={n} images")
        bad = t[(t < 0) | (t >= self.num_classes)]
        if bad.numel():
            raise InputError(f"label {int(bad[0])} out of range: this model has classes 0..{self.num_classes - 1}")
        return t

    def iter_generate(
        self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None, seed: int | None = None, batch_size: int = 256
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Yield (uint8 images, labels) batches: the streaming form of `generate` for large n."""
        if self.task != "synthesis":
            raise WrongTaskError(f"{self.arch_name} model translates images: use translate(images)")
        if int(n) <= 0:
            raise InputError(f"n must be a positive number of images, got {n}")
        if int(batch_size) <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        y_all = self.check_labels(n, labels)
        model = self.inference_module() if not self.training else self
        # On CPU the forward passes cover fixed spans of sample indices (cpu_forward_batch), whatever batch_size is:
        # a multi-threaded convolution's rounding can depend on its batch, so batching must not decide the spans.
        step = self.cpu_forward_batch if self.device.type == "cpu" else int(batch_size)
        pending: list[torch.Tensor] = []
        done = 0
        with torch.inference_mode():
            for start in range(0, n, step):
                m = min(step, n - start)
                z = self.noise(m, seed, start).to(self.device)
                y = None if y_all is None else y_all[start : start + m].to(self.device)
                pending.append(to_uint8(model.sample(z, y)).cpu())
                while sum(len(p) for p in pending) >= batch_size or (start + m == n and pending):
                    images = torch.cat(pending)
                    out, rest = images[:batch_size], images[batch_size:]
                    pending = [rest] if len(rest) else []
                    yield out, (None if y_all is None else y_all[done : done + len(out)].clone())
                    done += len(out)

    def generate(
        self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None, seed: int | None = None, batch_size: int = 256
    ) -> torch.Tensor:
        """`n` synthetic images as a uint8 tensor (N, C, H, W); the same seed gives the same images."""
        return torch.cat([x for x, _ in self.iter_generate(n, labels, seed, batch_size)])

    def translate(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Translate uint8 images (N, C, H, W) to the target domain, as uint8."""
        if self.task != "translation":
            raise WrongTaskError(f"{self.arch_name} model generates images: use generate(n)")
        size = int(getattr(self, "input_size", self.resolution))
        if images.ndim != 4 or images.shape[1:] != (self.channels, size, size):
            raise InputError(f"images must have shape (N, {self.channels}, {size}, {size}), got {tuple(images.shape)}")
        if int(batch_size) <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        x = from_uint8(images)
        model = self.inference_module() if not self.training else self
        step = self._forward_batch(batch_size)
        with torch.inference_mode():
            outs = [to_uint8(model(x[i : i + step].to(self.device))).cpu() for i in range(0, len(x), step)]
        return torch.cat(outs)

    def _forward_batch(self, batch_size: int) -> int:
        """Images per forward pass: `batch_size`, capped at `cpu_forward_batch` on CPU."""
        return min(int(batch_size), self.cpu_forward_batch) if self.device.type == "cpu" else int(batch_size)
