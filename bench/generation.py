"""Generation throughput of every zoo model, and how close it comes to the machine's dense-compute limit.

For each model of the registry (zoo/models.json; when it is empty, tiny models trained here for a few steps
on real images, in a private registry) and each batch size, images/s of the public API
(`model.generate(n, seed=0, batch_size=b)`, or `model.translate(images)` for translation models). FLOPs of
one forward are counted with torch.utils.flop_counter.FlopCounterMode; the achieved FLOP/s is compared with
the FLOP/s of a large dense matmul and a large convolution timed in the same repetition (interleaved, so
load from other processes hits both alike). On the batched path, variants are timed side by side: the
module as loaded (eager, inference_mode; what generate() ran before), no_grad instead of inference_mode,
channels_last only, BatchNorm folding + channels_last (what generate() runs now), bf16 autocast, and
torch.compile (with --compile).

--res128 (generation_128.json): the 128 px generators (FastGAN, SPADE with its mask bank, pix2pix 64 -> 128 px) with
the settings of the 128 px runs, at batch 64 and 1024 against the same limit (and a 128 px convolution), a profile of
one call, and the peak memory of streaming images to disk, each count in a fresh process (main_128).

    python bench/generation.py [--batch-sizes 1,64,1024] [--reps 3] [--compile] [--quick]
    python bench/generation.py --res128 [--reps 3] [--mem-images 64,256] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import environment, log, parser, save, summary, table  # noqa: E402

GOAL = 0.5  # achieved / limit on the batched path


def tiny_registry(cache: Path) -> Path:
    """A private registry of tiny real models (tests/zoo_fixtures.py), built once and reused."""
    reg = cache / "models.json"
    if reg.exists():
        return reg
    from tests.zoo_fixtures import build_tiny_zoo

    log(f"zoo registry is empty: training tiny models into {cache} (once)")
    cache.mkdir(parents=True, exist_ok=True)
    return build_tiny_zoo(cache)


def model_ids(args: Any) -> tuple[list[str], str]:
    import zoo

    df = zoo.list_models()
    gen_tasks = ("unconditional-synthesis", "conditional-synthesis", "image-translation", "super-resolution")
    ids = list(df[df.task.isin(gen_tasks)].model_id)  # generators only: feature extractors have no generation path
    source = "registry"
    if not ids:
        cache = Path(args.tiny_cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medzoo" / "bench-tinyzoo")
        os.environ["MEDZOO_REGISTRY"] = str(tiny_registry(cache))
        df = zoo.list_models()
        ids = list(df[df.task.isin(gen_tasks)].model_id)
        source = f"tiny models ({os.environ['MEDZOO_REGISTRY']})"
    if args.models:
        wanted = args.models.split(",")
        ids = [i for i in ids if i in wanted]
    return ids, source


def generator_archs() -> list[str]:
    """Every registered architecture that is a generative model (not a feature extractor)."""
    from zoo.archs import ARCHS, _import_all
    from zoo.base import GenerativeModel

    _import_all()
    return sorted(a for a, cls in ARCHS.items() if issubclass(cls, GenerativeModel))


def load_model(mid: str, device: Any) -> Any:
    """A registry model (zoo.load), or 'arch:<name>': that architecture with its default size and random weights."""
    import zoo

    if not mid.startswith("arch:"):
        return zoo.load(mid, device=device)
    import torch

    from zoo.archs import get_arch

    name = mid.split(":", 1)[1]
    torch.manual_seed(0)
    cls = get_arch(name)
    resolution = 28 if 28 in cls.resolutions else min(cls.resolutions)  # fastgan, spade, ddpm_cfg start at 32-64 px
    config = {"arch": name, "channels": 1, "resolution": resolution, "num_classes": 2 if name in ("acgan", "spade") else 0,
              "arch_kwargs": {}, "dataset": "pneumoniamnist"}
    model = cls.from_config(config).eval()
    if getattr(model, "returns_masks", False):  # SPADE samples its layouts from a bank of masks: a synthetic one
        model.set_bank(*synthetic_masks(32, resolution, model.num_classes))
    return model.to(device)


def synthetic_masks(n: int, resolution: int, num_classes: int) -> tuple[Any, Any]:
    """n lesion-like masks (filled ellipses of random size and place) and balanced labels: a mask bank without data."""
    import torch

    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution), indexing="ij")
    c, r = torch.rand(n, 2, generator=g) - 0.5, 0.15 + 0.3 * torch.rand(n, 2, generator=g)
    masks = (((xx - c[:, :1, None]) / r[:, :1, None]) ** 2 + ((yy - c[:, 1:, None]) / r[:, 1:, None]) ** 2 <= 1)
    return masks[:, None].to(torch.uint8), torch.arange(n) % max(num_classes, 1)


class Limits:
    """The dense-compute reference: a large float32 matmul and a large convolution, FLOPs counted the same way."""

    def __init__(self, device: Any, quick: bool, conv128: bool = False) -> None:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        self.torch = torch
        self.device = device
        n = 512 if quick else 1536
        self.a = torch.randn(n, n, device=device)
        self.b = torch.randn(n, n, device=device)
        c, hw, batch = (32, 14, 4) if quick else (128, 28, 16)
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1).to(device).eval().to(memory_format=torch.channels_last)
        self.x = torch.randn(batch, c, hw, hw, device=device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            with FlopCounterMode(display=False) as fc:
                self.a @ self.b
            self.mm_flops = fc.get_total_flops()
            with FlopCounterMode(display=False) as fc:
                self.conv(self.x)
            self.conv_flops = fc.get_total_flops()
            self.matmul()
            self.convolution()
        self.shapes = {"matmul": [n, n, n], "conv": {"batch": batch, "channels": c, "hw": hw, "kernel": 3, "channels_last": True}}
        self.conv128 = None
        if conv128:  # 128 px benchmarks: also a convolution of their own shape (FastGAN's last level: 32 channels, 128x128)
            c2, hw2, batch2 = (8, 32, 2) if quick else (32, 128, 16)
            self.conv128 = torch.nn.Conv2d(c2, c2, 3, padding=1).to(device).eval().to(memory_format=torch.channels_last)
            self.x128 = torch.randn(batch2, c2, hw2, hw2, device=device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), FlopCounterMode(display=False) as fc:
                self.conv128(self.x128)
            self.conv128_flops = fc.get_total_flops()
            self.convolution128()
            self.shapes["conv128"] = {"batch": batch2, "channels": c2, "hw": hw2, "kernel": 3, "channels_last": True}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def matmul(self) -> float:
        """FLOP/s of one large matmul."""
        with self.torch.inference_mode():
            self._sync()
            t0 = time.perf_counter()
            self.a @ self.b
            self._sync()
            return self.mm_flops / (time.perf_counter() - t0)

    def convolution(self) -> float:
        with self.torch.inference_mode():
            self._sync()
            t0 = time.perf_counter()
            self.conv(self.x)
            self._sync()
            return self.conv_flops / (time.perf_counter() - t0)

    def convolution128(self) -> float:
        """FLOP/s of the 128 px convolution (0 when not built)."""
        if self.conv128 is None:
            return 0.0
        with self.torch.inference_mode():
            self._sync()
            t0 = time.perf_counter()
            self.conv128(self.x128)
            self._sync()
            return self.conv128_flops / (time.perf_counter() - t0)

    def measure(self) -> dict[str, float]:
        """One matmul, one convolution (and the 128 px one): FLOP/s each, and `limit`, the fastest of them."""
        out = {"matmul_flops": self.matmul(), "conv_flops": self.convolution()}
        if self.conv128 is not None:
            out["conv128_flops"] = self.convolution128()
        out["limit_flops"] = max(out.values())
        return out


def forward_flops(model: Any, batch: int, device: Any) -> float:
    """FLOPs of one forward of the model's generation path at this batch size, per image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode():
        fn = workload(model, batch, device, model)
        with FlopCounterMode(display=False) as fc:
            fn()
    return fc.get_total_flops() / batch


