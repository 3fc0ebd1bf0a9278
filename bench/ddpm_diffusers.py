"""The DDPM before and after its move to diffusers: samples/s side by side, FID at equal n, and the sampling-steps
trade-off (speed against FID) of the converted model.

- Speed: `model.generate(batch, seed)` of the bundled `ddpm.pneumoniamnist_28` at the git ref before the move
  (`--before-rev`, a temporary `git worktree`, its own hand-written U-Net and sampler) and at this tree, each in a
  fresh process with the same threads, interleaved (before, after, before, ...) so load hits both alike. Four arms:
  before as shipped (fp32), before under bf16 autocast (what the old code would gain from bf16 alone), after in
  fp32, after in bf16 (`precision="bfloat16"`, the bundled model's setting: it was trained under bf16 autocast).
- FID before/after: the equal-n protocol's rows (reproductions/results/fidelity.jsonl: n = 4708 generated vs the 624
  test images, seed 0, medzoo-resnet18 features, bootstrap 95% intervals) of each arm's weights and config sha256.
- Trade-off: for each sampler (DDIM, DPM-Solver++) and number of steps, the same n images (seed 0) are generated,
  timed and measured with the protocol's `measure` (FID, KID, precision, recall, bootstrap intervals).

    python bench/ddpm_diffusers.py [--before-rev REV] [--steps 10,20,50] [--samplers ddim,dpm-solver] [--quick]
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, environment, log, parser, save, table  # noqa: E402

MODEL = "ddpm.pneumoniamnist_28"
BEFORE_REV = "73f8707"  # the last commit with the hand-written DDPM (bundled weights trained on an H200)
FP32_CONFIG_REV = "ff11fee"  # the converted model's config.json before `precision` was set to bfloat16

TIMER = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
import zoo
model = zoo.load(sys.argv[2])
batch, reps, mode = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if mode in ("float32", "bfloat16"):
    model.precision = mode
with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
    model.generate(min(8, batch), seed=99)  # warm-up
    out = []
    for r in range(reps):
        t0 = time.perf_counter(); model.generate(batch, seed=r); out.append(time.perf_counter() - t0)
files = zoo.registry.get(sys.argv[2]).files
print(json.dumps({"seconds": out, "zoo": zoo.__file__, "sha256": files["model.safetensors"], "config_sha256": files["config.json"]}))
"""


# (arm, tree, mode): mode "shipped" runs the model as registered, "autocast" wraps it in bf16 autocast, "float32" or
# "bfloat16" set the converted model's `precision`
ARMS = (("before", "before", "shipped"), ("before, bf16 autocast", "before", "autocast"),
        ("after, fp32", "after", "float32"), ("after, bf16 (default)", "after", "bfloat16"))


