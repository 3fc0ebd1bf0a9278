"""Training throughput of medzoo's loop against a plain hand-written PyTorch loop: same networks, data, batch size.

medzoo: `reproductions.common.train.train` (seeded data order and per-step noise generators, deterministic
algorithms on CPU, tqdm, JSON-lines log, checkpoint at the end) training DCGAN on the first steps x batch real
PneumoniaMNIST training images. Plain: the same generator (zoo.archs.dcgan), discriminator and initialisation
(reproductions.dcgan), the same Adam settings, losses and D-freezing in the G step, the same images read
with numpy, one randperm, torch.randn noise, and nothing else. The two run alternately (medzoo, plain, medzoo,
...) so load from other processes hits both alike; the overhead is computed per adjacent pair.

Two figures each: `loop` (images/s over the training steps, wall clock, everything the loop does per step;
medzoo's comes from its log, whose one window spans the whole loop) and `end to end` (the whole call:
reading and verifying the data, building the networks, the loop and, for medzoo, the final checkpoint).

    python bench/training.py [--steps 12] [--reps 3] [--family dcgan] [--quick]
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import environment, log, parser, save, summary, table  # noqa: E402

GOAL = 0.05  # medzoo loop slower than the plain loop by less than this


def medzoo_run(family: str, dataset: str, steps: int, batch: int, workdir: Path) -> dict[str, float]:
    import torch

    from reproductions.common.train import train

    out = workdir / f"medzoo-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    train(family, dataset, out, epochs=1, limit=steps * batch, overrides={"batch_size": batch}, checkpoint_minutes=1e9,
          log_every=steps)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    loop = [r for r in records if "images_per_s" in r]
    assert len(loop) == 1 and loop[0]["step"] == steps, loop
    shutil.rmtree(out, ignore_errors=True)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # medzoo sets it process-wide; the plain loop runs with torch's default
    return {"loop_images_per_s": loop[0]["images_per_s"], "end_to_end_images_per_s": steps * batch / wall,
            "wall_s": wall, "deterministic_algorithms": deterministic}


def plain_run(dataset: str, steps: int, batch: int, seed: int = 0) -> dict[str, float]:
    """The hand-written loop: what a user would write with the same networks and data."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from reproductions.common.data import resolve_data_dir
    from reproductions.dcgan import Config
    from reproductions.dcgan.train import Discriminator, init_dcgan
    from zoo.archs.dcgan import DCGANGenerator

    t0 = time.perf_counter()
    cfg = Config()
    with np.load(resolve_data_dir() / f"{dataset}.npz") as f:
        imgs = f["train_images"][: steps * batch]
    x_all = torch.from_numpy(imgs).unsqueeze(1).float() / 127.5 - 1
    torch.manual_seed(seed)
    g = DCGANGenerator(channels=1, resolution=28, z_dim=cfg.z_dim, base=cfg.g_base)
    d = Discriminator(1, cfg.d_base)
    init_dcgan(g)
    init_dcgan(d)
    opt_g = torch.optim.Adam(g.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    order = torch.randperm(len(x_all))
    t_loop = time.perf_counter()
    for step in range(steps):
        x = x_all[order[step * batch : (step + 1) * batch]]
        z = torch.randn(batch, cfg.z_dim)
        fake = g(z)
        loss_d = F.softplus(-d(x)).mean() + F.softplus(d(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        loss_g = F.softplus(-d(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        loss_d.item(), loss_g.item()
    end = time.perf_counter()
    return {"loop_images_per_s": steps * batch / (end - t_loop), "end_to_end_images_per_s": steps * batch / (end - t0),
            "wall_s": end - t0}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--family", default="dcgan", choices=["dcgan"], help="family trained by both loops")
    p.add_argument("--dataset", default="pneumoniamnist")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64, help="the family's default batch size")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.reps, args.batch_size = 2, 1, 16

    import torch

    env = environment()
    work = Path(tempfile.mkdtemp(prefix="medzoo-bench-train-"))
    runs: dict[str, list[dict[str, Any]]] = {"medzoo": [], "plain": []}
    try:
        log(f"warm-up: one short run of each loop ({args.family} on {args.dataset})")
        medzoo_run(args.family, args.dataset, 1, args.batch_size, work)
        plain_run(args.dataset, 1, args.batch_size)
        for rep in range(args.reps):
            order = ("medzoo", "plain") if rep % 2 == 0 else ("plain", "medzoo")
            for which in order:
                log(f"rep {rep + 1}/{args.reps}: {which} loop, {args.steps} steps of {args.batch_size}")
                r = (medzoo_run(args.family, args.dataset, args.steps, args.batch_size, work) if which == "medzoo"
                     else plain_run(args.dataset, args.steps, args.batch_size))
                r["loadavg"] = list(__import__("os").getloadavg())
                runs[which].append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def ratios(key: str) -> list[float]:
        return [pl[key] / mz[key] - 1 for mz, pl in zip(runs["medzoo"], runs["plain"])]

    loop_over, e2e_over = ratios("loop_images_per_s"), ratios("end_to_end_images_per_s")
    rows = []
    for which in ("medzoo", "plain"):
        rows.append({"loop": which, "steps": args.steps, "batch": args.batch_size,
                     "loop img/s": summary([r["loop_images_per_s"] for r in runs[which]])["p50"],
                     "end-to-end img/s": summary([r["end_to_end_images_per_s"] for r in runs[which]])["p50"]})
    rows.append({"loop": "medzoo overhead", "loop img/s": f"{100 * summary(loop_over)['p50']:+.1f}%",
                 "end-to-end img/s": f"{100 * summary(e2e_over)['p50']:+.1f}%", "steps": "", "batch": f"goal <{100 * GOAL:.0f}%"})
    table(rows, title=f"training {args.family} on {args.dataset} ({env['machine']}, {torch.get_num_threads()} threads), "
                      f"load {env['loadavg_start']}")
    result = {"benchmark": "training", "environment": env, "family": args.family, "dataset": args.dataset, "steps": args.steps,
              "batch_size": args.batch_size, "reps": args.reps, "runs": runs, "goal": {"loop_overhead_below": GOAL},
              "loop_overhead": loop_over, "end_to_end_overhead": e2e_over,
              "loop_overhead_p50": summary(loop_over)["p50"], "end_to_end_overhead_p50": summary(e2e_over)["p50"], "table": rows}
    path = save("training", result, args.out)
    log(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