def workload(model: Any, batch: int, device: Any, module: Any) -> Callable[[], Any]:
    """One batch through `module` (the model itself, or a prepared copy of it): sample(noise) or forward(images)."""
    import torch

    if model.task == "synthesis":
        z = model.noise(batch, 0).to(device)
        y = model.check_labels(batch, None)
        y = None if y is None else y.to(device)
        if z.ndim == 4 and module is not model and next(module.parameters()).is_contiguous(memory_format=torch.channels_last):
            z = z.contiguous(memory_format=torch.channels_last)
        return lambda: module.sample(z, y)
    size = int(getattr(model, "input_size", model.resolution))  # pix2pix with a low-resolution input
    x = torch.rand(batch, model.channels, size, size, device=device) * 2 - 1
    if module is not model and any(p.ndim == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                                   for p in module.parameters()):
        x = x.contiguous(memory_format=torch.channels_last)
    return lambda: module(x)


def api_call(model: Any, batch: int, images: Any) -> Callable[[], Any]:
    """The public API at this batch size: generate(batch) or translate(batch images)."""
    if model.task == "synthesis" and getattr(model, "returns_masks", False):  # SPADE: (image, mask) pairs
        return lambda: list(model.iter_pairs(batch, seed=0, batch_size=batch))
    if model.task == "synthesis":
        return lambda: model.generate(batch, seed=0, batch_size=batch)
    imgs = images[:batch] if len(images) >= batch else images.repeat((batch + len(images) - 1) // len(images), 1, 1, 1)[:batch]
    return lambda: model.translate(imgs, batch_size=batch)


def real_images(model: Any, n: int) -> Any:
    """uint8 test images of the model's dataset (real PneumoniaMNIST etc.), for translation models."""
    import torch

    try:
        from reproductions.common.data import load_split

        ds = model.config.get("dataset") or "pneumoniamnist"
        imgs, _ = load_split(str(ds).lower(), "test")
        imgs = imgs[:n]
        if imgs.shape[1] != model.channels:
            raise ValueError("channels differ")
        return imgs
    except Exception as e:  # noqa: BLE001 - data absent: random pixels give the same FLOPs
        log(f"real images unavailable ({e}); using random pixels")
        return torch.randint(0, 256, (n, model.channels, model.resolution, model.resolution), dtype=torch.uint8)


def _seconds_per_call(fn: Callable[[], Any], sync: Callable[[], None], min_time: float) -> float:
    """Mean seconds of fn (synchronised), called at least once and until min_time has passed."""
    calls, t_total = 0, 0.0
    while calls == 0 or t_total < min_time:
        t0 = time.perf_counter()
        fn()
        sync()
        t_total += time.perf_counter() - t0
        calls += 1
    return t_total / calls


def time_cell(fn: Callable[[], Any], limits: Limits, reps: int, sync: Callable[[], None], min_time: float,
              extra: bool = False) -> dict[str, list[float]]:
    """Seconds per call of fn, each repetition followed by one matmul and one convolution (FLOP/s); `extra`: every
    reference of `limits.measure()` (the 128 px convolution too) and their maximum, `limit_flops`."""
    fn()  # warm-up
    sync()
    out: dict[str, list[float]] = {"seconds": [], "matmul_flops": [], "conv_flops": []}
    if extra:
        for _ in range(reps):
            out["seconds"].append(_seconds_per_call(fn, sync, min_time))
            for k, v in limits.measure().items():
                out.setdefault(k, []).append(v)
        return out
    for _ in range(reps):
        out["seconds"].append(_seconds_per_call(fn, sync, min_time))
        out["matmul_flops"].append(limits.matmul())
        out["conv_flops"].append(limits.convolution())
    return out


def variants(model: Any, device: Any, use_compile: bool, probes: bool) -> dict[str, tuple[Any, Any]]:
    """(module, grad-mode context) per variant of the batched path; `probes` adds bf16 (and torch.compile)."""
    import torch
    from zoo.base import fold_batchnorm

    eager = model
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    fast = model.inference_module()
    out = {
        "eager (before)": (eager, torch.inference_mode),
        "eager no_grad": (eager, torch.no_grad),
        "channels_last": (cl, torch.inference_mode),
        "bn-fold": (fold_batchnorm(copy.deepcopy(model).eval()), torch.inference_mode),
        "default (bn-fold+cl)" if model.inference_channels_last else "default (bn-fold)": (fast, torch.inference_mode),
    }
    if probes:
        out["bf16 autocast"] = (fast, lambda: _autocast(device))
    if probes and use_compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        out["torch.compile"] = (torch.compile(copy.deepcopy(fast)), torch.inference_mode)
    return out


def compare(model: Any, group: dict[str, tuple[Any, Any]], b: int, device: Any, limits: Limits, reps: int,
            sync: Callable[[], None], entry: dict[str, Any]) -> dict[str, Any]:
    """Time each variant at batch b in turn (a, b, c, a, b, c, ...), with the dense limit after every round."""
    fns = {}
    for name, (module, ctx) in group.items():
        call = workload(model, b, device, module)

        def run(call: Callable[[], Any] = call, ctx: Any = ctx) -> Any:
            with ctx():
                return call()

        fns[name] = run
    log(f"{entry['arch']}: {', '.join(fns)} at batch {b}")
    for k, f in fns.items():
        t0 = time.perf_counter()
        f()  # warm-up (torch.compile compiles here)
        if k == "torch.compile":
            entry["compile_seconds"] = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in fns}
    lim: list[float] = []
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
        lim.append(max(limits.matmul(), limits.convolution()))
    return {"times": times, "limits": lim}