def time_generation(tree: Path, threads: int, batch: int, reps: int, mode: str) -> dict[str, Any]:
    """Seconds of `reps` generate(batch) calls in a fresh process importing the zoo of `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", TIMER, str(threads), MODEL, str(batch), str(reps), mode], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not res["zoo"].startswith(str(tree)):
        raise RuntimeError(f"the timed process imported {res['zoo']}, not the zoo of {tree}")
    return res


def speed(before_rev: str, threads: int, batch: int, reps: int, rounds: int) -> dict[str, Any]:
    """Images/s of each arm (ARMS), `rounds` interleaved fresh-process runs of each."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), before_rev], cwd=ROOT, check=True, capture_output=True)
        try:
            runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm, _, _ in ARMS}
            for _ in range(rounds):
                for arm, which, mode in ARMS:
                    runs[arm].append(time_generation(tree if which == "before" else ROOT, threads, batch, reps, mode))
                    log(f"{arm}: {[round(batch / s, 1) for s in runs[arm][-1]['seconds']]} images/s")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False, capture_output=True)
    out: dict[str, Any] = {"batch": batch, "threads": threads, "before_rev": before_rev}
    for arm, rs in runs.items():
        per_image = sorted(s / batch for r in rs for s in r["seconds"])
        out[arm] = {"generator_sha256": rs[0]["sha256"], "config_sha256": rs[0]["config_sha256"],
                    "seconds": [s for r in rs for s in r["seconds"]], "images_per_s_median": round(1 / per_image[len(per_image) // 2], 2)}
    base = out["before"]["images_per_s_median"]
    out["over_before"] = {arm: round(out[arm]["images_per_s_median"] / base, 3) for arm, _, _ in ARMS}
    return out


def fid_rows(arms: dict[str, tuple[str, str | None]]) -> dict[str, Any]:
    """The equal-n protocol's first-draw rows of each arm's generator (weights sha256, and config sha256 where the row
    records one: the converted model's fp32 and bf16 settings share weights), in the medzoo-resnet18 space."""
    from reproductions.evaluate.equal_n import FEATURES, rows_path
    from reproductions.evaluate.results import read_jsonl

    rows = [r for r in read_jsonl(rows_path()) if r["model_id"] == MODEL and r["features"] == FEATURES and r["draw"] == 0]
    out = {}
    for arm, (sha, config) in arms.items():
        match = [r for r in rows if r.get("generator_sha256") == sha and (config is None or r.get("config_sha256") == config)]
        if match:
            r = match[-1]
            out[arm] = {k: r.get(k) for k in ("fid", "fid_ci95", "kid_mean", "kid_mean_ci95", "precision", "recall", "n", "n_real",
                                              "commit", "hardware", "recorded_at")}
    return out


def trade_off(steps: list[int], samplers: list[str], n: int, bootstrap: int) -> list[dict[str, Any]]:
    """FID (with intervals) and images/s of the converted model for each sampler and number of steps, seed 0."""
    import torch

    import zoo
    from reproductions.common.data import load_split
    from reproductions.evaluate.equal_n import FEATURES, measure
    from reproductions.evaluate.spaces import embed, embed_real

    model = zoo.load(MODEL)
    (tx, _), (px, _) = load_split("pneumoniamnist", "train"), load_split("pneumoniamnist", "test")
    n = n or len(tx)
    real = embed_real(px, FEATURES, "pneumoniamnist", "test")
    rows = []
    for sampler in samplers:
        for k in steps:
            model.sampler, model.sample_steps = sampler, k
            t0 = time.perf_counter()
            fake = model.generate(n, seed=0)
            seconds = time.perf_counter() - t0
            m = measure(embed(fake, FEATURES), real, bootstrap, 0)
            rows.append({"sampler": sampler, "steps": k, "n": n, "n_real": len(real), "seconds": round(seconds, 1),
                         "images_per_s": round(n / seconds, 2), "threads": torch.get_num_threads(), **m, "sampling_precision": model.precision})
            log(f"{sampler} {k} steps: FID {m['fid']:.2f} {m.get('fid_ci95')}, {n / seconds:.1f} images/s")
    return rows


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--before-rev", default=BEFORE_REV)
    p.add_argument("--steps", default="10,20,50")
    p.add_argument("--samplers", default="ddim,dpm-solver")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=2, help="timed calls per fresh process")
    p.add_argument("--n", type=int, default=0, help="images per trade-off point (0: the train split's 4708)")
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--skip-trade-off", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.batch, args.rounds, args.reps, args.n, args.bootstrap, args.steps, args.samplers = 1, 1, 1, 32, 10, "3", "ddim"
    import torch

    torch.set_num_threads(args.threads)
    env = environment()
    t0 = time.perf_counter()
    sp = speed(args.before_rev, args.threads, args.batch, args.reps, args.rounds)
    fp32_config = hashlib.sha256(subprocess.run(["git", "show", f"{FP32_CONFIG_REV}:zoo/pretrained/{MODEL}/config.json"], cwd=ROOT,
                                                check=True, capture_output=True).stdout).hexdigest()
    after = sp["after, bf16 (default)"]
    fids = fid_rows({"before": (sp["before"]["generator_sha256"], None),
                     "after, fp32": (after["generator_sha256"], fp32_config),
                     "after, bf16 (default)": (after["generator_sha256"], after["config_sha256"])})
    curve = [] if args.skip_trade_off else trade_off([int(s) for s in args.steps.split(",")], args.samplers.split(","),
                                                     args.n, args.bootstrap)
    speed_col = f"images/s (batch {args.batch}, {args.threads} threads)"
    names = {"before": "before (hand-written U-Net), DDIM 50, fp32", "before, bf16 autocast": "before, DDIM 50, bf16 autocast",
             "after, fp32": "after (diffusers UNet2DModel), DDIM 50, fp32", "after, bf16 (default)": "after, DDIM 50, bf16 (default)"}
    rows = [{"model / sampler": names[arm], speed_col: sp[arm]["images_per_s_median"], "x before": sp["over_before"][arm],
             "FID [95% CI], n": _fid(fids.get(arm))} for arm, _, _ in ARMS]
    rows += [{"model / sampler": f"after, {c['sampler']} {c['steps']} steps, {c['sampling_precision']}", speed_col: c["images_per_s"],
              "x before": "", "FID [95% CI], n": _fid(c)} for c in curve]
    print(table(rows))
    save("ddpm_diffusers", {"benchmark": "ddpm_diffusers", "environment": env, "model": MODEL, "speed": sp, "fid_equal_n": fids,
                            "trade_off": curve, "table": rows,
                            "seconds": round(time.perf_counter() - t0, 1), "command": " ".join(sys.argv),
                            "goals": [{"figure": "after (default settings) / before images/s",
                                       "value": sp["over_before"]["after, bf16 (default)"], "unit": "x", "goal": ">= 1",
                                       "met": sp["over_before"]["after, bf16 (default)"] >= 1}]}, args.out)


def _fid(r: dict[str, Any] | None) -> str:
    if not r or r.get("fid") is None:
        return "not measured"
    ci = r.get("fid_ci95") or [float("nan")] * 2
    return f"{r['fid']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], n={r.get('n')}"


if __name__ == "__main__":
    main()
