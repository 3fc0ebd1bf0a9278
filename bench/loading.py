"""Start-up latency: `zoo.load` beyond `import torch` (bundled, and from a populated Hugging Face cache), and the
`medzoo papers` command end to end (a subprocess, warm), with the modules it imports.

Every figure comes from fresh subprocesses (the first one of each kind is a warm-up for the page cache and
byte-code), run in turn with the references `python -c pass` and `python -c "import torch"`, so load from
other processes hits all alike. Wall and CPU seconds are both recorded: on a loaded machine the wall clock of
a short process is mostly time spent waiting for a CPU, and CPU seconds show what the code itself costs.
`--before REF` also measures the CLI of a git commit (a temporary worktree; default d3afe87) side by side, and
`zoo.load` as it was before get_arch imported one architecture module instead of all of them.

    python bench/loading.py [--reps 5] [--before REF] [--quick]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, environment, log, parser, save, summary, table  # noqa: E402

GOALS = {"zoo_load_s": 0.2, "cli_papers_s": 0.5}
BEFORE = "d3afe87"  # catalog/ and zoo/cli.py as they were before the lazy imports and the plain-SQL query path
CLI_ARGS = ["papers", "--organ", "chest", "--modality", "x-ray"]
HEAVY = ("torch", "pandas", "numpy", "sqlalchemy", "sqlmodel", "pydantic", "yaml", "rich", "typer", "huggingface_hub", "timm",
         "torchvision")

LOAD_SCRIPT = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import torch
t1, c1 = time.perf_counter(), time.process_time()
import zoo
if sys.argv[2] == "all-archs":
    import zoo.archs
    zoo.archs._import_all()
model = zoo.load(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
assert isinstance(model, torch.nn.Module)
print(json.dumps({"torch_s": t1 - t0, "load_s": t2 - t1, "torch_cpu_s": c1 - c0, "load_cpu_s": c2 - c1}))
"""

CLI_PROBE = r"""
import importlib, os, sys
sys.argv = ["medzoo", *sys.argv[1:]]
main = importlib.import_module(os.environ["MEDZOO_CLI_MODULE"]).main  # medzoo.cli now; zoo.cli before the root existed
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + " ".join(sorted({m.split(".")[0] for m in sys.modules})) + "\n")
"""


def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> dict[str, Any]:
    """Wall and CPU seconds of one subprocess (CPU from the children's rusage)."""
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({p.returncode}): {p.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), "stdout": p.stdout,
            "stderr": p.stderr}


def hf_cache_setup(model_id: str, work: Path) -> dict[str, str]:
    """A private registry whose entry is pinned to a revision and not bundled, and an HF cache holding that revision."""
    from zoo import registry
    from zoo.hub import resolve

    entry = registry.get(model_id)
    folder = resolve(entry)
    revision = entry.revision or "0123456789abcdef0123456789abcdef01234567"
    org, name = (entry.hub_repo.split("/", 1) + ["x"])[:2]
    snap = work / "hf" / "hub" / f"models--{org}--{name}" / "snapshots" / revision
    snap.mkdir(parents=True)
    for f in registry.MODEL_FILES:
        shutil.copy2(folder / f, snap / f)
    reg_dir = work / "registry"
    reg_dir.mkdir()
    (reg_dir / "pretrained").mkdir()  # nothing bundled beside this registry
    data = json.loads(registry.registry_path().read_text())
    data = {model_id: {**data[model_id], "revision": revision}}
    (reg_dir / "models.json").write_text(json.dumps(data))
    return {"MEDZOO_REGISTRY": str(reg_dir / "models.json"), "HF_HOME": str(work / "hf"), "HF_HUB_OFFLINE": "1"}


def first_model() -> str | None:
    import zoo

    ids = list(zoo.list_models().model_id)
    for mid in ids:
        try:
            from zoo.hub import resolve

            resolve(zoo.get(mid))
            return mid
        except Exception:  # noqa: BLE001 - not available here: try the next one
            continue
    return None