@contextlib.contextmanager
def _autocast(device: Any):  # noqa: ANN202
    import torch

    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
        yield


# ----------------------------------------------------------------------------------------------------------------------
# 128 px (--res128): the generators of the 128 px families, their throughput against the limit and their peak memory

GEN128 = {"fastgan": "fastgan-bn", "spade": "spade", "pix2pix": "pix2pix"}  # generator -> its case in bench/training_128.py
# bounded: the larger streaming run's peak RSS exceeds the smaller run's by at most this fraction (peaks of repeated runs
# of one count differ by up to ~7%: glibc's heap), and its RSS after the last batch exceeds that after the second by at
# most MEM_FLAT
MEM_GROWTH_GOAL = 0.10
MEM_FLAT = 0.05


def build_128(name: str, folder: Path) -> Path:
    """A 128 px generator with the settings the 128 px runs train (bench/training_128.py CASES), random weights (the same
    FLOPs and memory as trained ones), saved as a model folder (zoo.save_folder) for zoo.load_folder; SPADE gets the
    BUSI training masks as its bank (synthetic masks without the data)."""
    import torch

    import zoo
    from bench.training_128 import RESOLUTION, case_config
    from reproductions.common.data import dataset_info
    from reproductions.common.family import load_family
    from zoo.archs import get_arch

    family, dataset, ov = case_config(GEN128[name])
    cfg = load_family(family).Config(**{k: v for k, v in ov.items()})
    classes = len(dataset_info(dataset, RESOLUTION).class_names)
    torch.manual_seed(0)
    if name == "fastgan":
        model = get_arch("fastgan")(channels=1, resolution=RESOLUTION, num_classes=classes if cfg.conditional else 0,
                                    z_dim=cfg.z_dim, base=cfg.g_base)
    elif name == "spade":
        model = get_arch("spade")(channels=1, resolution=RESOLUTION, num_classes=classes, z_dim=cfg.z_dim, base=cfg.g_base)
        try:
            from reproductions.common.data import load_data

            split = load_data(dataset_info(dataset, RESOLUTION), "train")
            model.set_bank(split["masks"], split["labels"])
        except Exception as e:  # noqa: BLE001 - data absent: lesion-like synthetic masks (same cost per image)
            log(f"BUSI masks unavailable ({e}); synthetic masks as SPADE's bank")
            model.set_bank(*synthetic_masks(64, RESOLUTION, classes))
    else:
        model = get_arch("pix2pix")(channels=1, resolution=RESOLUTION, base=cfg.base, depth=cfg.depth,
                                    input_size=cfg.input_resolution if cfg.lowres_input else None)
    model.eval()
    out = folder / f"{name}_{RESOLUTION}"
    zoo.save_folder(model, out, f"# {name} {RESOLUTION} px, random weights (bench/generation.py --res128)\n",
                    {**model.config, "dataset": dataset})
    return out


