"""The utility study page (issue 14's fair protocol: paired gains with Holm verdicts, the quality gate, fidelity at
equal n, feature-space sanity, cross-space agreement, memorization; the earlier, flawed protocol kept apart) and the
benchmarks page, from stored results. Every figure is a file written by `python -m reproductions.evaluate.plots`
(or the module named beside it) from the rows the page's tables come from."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bench.report import RESULTS as BENCH_RESULTS, render
from reproductions.evaluate import (equal_n, generators, memorization, report, sanity, stats, utility, utility_chestxray,
                                    utility_highres)
from reproductions.evaluate.results import RESULTS_DIR, read_jsonl
from sitegen.md import esc, table

DATASETS = ("pneumoniamnist", "breastmnist", "retinamnist")
RESUME = "reproductions/evaluate/study.sh --work-dir /root/medzoo-study"


def _f(v: Any, digits: int = 3, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _figure(files: dict[str, bytes], name: str, alt: str) -> str:
    """Markdown of a results figure (copied into study/), or a note that it has not been written yet."""
    path = RESULTS_DIR / name
    if not path.is_file():
        return f"*Figure `{name}` not written yet (`python -m reproductions.evaluate.plots`).*\n"
    files[f"study/{name}"] = path.read_bytes()
    return f"![{esc(alt)}](study/{name})\n"


def _provenance(named_rows: list[tuple[str, list[dict[str, Any]]]]) -> str:
    body = []
    for name, rows in named_rows:
        for r in report.provenance(rows).itertuples():
            body.append((f"`{name}`", esc(r.hardware), r.rows, f"{r.seconds:,.0f}", esc(r.commits), esc(r.commands[:300])))
    if not body:
        return "*No rows yet.*\n"
    return table(["Rows file", "Hardware", "Rows", "Seconds", "Commits", "Commands"], body)


def _gain_rows(g: pd.DataFrame) -> list[tuple]:
    return [(r.dataset, f"{r.fraction:g}", esc(r.arm), r.pairs, f"{_f(r.gain, 3, True)} ± {_f(r.gain_ci95)}",
             f"[{_f(r.boot_low, 3, True)}, {_f(r.boot_high, 3, True)}]", _p(r.p), _p(r.p_holm),
             f"**{r.verdict}**" if r.verdict in ("helps", "hurts") else r.verdict, r.gate_failed) for r in g.itertuples()]


GAIN_HEAD = ["Dataset", "Fraction", "Arm", "Seed pairs", "ΔAUC ± 95% CI (seeds)", "95% CI (test bootstrap)", "p", "p (Holm)",
             "Verdict", "Gate failures"]


def _protocol() -> str:
    steps = generators.STEPS[28]
    return "\n".join([
        "## Protocol\n",
        "Every (dataset, fraction, seed) is a group of arms run one after another by one process, on one machine and "
        "one commit (`medzoo utility check` refuses a file where a group mixes them):\n",
        "- **Nested, stratified subsets**: one permutation per seed and class; a fraction takes a prefix of each class "
        "(at least one image), so 1% lies inside 5% inside 10% ... The validation subset follows the same rule on the "
        "validation split: at 1% the classifier is chosen on as few validation images as it is trained on.",
        f"- **Equal steps**: every arm of a group trains for {utility.STUDY_RECIPE.max_epochs} rounds of "
        "max(ceil(n_real / 64), 10) steps, n_real the real subset's size, whatever the number of synthetic images; "
        "the round with the best validation-subset AUC is tested (no early stopping).",
        "- **Generators see only the classifier's images**: `gan:acgan` and `classical+gan:acgan` use an ACGAN trained "
        "on exactly the group's subset; `perclass:diffaugment` one DiffAugment DCGAN per class, each on that class's "
        "images of the subset; `cyclegan:normal2pneumonia` (PneumoniaMNIST) a CycleGAN on the subset, whose "
        "translations of the subset's normal images are added as pneumonia images. Step budgets at 28 px: "
        + ", ".join(f"{k} {v} steps" for k, v in steps.items()) + " (the families' batch sizes), whatever the subset's size. "
        "Every row records `subset_sha256` and `generator_subset_sha256` (sha256 of the sorted indices joined by "
        "commas) and `generator_sha256`; outside `privileged-*` arms the two subset hashes are equal (a test pins it).",
        "- **Privileged arms** (`privileged-gan:<zoo ACGAN>`): the zoo's ACGAN trained on the whole train split, at "
        "every fraction: an upper bound on what more data buys, shown in its own table, never counted as augmentation.",
        f"- **Quality gate**: a generator enters its arm only if a classifier trained on its images alone reaches an "
        f"AUC above 0.5 + {utility.GATE_MARGIN:g} on the group's validation subset; otherwise the arm falls back to "
        "the same training without it (recorded with the gate's figure) and the generator is listed as failing.",
        f"- **Seeds**: classifier seeds {', '.join(map(str, utility.SEEDS))}; generator arms at seeds "
        f"{', '.join(map(str, utility.GEN_SEEDS))} (each seed's subset gets its own generators, so three generator "
        "seeds per cell).",
        "- **Paired statistics**: the gain of an arm is its test AUC minus that of `none` on the same subset and seed; "
        "the page shows its paired 95% interval over seeds (Student t), a 95% interval from a bootstrap over test "
        "images (1000 resamples, the same resample for both arms), the paired t-test's p and Holm's adjustment across "
        "the cells of each dataset's table. `helps`/`hurts`: Holm-adjusted p < 0.05. A cell with fewer than "
        f"{stats.MIN_PAIRS} seed pairs is not tested (one degree of freedom turns two nearly equal gains into a tiny p).\n",
        f"Run or resume: `{RESUME}` (stages memorization, fidelity, sanity, utility; `--device cuda` on a GPU; "
        "several `medzoo utility run` processes share the study, each claiming one (dataset, fraction, seed) group at a time; `--shard I/N` splits the plan between machines). Budget: the full rerun (3 datasets x 5 "
        "fractions x 5 seeds, generator arms at 3 seeds: 45 groups with generators) needs about 45 ACGANs, 135 "
        "per-class DCGANs and 15 CycleGANs; at the per-step times measured on this project's shared CPU (ACGAN about "
        "0.4 s, DiffAugment 0.5 s, CycleGAN 1 s per step on one thread) that is about 13 core-hours of generator "
        "training plus about 4 of classifiers, i.e. 8-9 hours with two processes on 2 free cores, and minutes "
        "on one GPU (`--device cuda`).\n",
    ])


def _status(rows: pd.DataFrame) -> str:
    planned = utility.plan(list(DATASETS), privileged=False)
    body = []
    for d in DATASETS:
        n_plan = sum(1 for c in planned if c.dataset == d)
        done = 0 if rows.empty else int((rows["dataset"] == d).sum())
        body.append((d, done, f"{n_plan} (+ privileged arms)"))
    return "## Status\n\n" + table(["Dataset", "Cells stored", "Cells planned"], body) + (
        "\nCells still to run are pending; the command above resumes them (finished cells are skipped).\n")


def _fidelity(files: dict[str, bytes]) -> str:
    t = report.fidelity_table()
    parts = ["## Fidelity at equal n\n",
             "Every model and the real-vs-real floor at the same n (the train split's size; CycleGAN: the source class's "
             "test images), against the real test split, in medzoo-resnet18 features; conditional models in the train "
             f"split's class proportions; {len(equal_n.DRAWS)} generator draws (one for DDPM: CPU sampling cost); 95% "
             f"intervals from {equal_n.BOOTSTRAP} bootstrap resamples of both image sets (estimate ± 1.96 bootstrap SD: "
             "resampling duplicates images, which shifts FID up, so percentile intervals would miss the estimate). "
             "Rows: `reproductions/results/fidelity.jsonl` (`python -m reproductions.evaluate.equal_n`).\n"]
    if t.empty:
        return "\n".join(parts + ["*Not measured yet (stage `fidelity`).*\n"])
    body = [(r.dataset, esc(r.model_id), r.kind, esc(r.reference), r.n, r.n_real, f"{r.fid:.3f} [{r.fid_low:.3f}, {r.fid_high:.3f}]",
             esc(", ".join(f"{v:g}" for v in r.fid_draws)), f"{r.kid:.5f} [{r.kid_low:.5f}, {r.kid_high:.5f}]",
             f"{r.precision:.3f}", f"{r.recall:.3f}") for r in t.itertuples()]
    parts.append(table(["Dataset", "Model", "Kind", "Reference", "n", "n real", "FID [95% CI]", "FID per draw", "KID [95% CI]",
                        "Precision", "Recall"], body))
    parts.append(_figure(files, "fidelity_equal_n.png", "FID at equal n with 95% intervals, per dataset"))
    cas = _cas_rows()
    if cas:
        parts += ["CAS (classifier trained on as many synthetic images as the train split has, train-split class "
                  "proportions; it and its real-data floor choose their checkpoint on the real validation split):\n",
                  table(["Model", "Kind", "CAS AUC", "CAS ACC", "n", f"Quality gate (AUC > {0.5 + utility.GATE_MARGIN:g})"], cas)]
    return "\n".join(parts)


def _cas_rows() -> list[tuple]:
    from reproductions.evaluate.results import load_rows

    df = load_rows()
    if df.empty or "selection" not in df:
        return []
    df = df[(df["selection"] == "real-val") & df["metric"].isin(["cas_auc", "cas_acc"])].sort_values("recorded_at")
    df = df.drop_duplicates(["model_id", "metric"], keep="last")
    out = []
    for model_id, g in df.groupby("model_id", sort=True):
        v = dict(zip(g["metric"], g["value"]))
        kind = g["kind"].iloc[0]
        auc = v.get("cas_auc")
        gate = "" if kind != "model" or auc is None else ("passes" if auc > 0.5 + utility.GATE_MARGIN else "**fails**")
        out.append((esc(model_id), kind, _f(auc), _f(v.get("cas_acc")), int(g["n"].iloc[0]), gate))
    return out


def _cross_space() -> str:
    cs = report.cross_space()
    parts = ["## Cross-space agreement\n",
             "torch-fidelity's InceptionV3 weights cannot be downloaded here, and a second learned extractor of another "
             "architecture has not been trained yet (pending). Until then the cross-check space is raw pixels: "
             "the same equal-n comparisons, FID on the 784 pixel values. Rank agreement of the models' FIDs (first draw) "
             "within each dataset and reference set:\n"]
    if not cs["groups"]:
        return "\n".join(parts + ["*Not measured yet (stage `fidelity`).*\n"])
    body = [(g["dataset"], esc(g["reference"]), g["models"], f"{g['kendall_tau']:+.2f}", f"{g['concordant']}/{g['pairs']}",
             esc(" < ".join(m.split(".")[0] for m in g["order_features"])), esc(" < ".join(m.split(".")[0] for m in g["order_pixels"])))
            for g in cs["groups"]]
    parts.append(table(["Dataset", "Reference", "Models", "Kendall tau", "Concordant pairs", "FID order (features)",
                        "FID order (pixels)"], body))
    parts.append(f"\nOverall {cs['concordant']} of {cs['pairs']} model pairs are ranked the same way in both spaces.\n")
    return "\n".join(parts)


def _extractor_facts() -> str:
    """How the feature extractor was trained, from its config.json: epochs, steps and validation accuracy per dataset."""
    import json

    from zoo.registry import pretrained_dir

    try:
        t = json.loads((pretrained_dir() / "medzoo-resnet18.medmnist_28" / "config.json").read_text())["training"]
    except (OSError, KeyError, ValueError):
        return "training facts not bundled"
    acc = ", ".join(f"{d} {a:.2f}" for d, a in t.get("val_accuracy", {}).items())
    return f"{t.get('epochs')} epoch(s), {t.get('steps')} steps; top-1 validation accuracy {acc}"


def _sanity(files: dict[str, bytes]) -> str:
    v = sanity.verdicts()
    parts = ["## Feature-space sanity\n",
             "Real test images degraded at increasing strength against the real train split: FID and KID must rise "
             "monotonically with Gaussian blur, additive noise and mode dropping (dropping k of 8 pixel-space k-means "
             "cells, or k classes, with n kept equal). Means over seeds; the check passes when every step rises. Rows: "
             "`reproductions/results/sanity.jsonl` (`python -m reproductions.evaluate.sanity`). The extractor is the "
             f"existing `medzoo-resnet18.medmnist_28` ({_extractor_facts()}); training it to convergence (and reporting "
             "its validation and test accuracy beside MedMNIST v2's ResNet-18) did not fit this session's CPU budget and "
             "is pending, so every FID on this page is in that space.\n",
             _figure(files, "feature_sanity.png", "FID and KID against blur, noise and mode dropping")]
    if v.empty:
        return "\n".join(parts + ["*Not measured yet (stage `sanity`).*\n"])
    body = [(r.dataset, esc(r.space), r.degradation, r.metric.upper(), r.seeds, esc(", ".join(f"{x:.4g}" for x in r.means)),
             "yes" if r.monotone else "**no**") for r in v.itertuples()]
    parts.append(table(["Dataset", "Space", "Degradation", "Metric", "Seeds", "Mean at each level", "Monotone"], body))
    return "\n".join(parts)


def _memorization() -> str:
    t = report.memorization_table()
    parts = ["## Memorization\n",
             "For every bundled 28 px model: generated images (the train split's size, at most "
             f"{memorization.MAX_GENERATED}; conditional models in its class proportions) against the real train, test "
             "and validation splits, in pixels and medzoo-resnet18 features. C_T is the data-copying statistic of "
             "Meehan, Chaudhuri and Dasgupta (AISTATS 2020): k-means cells of the training data, a z-scored Mann-Whitney "
             "test per cell of the generated images' nearest-training distances against the test images', weighted by "
             "the test images per cell; the validation images (never trained on) give each statistic's reference value. "
             f"Flag `copies`: C_T < -{memorization.CT_COPY:g} and {memorization.CT_COPY:g} below the validation images' C_T "
             "(a test split that differs from the train split moves both), or a share of samples nearer a training image "
             "than the training images' own 5th-percentile neighbour distance at least twice the validation images' and "
             "above 10%. `underfits`: C_T above the mirror thresholds in every space. The verdict is written into each "
             "model's registry entry (`extra.memorization`) and card; each model page shows the 8 closest "
             "generated/training pairs. Rows: `reproductions/results/memorization.jsonl` "
             "(`python -m reproductions.evaluate.memorization`).\n"]
    if t.empty:
        return "\n".join(parts + ["*Not measured yet (stage `memorization`).*\n"])
    body = [(esc(r.model_id), f"**{r.verdict}**" if r.verdict == "copies" else r.verdict, r.n,
             f"{_f(r.ct_pixels, 2, True)} ({_f(r.ct_pixels_ref, 2, True)})", f"{_f(r.ct_features, 2, True)} ({_f(r.ct_features_ref, 2, True)})",
             f"{_f(r.closer_train_pixels)} ({_f(r.closer_train_pixels_ref)})", f"{_f(r.below_p5_features)} ({_f(r.below_p5_features_ref)})")
            for r in t.itertuples()]
    parts.append(table(["Model", "Verdict", "n", "C_T pixels (validation)", "C_T features (validation)",
                        "Share nearer train than test, pixels (validation)", "Share below train 5th pct., features (validation)"], body))
    parts.append("\nSuper-resolution (pix2pix) restores given test images, so its row gives the share of restored "
                 "images nearer a training image than their own target (bicubic upsampling as the reference).\n")
    return "\n".join(parts)


def _gate(files: dict[str, bytes]) -> str:
    g = report.gate_table()
    parts = ["## Quality gate\n"]
    if g.empty:
        return "\n".join(parts + ["*No generator arm has run yet.*\n"])
    failed = g[~g["passed"]]
    body = [(r.dataset, f"{r.fraction:g}", r.seed, esc(r.arm), esc(r.generator_id), _f(r.cas_auc), "passed" if r.passed else "**failed**")
            for r in g.itertuples()]
    parts.append(f"{len(g) - len(failed)} of {len(g)} generators passed; failing generators: "
                 + (", ".join(f"`{m}`" for m in failed["generator_id"]) if len(failed) else "none") + ".\n")
    rate = g.assign(arm=g["arm"].where(~g["arm"].str.startswith(utility.PRIVILEGED), "privileged-gan (zoo ACGAN)"))
    rate = rate.groupby(["dataset", "arm", "fraction"])["passed"].agg(["sum", "count"]).reset_index()
    fractions = sorted(rate["fraction"].unique())
    summary = [(d, esc(a), *(next((f"{int(r['sum'])}/{int(r['count'])}" for _, r in h[h["fraction"] == f].iterrows()), "–")
                             for f in fractions)) for (d, a), h in rate.groupby(["dataset", "arm"], sort=True)]
    parts.append("Generators that passed, of those trained (one per seed), per fraction:\n")
    parts.append(table(["Dataset", "Arm", *(f"{f:.0%}" for f in fractions)], summary))
    parts.append("Every generator:\n")
    parts.append(table(["Dataset", "Fraction", "Seed", "Arm", "Generator", "CAS AUC (validation subset)", "Gate"], body))
    parts.append("What the gate judged: per dataset, the real subset of one group (the largest fraction below 100% at seed "
                 "0) beside samples of the very generators its arms used (checked against the sha256 in their rows).\n")
    parts += [_figure(files, f"study_samples_{d}.png", f"{d}: real subset and its generators' samples")
              for d in DATASETS if (RESULTS_DIR / f"study_samples_{d}.png").is_file()]
    return "\n".join(parts)


def _v1(files: dict[str, bytes]) -> str:
    parts = ["## The earlier, flawed protocol (kept for the record)\n",
             "!!! warning \"Not evidence for augmentation\"\n    These rows (`reproductions/results/utility_v1_flawed.jsonl`) "
             "were measured before issue 14: at every fraction below 100% the GAN arm's ACGAN had been trained on the "
             "**full** train split (at 1% the classifier saw 5 BreastMNIST images, its generator 546), early stopping "
             "used the full validation split, subsets were not nested, the GAN arm got up to twice the optimizer steps, "
             "the RetinaMNIST ACGAN at chance (CAS AUC 0.51) was used, rows did not record the generator's weights, and "
             "some pairs mixed CPU and GPU runs. No gain in them can be credited to augmentation.\n"]
    for d in DATASETS:
        parts.append(_figure(files, f"utility_v1_{d}.png", f"{d}: earlier, flawed protocol"))
    g = report.v1_table()
    if not g.empty:
        parts.append("Their paired gains (intervals over seeds only: no per-image scores were stored):\n")
        parts.append(table(GAIN_HEAD, _gain_rows(g)))
    return "\n".join(parts)


def utility_page() -> tuple[str, dict[str, bytes]]:
    """The page and the figures it shows (copied from reproductions/results/, written by reproductions.evaluate.plots)."""
    files: dict[str, bytes] = {}
    rows = utility.load()
    parts = ["# Utility study\n",
             "Does a zoo augmenter make a downstream classifier better, and by how much when real data is scarce? A "
             "classifier (`classifier.Recipe`: timm ResNet-18 at quarter width) is trained on 1%, 5%, 10%, 25% and 100% "
             "of the official train split, without augmentation, with classical augmentation, and with synthetic images "
             "from generators that saw only the classifier's own images; AUC and ACC on the official test split. This "
             "page follows issue 14's fair protocol; the earlier protocol's rows are kept at the end, labelled as flawed.\n",
             _protocol(), _status(rows)]
    parts.append("## Gain over no augmentation\n")
    if rows.empty:
        parts.append("*No cell of the fair protocol has run yet* (stage `utility`). Until it has, this page makes no "
                     "claim that augmentation helps or hurts.\n")
    else:
        g = report.paired_table()
        fair, priv = g[g["table"] == "fair"], g[g["table"] == "privileged"]
        parts.append(table(GAIN_HEAD, _gain_rows(fair)) if not fair.empty else "*No fair arm has a paired cell yet.*\n")
        helps, hurts = fair[fair["verdict"] == "helps"], fair[fair["verdict"] == "hurts"]
        parts.append(f"\nAfter Holm's correction, {len(helps)} cell(s) show a gain and {len(hurts)} a loss; "
                     f"{len(fair) - len(helps) - len(hurts)} show no detectable difference (or too few seeds yet).\n")
        for d in DATASETS:
            if (RESULTS_DIR / f"gains_{d}.png").is_file():
                parts.append(_figure(files, f"gains_{d}.png", f"{d}: paired gains over no augmentation"))
            if (RESULTS_DIR / f"utility_{d}.png").is_file():
                parts.append(_figure(files, f"utility_{d}.png", f"{d}: test AUC and ACC per arm"))
        parts.append("### Privileged arms (upper bound, not augmentation)\n")
        parts.append(table(GAIN_HEAD, _gain_rows(priv)) if not priv.empty else "*None run yet.*\n")
        s = utility.summary()
        ref = s[(s["fraction"] == 1.0) & (s["arm"] == "none")]
        if not ref.empty:
            parts += ["### Against the published MedMNIST v2 ResNet-18 (28)\n",
                      "The published model is full width and trained 100 epochs; this recipe is cheaper, so the difference "
                      "also measures the recipe.\n",
                      table(["Dataset", "AUC here", "published", "ACC here", "published"],
                            [(r.dataset, f"{r.auc:.3f}", utility.PUBLISHED[r.dataset][0], f"{r.acc:.3f}", utility.PUBLISHED[r.dataset][1])
                             for r in ref.itertuples() if r.dataset in utility.PUBLISHED])]
    parts += [_gate(files), _fidelity(files), _sanity(files), _cross_space(), _memorization(), _v1(files)]
    named = [("utility.jsonl", read_jsonl(utility.cells_path())), ("fidelity.jsonl", read_jsonl(equal_n.rows_path())),
             ("sanity.jsonl", read_jsonl(sanity.rows_path())), ("memorization.jsonl", read_jsonl(memorization.rows_path())),
             ("utility_v1_flawed.jsonl", read_jsonl(utility.V1_FLAWED))]
    parts += ["## Provenance\n", "Every row records the command, commit, hardware and seconds that produced it; the "
              "figures are written from these rows by `python -m reproductions.evaluate.plots` (and "
              "`python -m reproductions.evaluate.sanity` for the sanity figure).\n", _provenance(named), ""]
    return "\n".join(parts), files


def _ci(c: Any) -> str:
    return f"[{c[0]:+.3f}, {c[1]:+.3f}]" if isinstance(c, (list, tuple)) and not any(map(pd.isna, c)) else "–"


def _arm_rows(t: pd.DataFrame, metric: str) -> list[tuple]:
    return [(f"{100 * r.fraction:g}%", esc(r.arm), r.seeds, r.n_test,
             f"{getattr(r, metric):.3f}" + ("" if pd.isna(getattr(r, f"{metric}_ci95")) else f" ± {getattr(r, f'{metric}_ci95'):.3f}"),
             "–" if r.arm == "none" else f"{r.gain:+.3f}", _ci(r.gain_ci95), "–" if pd.isna(r.p) else f"{r.p:.3f}",
             "–" if pd.isna(r.p_holm) else f"{r.p_holm:.3f}", r.verdict or "–") for r in t.itertuples()]


def _arm_section(rows: list[dict[str, Any]], t: pd.DataFrame, metric: str, name: str, files: dict[str, bytes],
                 figure: str, caption: str, command: str) -> list[str]:
    """One task's table of arms and paired gains, its figure and its generators, or a line saying no cell has run."""
    if not rows:
        return [f"*No cell has run yet* (`{command}`); this section makes no claim until one has.\n"]
    gens = sorted({(r["fraction"], r["generator_id"], r["generator_subset_sha256"][:12], r.get("generator_steps", ""))
                   for r in rows if r.get("generator_id")})
    return [table(["Fraction", "Arm", "Seeds", "Test images", f"{name} ± 95% CI (seeds)", f"Δ{name}",
                   "95% CI (paired, seeds)", "p", "p (Holm)", "Verdict"], _arm_rows(t, metric)),
            "\nIntervals are Student-t over seeds, paired by seed for the gains; Holm's correction runs across the "
            "cells of this table. With fewer than two seeds a cell has no interval.\n",
            _figure(files, figure, caption), "\nGenerators of the synthetic arms:\n",
            table(["Fraction", "Generator", "Trained on subset (sha256)", "Steps"],
                  [(f"{100 * f:g}%", f"`{g}`", f"`{h}`", st) for f, g, h, st in gens]) if gens else "*None used yet.*\n"]


