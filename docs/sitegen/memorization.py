"""The memorization section of a model page: verdict, statistics and the closest generated/training pairs."""
from __future__ import annotations

from typing import Optional

from reproductions.common.data import REPO_ROOT
from reproductions.evaluate import memorization
from reproductions.evaluate.results import generator_facts, is_current
from sitegen.md import esc, rel, table


def picture_path(model_id: str) -> str:
    """Where the closest-pairs picture lives, beside the model's page."""
    return f"models/{model_id}/memorization.png"


def block(model_id: str, src: str) -> tuple[str, Optional[bytes]]:
    """(Markdown of the model page's memorization section, the closest-pairs PNG or None)."""
    from zoo.registry import entries

    facts = generator_facts(model_id) if model_id in entries() else None
    rows = [r for r in memorization.latest_rows().get(model_id, []) if facts and r.get("generator_sha256") and is_current(r, facts)]
    if not rows:
        return "*Not checked yet for these weights* (`python -m reproductions.evaluate.memorization`).\n", None
    lines = [f"Verdict: **{esc(memorization.verdict(rows))}** — the check of the "
             f"[utility study page]({rel(src, 'utility.md')}#memorization) (Meehan et al.'s data-copying statistic C_T; "
             "C_T well below the validation images' value means the samples sit closer to the training images than "
             "held-out images do).\n"]
    body = []
    for r in rows:
        if r.get("ct") is not None:
            body.append((esc(r["space"]), f"{r['ct']:+.2f}", f"{r['ct_reference']:+.2f}", f"{r['share_closer_to_train']:.1%}",
                         f"{r['share_closer_to_train_reference']:.1%}", f"{r['share_below_train_p5']:.1%}",
                         f"{r['share_below_train_p5_reference']:.1%}", r["n_generated"]))
        else:
            body.append((esc(r["space"]), "n/a", "n/a", f"{r['share_closer_to_train_than_target']:.1%} (than own target)",
                         f"{r['share_closer_to_train_than_target_reference']:.1%} (bicubic)", "n/a", "n/a", r["n_generated"]))
    lines.append(table(["Space", "C_T", "C_T of validation images", "Nearer train than test", "(validation)",
                        "Below train 5th pct.", "(validation)", "n"], body))
    pic = next((r.get("picture") for r in rows if r.get("picture")), None)
    data = None
    if pic and (REPO_ROOT / pic).is_file():
        data = (REPO_ROOT / pic).read_bytes()
        lines.append(f"![The 8 generated images of {esc(model_id)} nearest a training image, above those training images]"
                     "(memorization.png)\n")
    r0 = rows[0]
    lines.append(f"Measured at commit `{str(r0['commit'])[:12]}` on {esc(r0['hardware'])} by `{esc(r0['command'])}`.\n")
    return "\n".join(lines), data