def inputs_128(model: Any, n: int) -> Any:
    """uint8 low-resolution inputs for pix2pix: chest X-ray test images downsampled (antialiased bicubic) to the model's
    input size, as its training prepares them; random pixels without the data."""
    import torch
    import torch.nn.functional as F

    size = int(getattr(model, "input_size", model.resolution))
    try:
        from reproductions.common.data import dataset_info, load_data

        imgs = load_data(dataset_info(str(model.config.get("dataset", "chestxray")), model.resolution), "test")["images"][:n]
        low = F.interpolate(imgs.float(), size=(size, size), mode="bicubic", align_corners=False, antialias=True)
        imgs = low.clamp(0, 255).round().to(torch.uint8)
    except Exception as e:  # noqa: BLE001
        log(f"real images unavailable ({e}); using random pixels")
        imgs = torch.randint(0, 256, (n, model.channels, size, size), dtype=torch.uint8)
    if len(imgs) < n:
        imgs = imgs.repeat((n + len(imgs) - 1) // len(imgs), 1, 1, 1)[:n]
    return imgs


def memory_child_128(folder: str, n: int, inputs: str, out_file: str) -> dict[str, Any]:
    """In a fresh process: zoo.load_folder, then n images streamed to a file in batches of 64 (iter_generate;
    SPADE iter_pairs, images and masks; pix2pix translate() per batch of inputs read from a memory-mapped .npy);
    the RSS after every batch and the peak."""
    import numpy as np
    import torch

    import zoo
    from bench.training_128 import max_rss_bytes, rss_bytes, ru_maxrss_bytes

    from bench.training_128 import cpu_usage

    model = zoo.load_folder(folder)
    base = rss_bytes()
    trace: list[int] = []
    u0 = cpu_usage()
    t0 = time.perf_counter()
    with open(out_file, "wb") as f:
        if getattr(model, "returns_masks", False):
            for images, masks, _ in model.iter_pairs(n, seed=0, batch_size=64):
                f.write(images.numpy().tobytes())
                f.write(masks.numpy().tobytes())
                trace.append(rss_bytes())
        elif model.task == "synthesis":
            for images, _ in model.iter_generate(n, seed=0, batch_size=64):
                f.write(images.numpy().tobytes())
                trace.append(rss_bytes())
        else:
            src = np.load(inputs, mmap_mode="r")
            for i in range(0, n, 64):
                idx = np.arange(i, min(i + 64, n)) % len(src)
                f.write(model.translate(torch.from_numpy(np.ascontiguousarray(src[idx])), batch_size=64).numpy().tobytes())
                trace.append(rss_bytes())
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - t0
    u1 = cpu_usage()
    return {"n": n, "user_s": u1[0] - u0[0], "sys_s": u1[1] - u0[1], "minor_faults": u1[2] - u0[2], "rss_after_load_bytes": base, "rss_after_batch_bytes": trace, "peak_rss_bytes": max([max_rss_bytes(), *trace]),
            "ru_maxrss_bytes": ru_maxrss_bytes(),
            "seconds": seconds, "images_per_s": n / seconds, "bytes_written": os.path.getsize(out_file)}


def memory_128(name: str, folder: Path, counts: list[int], inputs: Path, work: Path, keep_variant: bool) -> dict[str, Any]:
    """Peak RSS of streaming `counts` images to disk, each count in a fresh process (the first is also the warm-up);
    `keep_variant`: the largest count once more with glibc's malloc keeping freed memory (MALLOC_KEEP_ENV)."""
    from bench.training_128 import run_child
    from zoo.malloc import MALLOC_KEEP_ENV

    runs = []
    plan = [(n, None) for n in counts] + ([(counts[-1], MALLOC_KEEP_ENV)] if keep_variant else [])
    for n, env in plan:
        log(f"{name}: peak memory of streaming {n} images to disk (fresh process{', malloc keeps memory' if env else ''})")
        out_file = work / f"{name}-{n}.u8"
        r = run_child([str(Path(__file__).resolve()), "--memory-child", str(folder), "--mem-n", str(n),
                       "--mem-inputs", str(inputs), "--mem-file", str(out_file)], env=env)
        r["malloc"] = "keeps memory" if env else "default"
        runs.append(r)
        out_file.unlink(missing_ok=True)
    keep = [r for r in runs if r["malloc"] != "default"]
    runs = [r for r in runs if r["malloc"] == "default"]
    small, large = runs[0], runs[-1]
    growth = large["peak_rss_bytes"] - small["peak_rss_bytes"]
    trace = large["rss_after_batch_bytes"]
    flat = len(trace) < 3 or trace[-1] <= (1 + MEM_FLAT) * trace[1]
    return {"runs": runs, "peak_growth_bytes": growth, "peak_growth_fraction": growth / small["peak_rss_bytes"],
            "rss_flat_between_batches": flat, "bounded": growth <= MEM_GROWTH_GOAL * small["peak_rss_bytes"] and flat,
            "if_kept_per_1000_images_bytes": 1000 * large["bytes_written"] / large["n"],
            "if_kept_100k_bytes": 100_000 * large["bytes_written"] / large["n"], "malloc_keeps_memory": keep[0] if keep else None}


def main_128(args: Any) -> dict[str, Any]:
    """--res128: throughput of each 128 px generator at batch 64 and 1024 against the limit (goal >= 50%), and the peak
    memory of streaming many images to disk."""
    import shutil
    import tempfile

    import numpy as np
    import torch

    import zoo

    device = torch.device("cpu")
    env = environment()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    counts = [int(n) for n in args.mem_images.split(",") if n] if args.mem_images else []
    limits = Limits(device, args.quick, conv128=True)
    names = [m for m in (args.models.split(",") if args.models else GEN128) if m]
    work = Path(tempfile.mkdtemp(prefix="medzoo-bench-gen128-"))
    result: dict[str, Any] = {"benchmark": "generation_128", "environment": env, "device": str(device), "resolution": 128,
                              "models_from": "random weights with the 128 px runs' settings (bench/training_128.py CASES), "
                                             "saved and loaded as model folders",
                              "batch_sizes": batches, "goal": {"batched_fraction_of_limit": GOAL, "memory_peak_growth_fraction": MEM_GROWTH_GOAL,
                                       "memory_rss_between_batches_growth": MEM_FLAT},
                              "limit_shapes": limits.shapes, "models": {}, "notes": []}
    rows, mem_rows, goals = [], [], []
    date = env["date"]
    try:
        for name in names:
            folder = build_128(name, work)
            model = zoo.load_folder(folder)
            entry: dict[str, Any] = {"task": model.task, "arch": model.arch_name, "config": model.config,
                                     "params": sum(p.numel() for p in model.parameters()), "cells": {}}
            images = inputs_128(model, max(batches)) if model.task == "translation" else None
            warm = True
            for b in batches:
                flops = forward_flops(model, b, device)
                fn = api_call(model, b, images)
                reps = args.reps if b <= 256 else args.large_reps
                log(f"{name} 128 px batch {b} ({reps} reps)")
                cell = time_128(fn, limits, reps, warm)
                warm = False  # the first batch size warmed up the path (on CPU every forward takes at most 64 images)
                ips = [b / t for t in cell["seconds"]]
                frac = [flops * b / t / lim for t, lim in zip(cell["seconds"], cell["limit_flops"])]
                cell.update({"flops_per_image": flops, "images_per_s": ips, "fraction_of_limit": frac,
                             "achieved_flops": [flops * b / t for t in cell["seconds"]]})
                entry["cells"][str(b)] = cell
                f50 = summary(frac)["p50"]
                cpu = sum(cell["user_s"]) + sum(cell["sys_s"])
                rows.append({"model": f"{name} 128px", "batch": b, "img/s": summary(ips)["p50"], "MFLOP/img": flops / 1e6,
                             "GFLOP/s": summary(cell["achieved_flops"])["p50"] / 1e9,
                             "limit GF/s": summary(cell["limit_flops"])["p50"] / 1e9, "of limit": f"{100 * f50:.0f}%",
                             "goal": f">={100 * GOAL:.0f}%",
                             "system CPU": f"{100 * sum(cell['sys_s']) / cpu:.0f}%" if cpu else "",
                             "cores used": summary(cell["cores_used"])["p50"],
                             "per core": f"{100 * summary([f * lc / c for f, lc, c in zip(frac, cell['limit_cores_used'], cell['cores_used'])])['p50']:.0f}%"})
                api = "iter_pairs" if getattr(model, "returns_masks", False) else "generate" if model.task == "synthesis" else "translate"
                goals.append({"figure": f"{name} 128 px: {api}() at batch {b}, share of the measured limit (p50 of {reps})",
                              "value": f"{100 * f50:.0f}%", "unit": "", "goal": f">= {100 * GOAL:.0f}%", "met": f50 >= GOAL,
                              "date": date})
            if args.profile_128:
                entry["profile"] = profile_generation(model, images, limits)
            if counts:
                inputs = work / f"{name}-inputs.npy"
                src = images if images is not None else torch.zeros(1, 1, 1, 1, dtype=torch.uint8)
                np.save(inputs, src.numpy())
                mem = memory_128(name, folder, counts, inputs, work, args.malloc_variant)
                entry["memory"] = mem
                for r in mem["runs"] + ([mem["malloc_keeps_memory"]] if mem["malloc_keeps_memory"] else []):
                    mem_rows.append({"model": f"{name} 128px", "malloc": r["malloc"], "images": r["n"],
                                     "streamed img/s": r["images_per_s"],
                                     "system CPU": f"{100 * r['sys_s'] / max(r['user_s'] + r['sys_s'], 1e-9):.0f}%",
                                     "page faults": r["minor_faults"],
                                     "after load MB": r["rss_after_load_bytes"] / 2**20,
                                     "peak MB": r["peak_rss_bytes"] / 2**20,
                                     "written MB": r["bytes_written"] / 2**20})
                goals.append({"figure": f"{name} 128 px: peak RSS streaming {counts[-1]:,} images to disk in batches of 64, "
                                        f"the bound for 100,000 (vs {counts[0]:,} images: {mem['peak_growth_bytes'] / 2**20:+.1f} MB; "
                                        f"holding 100,000 would take {mem['if_kept_100k_bytes'] / 2**30:.1f} GB more)",
                              "value": f"{mem['runs'][-1]['peak_rss_bytes'] / 2**20:.0f} MB", "unit": "",
                              "goal": f"reported; bounded (peak for {counts[-1] // max(counts[0], 1)}x the images within "
                                      f"{100 * MEM_GROWTH_GOAL:.0f}%, RSS between batches flat)",
                              "met": mem["bounded"], "date": date})
            result["models"][name] = entry
            del model
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    table(rows, title=f"generation at 128 px on {device} ({env['machine']}), load {env['loadavg_start']}")
    if mem_rows:
        print()
        table(mem_rows, title="peak memory of streaming images to disk (fresh process each)")
    result.update({"table": rows, "memory_table": mem_rows, "goals": goals,
                   "more_tables": [{"title": "Peak memory of streaming images to disk (fresh process each; the larger "
                                             "count bounds what 100,000 take)", "rows": mem_rows}] if mem_rows else []})
    result["notes"] += notes_128(result)
    result["accelerator"] = accelerator_128(result, goals, date)
    path = save(args.name, result, args.out)
    log(f"wrote {path}")
    return result


def time_128(fn: Callable[[], Any], limits: Limits, reps: int, warm: bool) -> dict[str, list[float]]:
    """Seconds, CPU time (user, system) and page faults of each call of fn, with every reference of the limit measured
    after it."""
    from bench.training_128 import cpu_usage, measure_limits

    if warm:
        fn()
    cell: dict[str, list[float]] = {}
    for _ in range(reps):
        u0 = cpu_usage()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        u1 = cpu_usage()
        for k, v in (("seconds", dt), ("user_s", u1[0] - u0[0]), ("sys_s", u1[1] - u0[1]), ("minor_faults", u1[2] - u0[2]),
                     ("cores_used", (u1[0] - u0[0] + u1[1] - u0[1]) / dt), *measure_limits(limits).items()):
            cell.setdefault(k, []).append(v)
    return cell


def profile_generation(model: Any, images: Any, limits: Limits, batch: int = 64) -> dict[str, Any]:
    """torch.profiler on one public-API call at `batch`: self time per operator, grouped into convolution, matmul and
    other; the FLOP/s the convolutions reach by themselves against the limit measured right after."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    from bench.training_128 import _category

    fn = api_call(model, batch, images)
    fn()
    with FlopCounterMode(display=False) as fc:
        fn()
    counts = {str(k): v for k, v in fc.get_flop_counts().get("Global", {}).items()}
    conv_flops = sum(v for k, v in counts.items() if "conv" in k)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    limit = limits.measure()["limit_flops"]
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    cats: dict[str, float] = {}
    for e in events:
        cats[_category(e.key)] = cats.get(_category(e.key), 0.0) + e.self_cpu_time_total / 1e6
    conv_s = cats.get("convolution", 0.0)
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
    del torch
    return {"batch": batch, "wall_s": wall, "self_cpu_s": total, "limit_flops": limit, "flop_counts": counts,
            "seconds_by_category": cats, "share_by_category": {k: v / total for k, v in cats.items()},
            "conv_flops_per_s": conv_flops / conv_s if conv_s else None,
            "conv_fraction_of_limit": conv_flops / conv_s / limit if conv_s else None,
            "top_ops": [{"op": e.key, "self_s": e.self_cpu_time_total / 1e6, "share": e.self_cpu_time_total / 1e6 / total,
                         "calls": e.count} for e in top]}


def notes_128(result: dict[str, Any]) -> list[str]:
    """Why a generator missed the goal, from its profile and the malloc variant of its memory runs."""
    from zoo.malloc import MALLOC_KEEP_ENV

    out = []
    for name, m in result["models"].items():
        prof = m.get("profile")
        missed = [b for b, c in m["cells"].items() if "(" not in b and summary(c["fraction_of_limit"])["p50"] < GOAL]
        if not prof or not missed:
            continue
        share = prof["share_by_category"]
        conv = prof.get("conv_fraction_of_limit")
        top = ", ".join(f"{t['op']} {100 * t['share']:.0f}%" for t in prof["top_ops"][:5])
        text = (f"{name} 128 px: below {100 * GOAL:.0f}% of the limit at batch {', '.join(missed)}. Profile of one call at "
                f"batch {prof['batch']}: convolutions {100 * share.get('convolution', 0):.0f}% of the operator time, "
                f"matmuls {100 * share.get('matmul', 0):.0f}%, everything else {100 * share.get('other', 0):.0f}%; the "
                f"convolutions alone run at {'?' if conv is None else f'{100 * conv:.0f}%'} of the limit. "
                f"Top operators: {top}.")
        mem = m.get("memory") or {}
        keep, dflt = mem.get("malloc_keeps_memory"), (mem.get("runs") or [None])[-1]
        if keep and dflt:
            def desc(r: dict[str, Any]) -> str:
                return (f"{r['images_per_s']:.1f} img/s, system CPU {100 * r['sys_s'] / (r['user_s'] + r['sys_s']):.0f}% of "
                        f"its CPU time, {r['minor_faults'] / r['n']:,.0f} page faults per image, peak RSS "
                        f"{r['peak_rss_bytes'] / 2**20:,.0f} MB")
            text += (f" Streaming {dflt['n']} images in a fresh process: as it runs now {desc(dflt)}; with glibc's malloc "
                     f"keeping freed memory ({' '.join(f'{k}={v}' for k, v in MALLOC_KEEP_ENV.items())}) {desc(keep)}. "
                     "glibc mmaps every block above 32 MB (an activation of 64 images x 32-64 channels x 128 x 128 floats is "
                     "134-268 MB) and returns it to the kernel when it is freed, so every forward pass page-faults its "
                     "activations in again and the kernel zero-fills each 4 KiB page.")
        out.append(text)
    if result["models"] and any(m.get("memory") for m in result["models"].values()):
        out.append("Peak memory: 100,000 images at 128 px would take 40 minutes (FastGAN) to 3 hours (SPADE, pix2pix) per "
                   "generator on these 2 shared cores, so two smaller counts are streamed to disk in batches of 64, each in a "
                   "fresh process; the peak is reached inside the first forward pass of 64 images (activations), does not "
                   "grow with the count (within the noise of the allocator; `rss_after_batch_bytes` holds the RSS after "
                   "every batch), so the larger count's peak bounds what 100,000 images take. Peaks are VmHWM (/proc/self/status): ru_maxrss of a child process on Linux inherits the "
                   "parent's high-water mark across fork and exec.")
    return out


def accelerator_128(result: dict[str, Any], goals: list[dict[str, Any]], date: str) -> dict[str, Any]:
    """Issue 16 item 4 (fp16/bf16 inference with channels_last and CUDA graphs on an accelerator, >= 50% of that dtype's
    matmul peak) is measured only where an accelerator is: on a CPU-only machine the goal is listed as not measured."""
    import torch

    cuda = torch.cuda.is_available()
    info = {"available": cuda, "device": torch.cuda.get_device_name(0) if cuda else None,
            "measured_here": False,
            "note": ("an accelerator is present: `bench/generation.py --device cuda` measures the accelerator path "
                     "(generation-cuda.json); --res128 times the CPU path" if cuda else
                     "no accelerator on this machine: the fp16/bf16 + channels_last + CUDA graphs path (issue 16 item 4) "
                     "was not measured; `bench/generation.py --device cuda` measures it where one is")}
    goals.append({"figure": "accelerator path (fp16/bf16, channels_last, CUDA graphs): share of that dtype's matmul peak",
                  "value": "not measured here" if not cuda else "see generation-cuda", "unit": "", "goal": ">= 50%",
                  "met": None, "date": date})
    result["notes"].append(info["note"])
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="1,64,1024")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--models", default="", help="comma-separated model ids (default: all)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compilation on CPU)")
    p.add_argument("--no-variants", action="store_true", help="skip the variant comparison")
    p.add_argument("--variant-batch", type=int, default=256, help="batch size of the variant comparison")
    p.add_argument("--probe-batch", type=int, default=16, help="batch size of the bf16 probe (slow without bf16 hardware)")
    p.add_argument("--timed-steps", type=int, default=2,
                   help="iterative samplers (DDPM) are timed with this many sampling steps at batch > 1, then scaled")
    p.add_argument("--all-archs", action="store_true",
                   help="also time every registered architecture with random weights (same FLOPs as a trained model)")
    p.add_argument("--name", default="generation", help="results file name (bench/results/<name>.json)")
    p.add_argument("--tiny-cache", default=None, help="folder for the tiny models (default ~/.cache/medzoo/bench-tinyzoo)")
    p.add_argument("--res128", action="store_true",
                   help="the 128 px generators (fastgan, spade, pix2pix 64->128): batch 64 and 1024 against the limit, "
                        "and the peak memory of streaming images to disk; writes generation_128.json")
    p.add_argument("--large-reps", type=int, default=1, help="--res128: repetitions at batch sizes above 256")
    p.add_argument("--mem-images", default="64,256",
                   help="--res128: image counts streamed to disk, each in a fresh process (first: warm-up and reference)")
    p.add_argument("--no-profile", dest="profile_128", action="store_false", help="--res128: skip the profile of each generator")
    p.add_argument("--no-malloc-variant", dest="malloc_variant", action="store_false",
                   help="--res128: skip the largest memory run with glibc's malloc keeping freed memory")
    p.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    p.add_argument("--mem-n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--mem-inputs", default="", help=argparse.SUPPRESS)
    p.add_argument("--mem-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        r = memory_child_128(args.memory_child, args.mem_n, args.mem_inputs, args.mem_file)
        print(json.dumps(r))
        return r
    if args.res128:
        if args.name == "generation":
            args.name = "generation_128"
        if args.batch_sizes == "1,64,1024":
            args.batch_sizes = "64,1024"
        if args.quick:
            args.batch_sizes, args.reps, args.large_reps, args.mem_images = "4,8", 1, 1, "4,8"
        return main_128(args)
    if args.quick:
        args.batch_sizes, args.reps, args.variant_batch, args.probe_batch = "1,8", 1, 8, 4

    ids, source = model_ids(args)
    import torch

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    env = environment()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    limits = Limits(device, args.quick)
    log(f"{len(ids)} models from {source} on {device}; batch sizes {batches}")
    result: dict[str, Any] = {"benchmark": "generation", "environment": env, "device": str(device), "models_from": source,
                              "batch_sizes": batches, "goal": {"batched_fraction_of_limit": GOAL},
                              "limit_shapes": limits.shapes, "models": {}}
    rows, var_rows = [], []
    varied: set[str] = set()  # variants measure an architecture's inference path: once per architecture
    if args.all_archs:
        ids += [f"arch:{a}" for a in generator_archs()]
    for mid in ids:
        model = load_model(mid, device)
        entry: dict[str, Any] = {"task": model.task, "arch": model.arch_name, "params": sum(p.numel() for p in model.parameters()),
                                 "cells": {}, "variants": {}}
        images = real_images(model, max(batches)) if model.task == "translation" else None
        steps = getattr(model, "sample_steps", None)
        for b in batches:
            # iterative samplers (DDPM: sample_steps identical network calls per batch) would take minutes per
            # measurement: time a few steps and scale, marked in the JSON
            k = min(steps, args.timed_steps) if steps else steps
            if k != steps:
                model.sample_steps = model.inference_module().sample_steps = k
            scale = steps / k if k != steps else 1.0
            flops = forward_flops(model, b, device) * scale
            fn = api_call(model, b, images)
            log(f"{mid} batch {b}")
            cell = time_cell(fn, limits, args.reps, sync, min_time=0.5 if b == 1 else 0.0)
            if k != steps:
                model.sample_steps = model.inference_module().sample_steps = steps
                cell["seconds"] = [s * scale for s in cell["seconds"]]
                cell["extrapolated"] = f"timed with {k} of {steps} sampling steps, time scaled by {scale:.2f}"
            ips = [b / s for s in cell["seconds"]]
            frac = [flops * b / s / max(m, c) for s, m, c in zip(cell["seconds"], cell["matmul_flops"], cell["conv_flops"])]
            cell.update({"flops_per_image": flops, "images_per_s": ips, "fraction_of_limit": frac,
                         "achieved_flops": [flops * b / s for s in cell["seconds"]]})
            entry["cells"][str(b)] = cell
            rows.append({"model": mid, "batch": b, "img/s": summary(ips)["p50"], "MFLOP/img": flops / 1e6,
                         "GFLOP/s": summary(cell["achieved_flops"])["p50"] / 1e9,
                         "matmul GF/s": summary(cell["matmul_flops"])["p50"] / 1e9,
                         "conv GF/s": summary(cell["conv_flops"])["p50"] / 1e9,
                         "of limit": f"{100 * summary(frac)['p50']:.0f}%",
                         "goal": f">={100 * GOAL:.0f}%" if b == max(batches) else ""})
        if not args.no_variants and not steps and model.arch_name not in varied:
            varied.add(model.arch_name)
            probes = mid == ids[0]  # bf16 / compile: hardware and compiler facts, probed on the first model only
            vs = variants(model, device, args.compile, probes)
            slow = {k: vs.pop(k) for k in ("bf16 autocast",) if k in vs}
            groups = [(args.variant_batch or max(batches), vs, "eager (before)", args.reps)]
            if slow:  # bf16 without bf16 hardware is ~10x slower: timed at a small batch, against the default path
                default = next(k for k in vs if k.startswith("default"))
                groups.append((args.probe_batch, {default: vs[default], **slow}, default, 1))
            for b, group, ref, reps in groups:
                out = compare(model, group, b, device, limits, reps, sync, entry)
                flops = forward_flops(model, b, device)
                base = summary(out["times"][ref])["p50"]
                for k, v in out["times"].items():
                    frac = [flops * b / s / m for s, m in zip(v, out["limits"])]
                    entry["variants"][f"{k} @ {b}"] = {"batch": b, "seconds": v, "images_per_s": [b / s for s in v],
                                                       "fraction_of_limit": frac, "limit_flops": out["limits"], "reference": ref}
                    var_rows.append({"model": mid, "variant": k, "batch": b, "img/s": b / summary(v)["p50"],
                                     "speedup": base / summary(v)["p50"], "vs": ref, "of limit": f"{100 * summary(frac)['p50']:.0f}%"})
        result["models"][mid] = entry
        del model
    print()
    table(rows, title=f"generation on {device} ({env['machine']}), load {env['loadavg_start']}")
    if var_rows:
        print()
        table(var_rows, title="variants on the batched path, timed side by side (speedup vs eager as loaded)")
    result["table"] = rows
    result["variants_table"] = var_rows
    path = save(args.name, result, args.out)
    log(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