def worktree(ref: str, work: Path) -> Path:
    path = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True, capture_output=True)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--model", default=None, help="model id (default: the first registered model that resolves)")
    p.add_argument("--before", default=BEFORE, help="git ref whose CLI is measured side by side ('' to skip); default: "
                   "the last commit before the start-up work of bench/README.md")
    args = p.parse_args(argv)
    if args.quick:
        args.reps, args.before = 1, ""

    env = environment(torch_info=False)
    py = sys.executable
    medzoo = str(Path(py).with_name("medzoo"))
    work = Path(tempfile.mkdtemp(prefix="medzoo-bench-load-"))
    base_env = {k: v for k, v in os.environ.items() if k not in ("MEDZOO_DB",)}
    base_env["XDG_CACHE_HOME"] = str(work / "cache-after")  # the CLI builds its default catalog here, not in ~/.cache
    from catalog.embed import _cache_path

    for label in ("cache-after", "cache-before"):  # reuse computed MiniLM vectors: the warm-up builds need no model run
        if _cache_path().is_file():
            (work / label / "medzoo").mkdir(parents=True)
            shutil.copy2(_cache_path(), work / label / "medzoo" / _cache_path().name)
    mid = args.model or first_model()
    if mid is None and not os.environ.get("MEDZOO_REGISTRY"):
        from bench.generation import tiny_registry

        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medzoo" / "bench-tinyzoo"
        os.environ["MEDZOO_REGISTRY"] = base_env["MEDZOO_REGISTRY"] = str(tiny_registry(cache))
        mid = first_model()
    cases: dict[str, tuple[list[str], dict[str, str], Path]] = {
        "python -c pass": ([py, "-c", "pass"], base_env, ROOT),
        "python -c 'import torch'": ([py, "-c", "import torch"], base_env, ROOT),
        "medzoo " + " ".join(CLI_ARGS): ([medzoo, *CLI_ARGS], base_env, ROOT),
    }
    try:
        if mid:
            cases["zoo.load (bundled)"] = ([py, "-c", LOAD_SCRIPT, mid, "one"], base_env, ROOT)
            cases["zoo.load (HF cache)"] = ([py, "-c", LOAD_SCRIPT, mid, "one"], {**base_env, **hf_cache_setup(mid, work)}, ROOT)
            if not args.quick:
                cases["zoo.load (bundled), before: all archs imported"] = ([py, "-c", LOAD_SCRIPT, mid, "all-archs"], base_env, ROOT)
        if args.before:
            try:
                tree = worktree(args.before, work)
            except subprocess.CalledProcessError as e:
                log(f"no worktree of {args.before!r} ({e.stderr.decode(errors='replace').strip()}): the before case is skipped")
                args.before = ""
        if args.before:
            env_before = {**base_env, "XDG_CACHE_HOME": str(work / "cache-before"), "PYTHONPATH": str(tree)}
            env_before["MEDZOO_CLI_MODULE"] = "zoo.cli"  # that tree's `medzoo` entry point (python -m zoo)
            cases[f"before ({args.before}): medzoo " + " ".join(CLI_ARGS)] = ([py, "-m", "zoo", *CLI_ARGS], env_before, tree)
        log(f"warm-up (builds the default catalog into {work})")
        for cmd, e, cwd in cases.values():
            run(cmd, e, cwd)
        results: dict[str, list[dict[str, Any]]] = {k: [] for k in cases}
        for rep in range(args.reps):
            log(f"rep {rep + 1}/{args.reps}")
            for k, (cmd, e, cwd) in cases.items():
                r = run(cmd, e, cwd)
                if k.startswith("zoo.load"):
                    r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
                r.pop("stdout")
                r.pop("stderr")
                r["loadavg"] = [round(x, 2) for x in os.getloadavg()]
                results[k].append(r)
        modules = {}
        after_env = {**base_env, "MEDZOO_CLI_MODULE": "medzoo.cli"}
        for label, tree_env, cwd in [("after", after_env, ROOT)] + ([("before", env_before, tree)] if args.before else []):
            probe = run([py, "-c", CLI_PROBE, *CLI_ARGS], tree_env, cwd)
            loaded = set(probe["stderr"].rsplit("MODULES ", 1)[1].split())
            modules[label] = sorted(m for m in HEAVY if m in loaded)
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "before")], cwd=ROOT, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for k, rs in results.items():
        key_wall, key_cpu = ("load_s", "load_cpu_s") if k.startswith("zoo.load") else ("wall_s", "cpu_s")
        goal = GOALS["zoo_load_s"] if k.startswith("zoo.load") and "before" not in k else (
            GOALS["cli_papers_s"] if k.startswith("medzoo") else None)
        rows.append({"what": k + (" [beyond import torch]" if k.startswith("zoo.load") else ""),
                     "wall p50 s": summary([r[key_wall] for r in rs])["p50"], "wall min s": summary([r[key_wall] for r in rs])["min"],
                     "cpu p50 s": summary([r[key_cpu] for r in rs])["p50"], "goal s": f"<{goal}" if goal else ""})
    table(rows, title=f"start-up latency, {args.reps} warm runs each, interleaved ({env['machine']}, load {env['loadavg_start']})")
    print(f"\nheavy modules imported by `medzoo {' '.join(CLI_ARGS)}`: " +
          "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in modules.items()))
    result = {"benchmark": "loading", "environment": env, "model": mid, "goals": GOALS, "reps": args.reps, "runs": results,
              "cli_heavy_modules": modules, "torch_imported_by_cli": "torch" in modules.get("after", []), "table": rows}
    path = save("loading", result, args.out)
    log(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
