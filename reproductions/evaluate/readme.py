"""The README's claims about the fair 28 px utility study, written from the stored rows.

`medzoo utility readme` rewrites the block between START and END in README.md from reproductions/results/utility.jsonl
(paired gains over no augmentation, 95% t intervals over seeds, Holm-adjusted verdicts, how much of the study has run);
`--check` exits 1 when the README no longer says what the rows say, so a claim cannot outlive the rows behind it.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import pandas as pd

from reproductions.common.data import REPO_ROOT
from reproductions.evaluate.stats import MIN_PAIRS

README = REPO_ROOT / "README.md"
START = "<!-- utility-study:start: written by `medzoo utility readme` from reproductions/results/utility.jsonl; do not edit -->"
END = "<!-- utility-study:end -->"
DATASETS = ("breastmnist", "retinamnist", "pneumoniamnist")


def progress(rows: pd.DataFrame) -> dict[str, int]:
    """Groups (dataset, fraction, seed) planned and complete (every planned arm stored), all and with generator arms."""
    from reproductions.evaluate import utility

    planned: dict[tuple, set[str]] = {}
    for c in utility.plan(DATASETS, privileged=False):
        planned.setdefault(c.group, set()).add(c.arm)
    stored: dict[tuple, set[str]] = {}
    for r in rows.itertuples() if not rows.empty else ():
        stored.setdefault((r.dataset, r.fraction, r.seed), set()).add(r.arm)
    done = [g for g, arms in planned.items() if arms <= stored.get(g, set())]
    with_gen = [g for g, arms in planned.items() if not arms <= set(utility.NO_GENERATOR)]
    return {"groups": len(planned), "complete": len(done), "generator_groups": len(with_gen),
            "generator_complete": len(set(done) & set(with_gen))}


def _cell(r: pd.Series) -> str:
    text = f"{r.gain:+.3f}"
    if r.pairs >= 2:
        text += f" [{r.gain - r.gain_ci95:+.3f}, {r.gain + r.gain_ci95:+.3f}]"
    text += f" n={r.pairs}" + (f", {r.gate_failed} gated out" if r.gate_failed else "")
    mark = {"helps": " ↑", "hurts": " ↓"}.get(r.verdict, "")
    return f"**{text}{mark}**" if mark else text


def gain_matrix(gains: pd.DataFrame) -> pd.DataFrame:
    """Fair arms' paired AUC gains (from stats.gains) as one row per (dataset, arm), one text column per fraction."""
    from reproductions.evaluate.utility import FRACTIONS, arms

    fair = gains[gains["table"] == "fair"]
    out = []
    for d in DATASETS:
        for arm in arms(d, privileged=False)[1:]:  # the study's arms in run order, `none` (the baseline) left out
            g = fair[(fair["dataset"] == d) & (fair["arm"] == arm)]
            if g.empty:
                continue
            by = {float(r.fraction): _cell(r) for r in g.itertuples()}
            out.append({"dataset": d, "arm": arm, **{f"{f:.0%}": by.get(f, "–") for f in FRACTIONS}})
    return pd.DataFrame(out)


def _verdicts(fair: pd.DataFrame, verdict: str) -> str:
    hits = fair[fair["verdict"] == verdict]
    return "; ".join(f"{r.dataset} {r.arm} at {r.fraction:.0%} ({r.gain:+.3f})" for r in hits.itertuples()) or "none"


def block(path: Optional[Path] = None) -> str:
    """The README's block (markers included) for the rows in `path` (default: the study's cell file)."""
    from reproductions.evaluate import utility
    from reproductions.evaluate.report import paired_table

    rows = utility.load(path)
    p = progress(rows)
    lines = [START, "",
             f"**Where the fair 28 px study stands** (from {len(rows)} stored cells): {p['complete']} of {p['groups']} "
             f"groups (dataset, fraction, classifier seed) complete, {p['generator_complete']} of the "
             f"{p['generator_groups']} that include generator arms. Gain in test AUC over no augmentation, paired by "
             "seed: mean [95% t interval over seeds], n = seed pairs; bold with an arrow where Holm's correction "
             f"(within each dataset, over the cells with at least {MIN_PAIRS} pairs) leaves p < 0.05; 'gated out': seeds whose generator failed the quality gate, so the "
             "arm trained without it. Bootstrap intervals over test images: `medzoo utility report`.", ""]
    g = paired_table(path=path, b=0)
    fair = g[g["table"] == "fair"] if not g.empty else g
    if fair.empty:
        lines += ["No fair arm has a paired cell yet: medzoo makes no claim that augmentation helps or hurts.", ""]
    else:
        m = gain_matrix(g)
        lines += ["| " + " | ".join(m.columns) + " |", "|" + "---|" * len(m.columns)]
        lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in m.itertuples(index=False)]
        counts = fair["verdict"].value_counts()
        lines += ["", f"After Holm's correction, augmentation helps in: {_verdicts(fair, 'helps')}. It hurts in: "
                  f"{_verdicts(fair, 'hurts')}. Of the {len(fair)} cells, {counts.get('no detectable difference', 0)} show "
                  f"no detectable difference and {counts.get('too few seeds', 0)} have fewer than {MIN_PAIRS} seed pairs, "
                  "too few to test (they are not in Holm's family).", ""]
    return "\n".join([*lines, END])


def rewrite(text: str, new_block: str) -> str:
    """`text` with its block between START and END replaced; ValueError when the markers are missing or out of order."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"the README has no block between '{START[:30]}...' and '{END}'")
    return text[:i] + new_block + text[j + len(END):]


def write(readme: Path = README, path: Optional[Path] = None) -> bool:
    """Rewrite the README's block from the rows; True when it changed. Written to a temporary file, then moved."""
    old = readme.read_text(encoding="utf-8")
    new = rewrite(old, block(path))
    if new == old:
        return False
    tmp = readme.with_name(f".{readme.name}.tmp")
    try:
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, readme)
    except OSError as e:
        with contextlib.suppress(OSError):  # a read-only folder refuses the unlink too
            tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(readme)) from None
    return True
