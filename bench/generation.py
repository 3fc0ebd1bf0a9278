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

    python bench/generation.py [--batch-sizes 1,64,1024] [--reps 3] [--compile] [--quick]
"""
from __future__ import annotations

import contextlib
import copy
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
    config = {"arch": name, "channels": 1, "resolution": 28, "num_classes": 2 if name == "acgan" else 0, "arch_kwargs": {},
              "dataset": "pneumoniamnist"}
    return get_arch(name).from_config(config).eval().to(device)


class Limits:
    """The dense-compute reference: a large float32 matmul and a large convolution, FLOPs counted the same way."""

    def __init__(self, device: Any, quick: bool) -> None:
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
    x = torch.rand(batch, model.channels, model.resolution, model.resolution, device=device) * 2 - 1
    if module is not model and any(p.ndim == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                                   for p in module.parameters()):
        x = x.contiguous(memory_format=torch.channels_last)
    return lambda: module(x)


def api_call(model: Any, batch: int, images: Any) -> Callable[[], Any]:
    """The public API at this batch size: generate(batch) or translate(batch images)."""
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


def time_cell(fn: Callable[[], Any], limits: Limits, reps: int, sync: Callable[[], None], min_time: float) -> dict[str, list[float]]:
    """Seconds per call of fn, each repetition followed by one matmul and one convolution (FLOP/s)."""
    fn()  # warm-up
    sync()
    out: dict[str, list[float]] = {"seconds": [], "matmul_flops": [], "conv_flops": []}
    for _ in range(reps):
        calls, t_total = 0, 0.0
        while calls == 0 or t_total < min_time:
            t0 = time.perf_counter()
            fn()
            sync()
            t_total += time.perf_counter() - t0
            calls += 1
        out["seconds"].append(t_total / calls)
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
    args = p.parse_args(argv)
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