def utility_highres_page() -> tuple[str, dict[str, bytes]]:
    """utility-128.md: BUSI lesion segmentation and chest X-ray classification at 128 px under the fair protocol,
    from utility_highres.jsonl and utility_chestxray.jsonl."""
    files: dict[str, bytes] = {}
    seg_rows = read_jsonl(utility_highres.rows_path())
    cls_rows = read_jsonl(utility_chestxray.rows_path())
    parts = ["# Utility at 128 px\n",
             "Does a 128 px augmenter make a downstream model better? Two tasks, each trained on a nested, stratified "
             "fraction of the train split (validation split at the same fraction) in four arms: no augmentation, "
             "classical, synthetic and both, every arm for the same number of optimizer steps. The generator of the "
             "synthetic arms saw exactly the downstream model's training images: below 100% one trained on the subset "
             "(with the bundled model's recipe and step budget; the subset SPADEs train under bf16 autocast, the bundled one "
             "trained in float32), at 100% the bundled model, trained on the whole train "
             "split (checked by the split's sha256).\n",
             "## BUSI lesion segmentation (Dice)\n",
             f"{esc(utility_highres.SegRecipe().describe())}; classical: flips and small affine changes "
             "of image and mask together; synthetic: half of each batch is SPADE image + mask pairs. Dice on BUSI's "
             "test split.\n",
             *_arm_section(seg_rows, utility_highres.summary() if seg_rows else pd.DataFrame(), "dice", "Dice", files,
                           "utility_highres.png", "BUSI segmentation at 128 px: Dice per arm and paired gains",
                           "python -m reproductions.evaluate.utility_highres"),
             "## Chest X-ray classification (AUC)\n",
             f"{esc(utility_chestxray.describe())}; classical: horizontal flip, rotation within 10 degrees, "
             "brightness/contrast 10%; synthetic: as many class-conditional FastGAN images as real ones, in the "
             "subset's class proportions. AUC on the official test split (234 normal, 390 pneumonia).\n",
             *_arm_section(cls_rows, utility_chestxray.summary() if cls_rows else pd.DataFrame(), "auc", "AUC", files,
                           "utility_chestxray.png", "Chest X-ray classification at 128 px: AUC per arm and paired gains",
                           "python -m reproductions.evaluate.utility_chestxray"),
             "\n## Provenance\n", _provenance([("utility_highres.jsonl", seg_rows), ("utility_chestxray.jsonl", cls_rows)])]
    return "\n".join(parts), files


def pages() -> dict[str, str | bytes]:
    """utility.md and utility-128.md with their figures, and benchmarks.md rendered from bench/results/*.json."""
    text, files = utility_page()
    text128, files128 = utility_highres_page()
    return {"utility.md": text, **files, "utility-128.md": text128, **files128, "benchmarks.md": render(BENCH_RESULTS)}
