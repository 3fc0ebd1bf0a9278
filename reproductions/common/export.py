"""Export a trained run as Hugging Face Hub model folders: config.json, fp16 model.safetensors, README.md card."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from reproductions.common.checkpoint import load_checkpoint, restore_state
from reproductions.common.data import REPO_ROOT, dataset_info
from reproductions.common.family import TASKS, Export, load_family
from zoo import registry
from zoo.archs import get_arch
from zoo.base import GenerativeModel

PRETRAINED = REPO_ROOT / "zoo" / "pretrained"
LICENSE = "cc-by-4.0"
PIPELINE_TAGS = {
    "unconditional-synthesis": "unconditional-image-generation",
    "conditional-synthesis": "unconditional-image-generation",
    "image-translation": "image-to-image",
    "super-resolution": "image-to-image",
}


def default_model_id(family: str, dataset: str, suffix: str) -> str:
    """timm-style id: <family>.<dataset>_<resolution><suffix>, e.g. cyclegan.pneumoniamnist_28_normal2pneumonia."""
    return f"{family}.{dataset}_{dataset_info(dataset).resolution}{suffix}"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def model_config(export: Export, model_id: str, meta: dict[str, Any], papers: list[str]) -> dict[str, Any]:
    """config.json of one exported model: what rebuilds it, what it shows, and how it was trained."""
    cfg = meta["config"]
    info = dataset_info(cfg["dataset"])
    if export.task not in TASKS:
        raise ValueError(f"task {export.task!r} is not one of {TASKS}")
    model = export.model
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
        "license": LICENSE,
        "papers": papers,
        **export.extra,
        "training": {
            "data": f"MedMNIST v2 {info.name}, official train split ({meta['n_train']} images, 28x28)",
            "split": "train",
            "steps": int(meta["step"]),
            "epochs": round(float(meta["epoch"]), 3),
            "finished": bool(meta["done"]),
            "seconds": round(float(meta["seconds"]), 1),
            "seed": cfg["seed"],
            "world_size": cfg["world_size"],
            **meta["env"],
            "command": meta["command"],
            "hyperparameters": {k: v for k, v in cfg.items() if k not in ("family", "dataset", "seed", "world_size")},
        },
    }


def model_card(config: dict[str, Any]) -> str:
    """README.md with Hugging Face YAML front matter for one exported model."""
    t = config["training"]
    tags = ["medzoo", "gan" if config["family"] != "ddpm" else "diffusion", config["family"], "medical-imaging",
            config["dataset"], config["organ"], config["modality"], config["task"]]
    front = [
        "---",
        f"license: {config['license']}",
        "library_name: medzoo",
        f"pipeline_tag: {PIPELINE_TAGS[config['task']]}",
        "datasets:",
        f"- {config['dataset']}",
        "tags:",
        *[f"- {tag}" for tag in dict.fromkeys(tags)],
        "---",
    ]
    classes = ", ".join(f"{i}: {n}" for i, n in enumerate(config["class_names"])) or "none (unconditional)"
    papers = "\n".join(f"- https://doi.org/{d}" for d in config["papers"]) or "- (no DOI recorded)"
    lines = [
        *front,
        "",
        f"# {config['model_id']}",
        "",
        f"{config['summary']}. Trained by medzoo's `{config['family']}` reproduction on {t['data']}.",
        "",
        "## Intended use",
        "",
        "Research on data augmentation for medical image analysis: generating or translating small images to",
        "study augmentation. **Not for diagnosis** and not for any clinical decision; the images are synthetic",
        "and inherit the biases of the small public dataset they were trained on.",
        "",
        "## Use",
        "",
        "```python",
        "import zoo",
        f"model = zoo.load(\"{config['model_id']}\")",
        "images = model.generate(16, seed=0)" if config["task"].endswith("synthesis") else "out = model.translate(images)  # uint8 (N, C, 28, 28)",
        "```",
        "",
        "## Model",
        "",
        f"- architecture: `{config['arch']}` {json.dumps(config['arch_kwargs'])}",
        f"- task: {config['task']}; organ: {config['organ']}; modality: {config['modality']}",
        f"- output: {config['channels']} channel(s), {config['resolution']}x{config['resolution']}; classes: {classes}",
        *[f"- {k}: {v}" for k, v in config.items() if k in ("source_domain", "target_domain", "input")],
        "- weights: `model.safetensors`, float16",
        "",
        "## Training",
        "",
        f"- data: {t['data']}",
        f"- steps: {t['steps']} ({t['epochs']} epochs, finished: {t['finished']}), seed {t['seed']}",
        f"- time: {t['seconds']} s on {t['hardware']}",
        f"- torch {t['torch']}, code commit {t['git_commit'] or 'unknown'}",
        f"- command: `{t['command']}`",
        f"- hyper-parameters: `{json.dumps(t['hyperparameters'], sort_keys=True)}`",
        "",
        "## Papers reproduced",
        "",
        papers,
        "",
        "## Samples",
        "",
        "![sample grid](samples.png)",
        "",
        "`samples.png` is written by `medzoo samples <this folder> --out samples.png` from these exported weights",
        "(per-class rows for conditional models; input/output pairs from the real test split for translation).",
        "",
        "## License",
        "",
        "Weights: CC BY 4.0, as the MedMNIST v2 training data (Yang et al. 2023, doi:10.1038/s41597-022-01721-8).",
        "",
    ]
    return "\n".join(lines)


def write_model_folder(folder: Path, config: dict[str, Any], model: GenerativeModel) -> Path:
    """Write config.json, fp16 model.safetensors and README.md into `folder`, then check it reloads."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().half() if v.is_floating_point() else v.detach()).cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = folder / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt", "model_id": config["model_id"]})
    tmp.chmod(0o644)
    os.replace(tmp, folder / "model.safetensors")
    _atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    _atomic_write_text(folder / "README.md", model_card(config))
    load_exported(folder)
    return folder


def load_exported(folder: str | os.PathLike) -> GenerativeModel:
    """Rebuild an exported model from its folder (arch from config.json, fp16 weights from safetensors), in eval mode."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    model = get_arch(config["arch"])(config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    return model.eval()


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, model_id: str | None = None) -> list[Path]:
    """Export the latest checkpoint of a run folder as one model folder per model the family publishes."""
    tensors, meta = load_checkpoint(Path(run_dir))
    cfg = meta["config"]
    fam = load_family(cfg["family"])
    trainer = fam.Trainer(cfg, dataset_info(cfg["dataset"]), torch.device("cpu"))
    trainer.total_steps = int(meta["total_steps"])
    restore_state(trainer.modules, trainer.optimizers, tensors, meta)
    exports = trainer.exports()
    if model_id and len(exports) > 1:
        raise ValueError(f"{cfg['family']} exports {len(exports)} models; --model-id names only one, leave it out")
    out_root = Path(out) if out else PRETRAINED
    folders = []
    for e in exports:
        mid = model_id or default_model_id(cfg["family"], cfg["dataset"], e.suffix)
        e.model.eval()
        folders.append(write_model_folder(out_root / mid, model_config(e, mid, meta, list(fam.PAPERS)), e.model))
    if out_root.resolve() == registry.pretrained_dir().resolve():  # bundled in the zoo: record files and sha256
        for folder in folders:
            registry.register(registry.entry_from_folder(folder))
    return folders
