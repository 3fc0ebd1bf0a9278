"""Repeating a catalog paper's augmentation experiment: its small CNN, its arms and its budget, run on medzoo's
splits, with the paper's model selection and the fair protocol side by side.

Every (arm, seed) trains one CNN and scores it on the validation and the test split after every epoch, so that one
run gives both selections: `val` (the epoch with the best validation accuracy, the fair rule) and `test` (the best test
epoch: what a paper that picks its model on the test images reports). Two budgets: `paper` (the paper's epochs over
each arm's own training set, so bigger arms take more steps, with the paper's early stopping when it used one) and
`equal` (every arm the steps of the paper's epochs over the real images alone, no early stopping, as in the 28 px
utility study); when two budgets come to the same steps and stopping rule, one run serves both. The synthetic images come from a zoo generator trained on the
train split only (checked by its split sha256), so no arm sees a validation or test image through it. Rows go to
reproductions/results/papers.jsonl; `table` sets them beside the paper's own figures from the catalog.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from reproductions.common.data import dataset_info, load_data
from reproductions.common.train import environment
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl
from reproductions.evaluate.stats import paired_t

ARMS = ("none", "classical", "synthetic", "classical+synthetic")
ROWS = RESULTS_DIR / "papers.jsonl"


@dataclass(frozen=True)
class CNN:
    """A Keras-style small CNN: (conv, ReLU[, BatchNorm], max-pool) blocks, then dense layers with dropout."""

    convs: tuple[int, ...] = (32, 64)  # filters per block
    kernel: int = 3
    conv_stride: int = 1
    batch_norm: tuple[bool, ...] = (False, False)  # BatchNorm after each block's pooling
    dense: tuple[int, ...] = ()  # hidden dense widths before the output layer
    dropout: float = 0.0


def build_cnn(spec: CNN, channels: int, resolution: int, num_classes: int) -> nn.Module:
    """The network of `spec` for (channels, resolution, resolution) inputs scaled to [0, 1]."""
    layers: list[nn.Module] = []
    c = channels
    for width, bn in zip(spec.convs, spec.batch_norm):
        layers += [nn.Conv2d(c, width, spec.kernel, spec.conv_stride), nn.ReLU(True), nn.MaxPool2d(2, 2)]
        layers += [nn.BatchNorm2d(width)] if bn else []
        c = width
    layers.append(nn.Flatten())
    with torch.no_grad():
        flat = nn.Sequential(*layers)(torch.zeros(1, channels, resolution, resolution)).shape[1]
    for width in spec.dense:
        layers += [nn.Linear(flat, width), nn.ReLU(True), nn.Dropout(spec.dropout)]
        flat = width
    layers += ([nn.Dropout(spec.dropout)] if spec.dropout and not spec.dense else []) + [nn.Linear(flat, num_classes)]
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Setting:
    """One paper's experiment as far as its text states it (`stated`), and what we had to choose or change (`ours`)."""

    paper: str  # catalog key
    classifier: str  # the paper's name of the downstream model repeated here (matches the catalog's effect rows)
    dataset: str
    resolution: int
    cnn: CNN
    lr: float
    epochs: int
    batch_size: int
    paper_selection: str  # "val" or "test": how the paper chose the model it reports
    generator: str  # zoo model id of the synthetic arms
    classical: Callable[[torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
    synthetic_counts: Callable[[torch.Tensor, int], dict[int, int]]  # (train labels, classes) -> images per class
    both: Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    patience: Optional[int] = None  # early stopping of the paper's budget: epochs without a better val accuracy
    stated: tuple[str, ...] = ()
    ours: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    bf16: bool = False  # channels-last bf16 autocast: 2.2x faster on 2 AMX cores (bench/paper_cnn.py), noted in rows
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The setting's facts as stored beside each row (in their JSON form, so that stored rows compare equal)."""
        return json.loads(json.dumps({"cnn": asdict(self.cnn), "lr": self.lr, "epochs": self.epochs,
                                      "batch_size": self.batch_size, "resolution": self.resolution,
                                      "paper_selection": self.paper_selection, "patience": self.patience,
                                      "generator": self.generator, **({"precision": "bf16"} if self.bf16 else {}),
                                      **self.extra}))


def rows_path() -> Path:
    """$MEDZOO_PAPER_ROWS (tests, private runs), else reproductions/results/papers.jsonl."""
    return Path(os.environ.get("MEDZOO_PAPER_ROWS") or ROWS)


def splits(setting: Setting, data_dir: Optional[str] = None, limit: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """The dataset's recorded train/val/test splits at the setting's resolution (`limit`: a seeded random few per split)."""
    info = dataset_info(setting.dataset, setting.resolution)
    out = {}
    for s in ("train", "val", "test"):
        d = load_data(info, s, data_dir)
        if limit:
            keep = torch.randperm(len(d["images"]), generator=torch.Generator().manual_seed(0))[:limit].sort().values
            d = {**d, "images": d["images"][keep], "labels": d["labels"][keep]}
        out[s] = d
    return out


def generator_facts(model_id: str, train: dict[str, Any]) -> dict[str, Any]:
    """The zoo generator's facts, after checking it was trained on this very train split (else ValueError)."""
    from reproductions.evaluate.results import generator_facts as hashes
    from zoo.api import load

    trained_on = load(model_id).config.get("training", {}).get("split_sha256")
    if trained_on != train.get("split_sha256"):
        raise ValueError(f"{model_id} was trained on split {trained_on}, not this train split {train.get('split_sha256')}: "
                         "its images could carry validation or test images into the arms")
    return {"generator_id": model_id, **hashes(model_id)}


def synthetic_set(model_id: str, counts: dict[int, int], seed: int) -> dict[str, torch.Tensor]:
    """counts[k] images of class k from the zoo generator, seeded."""
    from zoo.api import load

    labels = torch.cat([torch.full((n,), k, dtype=torch.long) for k, n in sorted(counts.items()) if n > 0])
    if not len(labels):
        return {"images": torch.zeros(0, 1, 1, 1, dtype=torch.uint8), "labels": labels}
    out = load(model_id).generate(len(labels), labels=labels, seed=seed, batch_size=64)
    return {"images": out[0] if isinstance(out, tuple) else out, "labels": labels}


def arm_data(setting: Setting, arm: str, real: dict[str, torch.Tensor], synthetic: Optional[dict[str, torch.Tensor]],
             seed: int) -> dict[str, torch.Tensor]:
    """The training images and labels of one arm."""
    if arm == "none":
        return real
    classical = None
    if "classical" in arm:
        x, y = setting.classical(real["images"], real["labels"], torch.Generator().manual_seed(seed))
        classical = {"images": x, "labels": y}
    if arm == "classical":
        return concat(real, classical)
    if arm == "synthetic":
        return concat(real, synthetic)
    if arm == "classical+synthetic":
        return setting.both(real, classical, synthetic)
    raise ValueError(f"unknown arm {arm!r}; expected one of {', '.join(ARMS)}")


def concat(*parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Images and labels of several sets, one after the other (empty sets skipped)."""
    return {k: torch.cat([p[k] for p in parts if len(p["labels"])]) for k in ("images", "labels")}


def augmented_copies(images: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor], gen: torch.Generator
                     ) -> torch.Tensor:
    """One transformed copy of each uint8 image; torchvision draws from the global generator, so it is seeded from
    `gen` inside a forked RNG state (the caller's stream is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=gen)))
        return torch.stack([transform(im) for im in images]) if len(images) else images


def cnn_inputs(images: torch.Tensor, bf16: bool) -> torch.Tensor:
    """uint8 images as the CNN takes them: floats in [0, 1], channels-last on the bf16 path."""
    x = images.float() / 255
    return x.contiguous(memory_format=torch.channels_last) if bf16 else x


def setting_cnn(setting: Setting, channels: int, num_classes: int) -> nn.Module:
    """The setting's CNN, in channels-last memory on the bf16 path."""
    model = build_cnn(setting.cnn, channels, setting.resolution, num_classes)
    return model.to(memory_format=torch.channels_last) if setting.bf16 else model


def cnn_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, bf16: bool) -> torch.Tensor:
    """Cross-entropy of a uint8 batch (in float32; the forward pass under bf16 autocast on the bf16 path)."""
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        logits = model(cnn_inputs(images, bf16))
    return nn.functional.cross_entropy(logits.float(), labels)


def _accuracy(model: nn.Module, split: dict[str, torch.Tensor], bf16: bool) -> tuple[float, np.ndarray]:
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        pred = torch.cat([model(cnn_inputs(split["images"][i : i + 256], bf16)).argmax(1)
                          for i in range(0, len(split["labels"]), 256)])
    return float((pred == split["labels"]).float().mean()), pred.numpy()


def train_cnn(setting: Setting, data: dict[str, torch.Tensor], val: dict[str, torch.Tensor], test: dict[str, torch.Tensor],
              steps: int, seed: int, num_classes: int, patience: Optional[int] = None) -> dict[str, Any]:
    """Adam on cross-entropy for `steps` optimizer steps in epochs of the arm's size; val and test accuracy after each
    epoch; with `patience`, stop once that many epochs have passed without a better validation accuracy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = setting_cnn(setting, data["images"].shape[1], num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=setting.lr)
    n, b = len(data["labels"]), setting.batch_size
    per_epoch = max(1, math.ceil(n / b))
    history, done, t0 = [], 0, time.monotonic()
    while done < steps:
        model.train()
        order = torch.randperm(n, generator=gen)
        for i in range(min(per_epoch, steps - done)):
            idx = order[i * b : (i + 1) * b]
            loss = cnn_loss(model, data["images"][idx], data["labels"][idx], setting.bf16)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
        val_acc, _ = _accuracy(model, val, setting.bf16)
        test_acc, pred = _accuracy(model, test, setting.bf16)
        history.append({"steps": done, "val_acc": val_acc, "test_acc": test_acc, "pred": pred})
        best = max(range(len(history)), key=lambda i: (history[i]["val_acc"], -i))
        if patience is not None and len(history) - 1 - best >= patience:
            break
    pick_val = max(range(len(history)), key=lambda i: (history[i]["val_acc"], -i))
    pick_test = max(range(len(history)), key=lambda i: (history[i]["test_acc"], -i))
    return {"by_val": history[pick_val], "by_test": history[pick_test], "epochs": len(history), "steps": done,
            "train_seconds": round(time.monotonic() - t0, 1)}


def run(setting: Setting, seeds: Optional[Sequence[int]] = None, arms: Sequence[str] = ARMS,
        data: Optional[dict[str, dict[str, torch.Tensor]]] = None, path: Optional[Path] = None) -> list[dict[str, Any]]:
    """Every (arm, seed, budget) not stored yet: train, then append one row per selection rule."""
    path = path or rows_path()
    data = data or splits(setting)
    train, val, test = data["train"], data["val"], data["test"]
    k = len(dataset_info(setting.dataset, setting.resolution).class_names)
    facts = setting.describe()
    done = {(r["arm"], r["seed"], r["budget"]) for r in read_jsonl(path) if r.get("paper") == setting.paper
            and r.get("setting") == facts}
    gen_facts = generator_facts(setting.generator, train) if any("synthetic" in a for a in arms) else {}
    env, rows = environment("cpu", 1), []
    counts = setting.synthetic_counts(train["labels"], k)
    real_steps = setting.epochs * math.ceil(len(train["labels"]) / setting.batch_size)
    for seed in seeds or setting.seeds:
        if all((a, seed, b) in done for a in arms for b in ("paper", "equal")):
            continue  # every cell of this seed is stored: no need to generate or augment its images again
        synthetic = synthetic_set(setting.generator, counts, seed) if gen_facts else None
        sets = {a: arm_data(setting, a, {"images": train["images"], "labels": train["labels"]}, synthetic, seed) for a in arms}
        for arm, s in sets.items():
            budgets = {"paper": (setting.epochs * math.ceil(len(s["labels"]) / setting.batch_size), setting.patience),
                       "equal": (real_steps, None)}
            runs: dict[tuple, tuple[dict[str, Any], float]] = {}  # equal (steps, patience): one run serves both
            for budget in [b for b in ("paper", "equal") if (arm, seed, b) not in done]:
                key = budgets[budget]
                shared = key in runs
                if not shared:
                    t0 = time.monotonic()
                    runs[key] = train_cnn(setting, s, val, test, key[0], seed, k, key[1]), round(time.monotonic() - t0, 1)
                r, seconds = runs[key]
                base = {"paper": setting.paper, "classifier": setting.classifier, "dataset": setting.dataset, "arm": arm,
                        "seed": seed, "budget": budget, "steps": r["steps"], "n_train": len(s["labels"]),
                        "n_synthetic": int(sum(counts.values())) if "synthetic" in arm else 0, "n_val": len(val["labels"]),
                        "n_test": len(test["labels"]), "epochs": r["epochs"], "seconds": seconds, "setting": facts,
                        "split_sha256": train.get("split_sha256"), **(gen_facts if "synthetic" in arm else {}),
                        "commit": env["git_commit"], "hardware": env["hardware"], "command": command_line(),
                        "recorded_at": now()}
                new = [{**base, "selection": sel, "accuracy": r[pick]["test_acc"], "val_accuracy": r[pick]["val_acc"],
                        "selected_steps": r[pick]["steps"], "same_run_as_paper_budget": shared}
                       for sel, pick in (("val", "by_val"), ("test", "by_test"))]
                append_jsonl(path, new)
                rows += new
                print(f"[{time.strftime('%H:%M:%S')}] {setting.paper} {arm} seed {seed} {budget} budget: test accuracy "
                      f"{new[0]['accuracy']:.3f} (val-selected), {new[1]['accuracy']:.3f} (test-selected)",
                      file=sys.stderr, flush=True)
    return rows


def table(setting: Setting, path: Optional[Path] = None, effects: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Per arm: the paper's reported accuracy (catalog effect rows of this classifier) beside ours in the paper's
    setting (paper budget, the paper's selection) and under the fair protocol (equal budget, validation selection):
    mean test accuracy in %, a 95% t-interval over seeds, and the gain over `none` paired by seed."""
    df = pd.DataFrame([r for r in read_jsonl(path or rows_path()) if r.get("paper") == setting.paper
                       and r.get("setting") == setting.describe()])
    reported = _reported(setting, effects)
    out = []
    for arm in ARMS:
        row: dict[str, Any] = {"arm": arm, "paper": reported.get(arm)}
        for name, budget, selection in (("paper_setting", "paper", setting.paper_selection), ("fair", "equal", "val")):
            if df.empty:
                continue
            g = df[(df.arm == arm) & (df.budget == budget) & (df.selection == selection)].drop_duplicates("seed", keep="last")
            base = df[(df.arm == "none") & (df.budget == budget) & (df.selection == selection)].drop_duplicates("seed", keep="last")
            if g.empty:
                continue
            acc = 100 * g.set_index("seed").accuracy
            row[name] = acc.mean()
            row[f"{name}_ci95"] = paired_t(acc.to_numpy())[1]
            row[f"{name}_seeds"] = len(acc)
            if arm != "none" and not base.empty:
                d = (acc - 100 * base.set_index("seed").accuracy).dropna().to_numpy()
                mean, half, _ = paired_t(d)
                row[f"{name}_gain"], row[f"{name}_gain_ci95"] = mean, half
        row["n_test"] = int(df.n_test.iloc[0]) if not df.empty else None
        out.append(row)
    return pd.DataFrame(out)


def _reported(setting: Setting, effects: Optional[pd.DataFrame]) -> dict[str, float]:
    """The paper's own figures per arm, from its catalog effect rows of this classifier (`none`: their `without`)."""
    if effects is None:
        from catalog.query import effects as catalog_effects

        effects = catalog_effects()
    e = effects[(effects.key == setting.paper) & (effects.classifier == setting.classifier) & (effects.arm != "")]
    out = {row.arm: row["with"] for _, row in e.iterrows()}
    if not e.empty:
        out["none"] = e["without"].iloc[0]
    return out


def cli(setting: Setting) -> None:
    """The command line of one paper's module: run the missing (arm, seed, budget) cells of `--seeds`, then print the
    table beside the paper's figures."""
    import typer

    def main(seeds: str = ",".join(map(str, setting.seeds)), threads: int = 2) -> None:
        torch.set_num_threads(threads)
        run(setting, [int(s) for s in seeds.split(",")])
        print(table(setting).to_string(index=False))

    typer.run(main)
