"""Training steps of a repeated paper's small CNN (reproductions/evaluate/papers): float32 against bf16 autocast with
channels-last tensors (`Setting.bf16`), interleaved in one run, on real training images of the paper's dataset.

    python bench/paper_cnn.py [--paper manaf2025] [--reps 6] [--threads 1,2] [--quick]
"""
from __future__ import annotations

import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import environment, interleaved, log, parser, save, summary, table  # noqa: E402


def step_fn(setting: Any, images: Any, labels: Any) -> Callable[[], None]:
    """One optimizer step of `setting`'s CNN on a fixed batch, with the model and loss protocol.train_cnn uses."""
    import torch

    from reproductions.evaluate.papers.protocol import cnn_loss, setting_cnn

    torch.manual_seed(0)
    model = setting_cnn(setting, images.shape[1], int(labels.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=setting.lr)

    def step() -> None:
        loss = cnn_loss(model, images, labels, setting.bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from reproductions.common.data import dataset_info, load_data

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--paper", default="manaf2025")
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args(argv)
    setting = importlib.import_module(f"reproductions.evaluate.papers.{args.paper}").SETTING
    batch = 8 if args.quick else setting.batch_size
    reps = 2 if args.quick else args.reps
    train = load_data(dataset_info(setting.dataset, setting.resolution), "train")
    images, labels = train["images"][:batch], train["labels"][:batch]
    t0 = time.perf_counter()
    env = environment()
    rows, runs = [], {}
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        log(f"{threads} thread(s): float32 and bf16 channels-last, {reps} steps each, interleaved")
        fns = {name: step_fn(dataclasses.replace(setting, bf16=name == "bf16"), images, labels) for name in ("fp32", "bf16")}
        times = interleaved(fns, reps)
        runs[threads] = times
        s = {k: summary(v) for k, v in times.items()}
        for k in fns:
            rows.append({"threads": threads, "precision": k, "batch": batch, "s/step p50": s[k]["p50"],
                         "img/s": batch / s[k]["p50"], "speed-up": s["fp32"]["p50"] / s[k]["p50"]})
    table(rows, title=f"{setting.paper} CNN at {setting.resolution} px ({env['machine']})")
    result = {"benchmark": "paper_cnn", "environment": env, "paper": setting.paper, "resolution": setting.resolution, "batch": batch,
              "step_seconds": runs, "table": rows, "seconds": time.perf_counter() - t0}
    path = save("paper_cnn", result, args.out)
    log(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
