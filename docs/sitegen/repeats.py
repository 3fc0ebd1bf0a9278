"""The "Repeated on medzoo's data" section of a paper page: the paper's own figures beside ours in its setting and
under the fair protocol (reproductions/evaluate/papers), with the setting's stated and changed parts and the runs' facts."""
from __future__ import annotations

import math

from sitegen.md import bullets, esc, table


def _cell(mean: object, half: object, gain: object = None, gain_half: object = None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "not run"
    out = f"{mean:.1f}%"
    if half is not None and not math.isnan(half):
        out += f" ± {half:.1f}"
    if gain is not None and not math.isnan(gain):
        out += f" ({gain:+.1f}" + (f" ± {gain_half:.1f}" if gain_half is not None and not math.isnan(gain_half) else "") + ")"
    return out


def section(key: str) -> str:
    """Markdown of the section for the paper `key`, or "" when no repeat of it exists."""
    from reproductions.evaluate.results import read_jsonl
    from reproductions.evaluate.papers import settings
    from reproductions.evaluate.papers.protocol import rows_path, table as repeat_table

    if key not in settings():
        return ""
    module, setting = settings()[key]
    cmd = f"python -m reproductions.evaluate.papers.{module}"
    out = ["## Repeated on medzoo's data\n",
           f"The paper's experiment with its {esc(setting.classifier)} classifier, run here on the {esc(setting.dataset)} "
           f"split of the zoo at {setting.resolution} px (`{cmd}`). Two columns of ours: the **paper's setting** (its "
           f"epochs over each arm's own images, its early stopping if any, its model selection: {setting.paper_selection} "
           "split) and the **fair protocol** (every arm trained for the steps of the paper's epochs over the real images "
           "alone, the epoch chosen on the validation split). "
           "The synthetic images come from a zoo generator trained on the train split only. Figures are test accuracy, "
           "mean ± the half-width of a 95% t-interval over seeds, and in brackets the gain over *none* paired by seed.\n",
           "**What the paper states**\n", bullets(map(esc, setting.stated), ""),
           "**What we chose or changed**\n", bullets(map(esc, setting.ours), "")]
    t = repeat_table(setting)
    rows = []
    for r in t.to_dict("records"):
        paper = "" if r.get("paper") is None or (isinstance(r.get("paper"), float) and math.isnan(r["paper"])) else f"{r['paper']:g}%"
        rows.append((esc(r["arm"]), paper,
                     _cell(r.get("paper_setting"), r.get("paper_setting_ci95"), r.get("paper_setting_gain"), r.get("paper_setting_gain_ci95")),
                     _cell(r.get("fair"), r.get("fair_ci95"), r.get("fair_gain"), r.get("fair_gain_ci95")),
                     "" if r.get("fair_seeds") is None or (isinstance(r.get("fair_seeds"), float) and math.isnan(r["fair_seeds"]))
                     else str(int(r["fair_seeds"]))))
    out.append(table(["Arm", "The paper", "Ours, paper's setting", "Ours, fair protocol", "Seeds"], rows))
    done = [r for r in read_jsonl(rows_path()) if r.get("paper") == key and r.get("setting") == setting.describe()]
    if done:
        n_test = done[0]["n_test"]
        commits = sorted({r["commit"][:7] for r in done})
        seconds = sum(r["seconds"] for r in done if r.get("selection") == "val" and not r.get("same_run_as_paper_budget"))
        out.append(f"Test split: {n_test} images. {len(done)} rows (one per arm, seed, budget and selection rule) in "
                   f"`reproductions/results/papers.jsonl`; commits {', '.join(commits)}; "
                   f"{esc('; '.join(sorted({r['hardware'] for r in done})))}; {seconds:.0f} s of training in all.\n")
    else:
        out.append(f"Not run yet: `{cmd}` writes the rows this table reads.\n")
    return "\n".join(out)

