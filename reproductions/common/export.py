"""Export a trained run as Hugging Face Hub model folders (through zoo.save_folder) with their model cards."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from reproductions.common.checkpoint import load_checkpoint, restore_state
from reproductions.common.data import dataset_info
from reproductions.common.family import TASKS, Export, load_family
from zoo import card as cards
from zoo import registry
from zoo.folder import save_folder

MEDMNIST_LICENSE = ("cc-by-4.0", "Weights: CC BY 4.0, as the MedMNIST v2 training data (Yang et al. 2023, doi:10.1038/s41597-022-01721-8).")
LICENSES = {
    "CC BY 4.0": ("cc-by-4.0", "Weights: CC BY 4.0, as the training data."),
}


def default_model_id(family: str, dataset: str, resolution: int, suffix: str) -> str:
    """timm-style id: <family>.<dataset>_<resolution><suffix>, e.g. cyclegan.pneumoniamnist_28_normal2pneumonia."""
    return f"{family}.{dataset}_{resolution}{suffix}"


def _license(data_license: str, kind: str) -> tuple[str, str]:
    """(Hub licence id, card sentence) for weights trained on data under `data_license`."""
    if kind == "medmnist":
        return MEDMNIST_LICENSE
    if data_license in LICENSES:
        return LICENSES[data_license]
    return "other", (f"The training data's licence is {data_license or 'not stated'}; these weights are shared for research "
                     "only, under the same terms as the data. Check the data's terms before any other use.")


def model_config(export: Export, model_id: str, meta: dict[str, Any], papers: list[str]) -> dict[str, Any]:
    """config.json of one exported model: what rebuilds it, what it shows, and how it was trained."""
    cfg = meta["config"]
    info = dataset_info(cfg["dataset"], cfg.get("resolution"))
    if export.task not in TASKS:
        raise ValueError(f"task {export.task!r} is not one of {TASKS}")
    model = export.model
    data = meta.get("data") or {"description": f"MedMNIST v2 {info.name}", "split_method": "official train split", "split_sha256": ""}
    license_id, _ = _license(info.license, info.kind)
    return {
        "model_id": model_id,
        "arch": model.arch_name,
        "arch_kwargs": model.config["arch_kwargs"],
        "family": cfg["family"],
        "task": export.task,
        "summary": export.summary,
        "dataset": info.name,
        "organ": info.organ,
        "modality": info.modality,
        "resolution": model.resolution,
        "channels": model.channels,
        "num_classes": model.num_classes,
        "class_names": list(info.class_names) if model.num_classes else [],
        "license": license_id,
        "data_license": info.license or "CC BY 4.0",
        "papers": papers,
        **export.extra,
        "training": {
            "data": f"{data['description']}, train split ({meta['n_train']} images, {info.resolution}x{info.resolution}; "
                    f"{data['split_method']})",
            "split": "train",
            "split_sha256": data.get("split_sha256", ""),
            "steps": int(meta["step"]),
            "epochs": round(float(meta["epoch"]), 3),
            "finished": bool(meta["done"]),
            "seconds": round(float(meta["seconds"]), 1),
            "seed": cfg["seed"],
            "world_size": cfg["world_size"],
            **meta["env"],
            "command": meta["command"],
            "weights": {"live": "the trained generator itself (not its moving average)"}.get(
                meta.get("weights", ""), meta.get("weights") or "as the family exports them"),
            "hyperparameters": {k: v for k, v in cfg.items() if k not in ("family", "dataset", "seed", "world_size")},
        },
    }


def model_card(config: dict[str, Any], model_index: list[dict[str, Any]] | None = None) -> str:
    """README.md of one exported generator or translator."""
    t = config["training"]
    r = config["resolution"]
    kind = "diffusion" if config["family"] in ("ddpm", "ddpm_cfg") else "gan"
    tags = [kind, config["family"], config["dataset"], config["organ"], config["modality"], config["task"]]
    classes = ", ".join(f"{i}: {n}" for i, n in enumerate(config["class_names"])) or "none (unconditional)"
    papers = [f"- https://doi.org/{d}" for d in config["papers"]] or ["- (no DOI recorded)"]
    if config["task"] == "mask-conditional-synthesis":
        use = "images, masks = model.generate(16, labels=1, seed=0)  # or masks=YOUR_MASKS (N, 1, R, R)"
    elif config["task"].endswith("synthesis"):
        use = "images = model.generate(16, seed=0)"
    else:
        size = config.get("input_resolution", r)
        use = f"out = model.translate(images)  # uint8 (N, {config['channels']}, {size}, {size})"
    _, license_text = _license(config.get("data_license", ""), "medmnist" if r == 28 else "folder")
    sections = [
        ("Intended use", [
            "Research on data augmentation for medical image analysis (research augmentation). **Not for diagnosis** and",
            "not for any clinical decision; the images are synthetic and inherit the biases of the small public dataset",
            "they were trained on.",
        ]),
        ("Use", ["```python", "import zoo", f"model = zoo.load(\"{config['model_id']}\")", use, *_sampler_lines(kind), "```",
                 *(["", "The model is also a diffusers pipeline: `model.pipeline()` is a `diffusers.DDPMPipeline` with its U-Net and",
                    "training scheduler (`.save_pretrained(dir)` writes diffusers' layout; the Benchmarks page gives FID and speed per sampler)."]
                   if kind == "diffusion" else [])]),
        ("Model", [
            f"- architecture: `{config['arch']}` {json.dumps(config['arch_kwargs'])}",
            f"- task: {config['task']}; organ: {config['organ']}; modality: {config['modality']}",
            f"- output: {config['channels']} channel(s), {r}x{r}; classes: {classes}",
            *[f"- {k}: {v}" for k, v in config.items() if k in ("source_domain", "target_domain", "input")],
            "- weights: `model.safetensors`, float16",
        ]),
        ("Training", [
            f"- data: {t['data']}",
            *([f"- split sha256: `{t['split_sha256']}`"] if t.get("split_sha256") else []),
            f"- data licence: {config.get('data_license', 'CC BY 4.0')}",
            f"- steps: {t['steps']} ({t['epochs']} epochs, finished: {t['finished']}), seed {t['seed']}",
            f"- time: {t['seconds']} s on {t['hardware']}",
            f"- torch {t['torch']}, code commit {t['git_commit'] or 'unknown'}",
            f"- command: `{t['command']}`",
            *([f"- weights: {t['weights']}"] if t.get("weights", "as the family") != "as the family exports them" else []),
            f"- hyper-parameters: `{json.dumps(t['hyperparameters'], sort_keys=True)}`",
        ]),
        ("Papers reproduced", papers),
        ("Samples", [
            "![sample grid](samples.png)", "",
            "`samples.png` is written by `medzoo samples <this folder> --out samples.png` from these exported weights",
            "(per-class rows for conditional models; image/mask pairs for mask models; input/output pairs from the real",
            "test split for translation).",
        ]),
        ("License", [license_text]),
    ]
    return cards.render(config, sections, tags, model_index)


def _sampler_lines(kind: str) -> list[str]:
    """For diffusion models: how to trade sampling steps for speed."""
    if kind != "diffusion":
        return []
    return ["# sampler (\"ddim\" or \"dpm-solver\") and steps trade speed for quality (measured: docs, Benchmarks)",
            "model.sampler, model.sample_steps = \"dpm-solver\", 20",
            "# precision: \"auto\" (bf16 where the hardware runs it natively, else float32), \"bfloat16\" or \"float32\"",
            "model.precision = \"float32\""]


EMA_OF = {"g_ema": "g", "ema": "model"}  # averaged module -> the module it averages


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, model_id: str | None = None,
               weights: str = "ema") -> list[Path]:
    """Export the latest checkpoint of a run folder as one model folder per model the family publishes.

    weights="live" exports the trained module itself instead of its moving average; weights="ema-debiased" removes
    the initial weights' share d**t from an average that began without warm-up (ema_t = d**t init + (1 - d**t) avg,
    so avg = (ema_t - d**t init) / (1 - d**t), with the run's own seeded initialisation rebuilt); the card says which.
    """
    if weights not in ("ema", "live", "ema-debiased"):
        raise ValueError(f"weights must be 'ema', 'live' or 'ema-debiased', got {weights!r}")
    tensors, meta = load_checkpoint(Path(run_dir))
    cfg = meta["config"]
    fam = load_family(cfg["family"])
    info = dataset_info(cfg["dataset"], cfg.get("resolution"))
    torch.manual_seed(int(cfg["seed"]))  # as train() does: the same initial weights as the run
    trainer = fam.Trainer(cfg, info, torch.device("cpu"))
    initial = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in trainer.modules.items()}
    trainer.total_steps = int(meta["total_steps"])
    restore_state(trainer.modules, trainer.optimizers, tensors, meta)
    if weights == "ema-debiased":
        decay, steps = float(cfg.get("ema", cfg.get("ema_decay", 0.999))), int(meta["step"])
        share = decay**steps
        for avg in EMA_OF:
            if avg in trainer.modules:
                module = trainer.modules[avg]
                params = dict(module.named_parameters())
                state = {n: ((t - share * initial[avg][n]) / (1 - share) if n in params else t)
                         for n, t in module.state_dict().items()}
                module.load_state_dict(state)
        meta = {**meta, "weights": f"ema-debiased (initial weights' share {share:.3f} removed)"}
    if weights == "live":
        for avg, live in EMA_OF.items():
            if avg in trainer.modules and live in trainer.modules:
                trainer.modules[avg].load_state_dict(trainer.modules[live].state_dict())
        meta = {**meta, "weights": "live"}
    exports = trainer.exports()
    if model_id and len(exports) > 1:
        raise ValueError(f"{cfg['family']} exports {len(exports)} models; --model-id names only one, leave it out")
    out_root = Path(out) if out else registry.pretrained_dir()
    folders = []
    for e in exports:
        mid = model_id or default_model_id(cfg["family"], info.name, info.resolution, e.suffix)
        registry.check_model_id(mid)
        e.model.eval()
        config = model_config(e, mid, meta, list(fam.PAPERS))
        folders.append(save_folder(e.model, out_root / mid, model_card(config), config))
    if out_root.resolve() == registry.pretrained_dir().resolve():  # bundled in the zoo: record files and sha256
        for folder in folders:
            registry.register(registry.entry_from_folder(folder))
    return folders
