"""Stored evaluation rows: a row measured on weights or sampling settings a model no longer has (before a retrain, or
before its config.json changed a DDPM's precision) is kept in the file but no longer shown as the model's figure."""
from __future__ import annotations

import json

from reproductions.evaluate.results import load_rows
from zoo.registry import get


def test_rows_of_replaced_weights_are_kept_but_not_current(tmp_path):
    files = get("dcgan.pneumoniamnist_28").files
    current = files["model.safetensors"]
    rows = [{"model_id": "dcgan.pneumoniamnist_28", "metric": "fid", "value": 1.0, "generator_sha256": current},
            {"model_id": "dcgan.pneumoniamnist_28", "metric": "fid", "value": 2.0, "generator_sha256": current,
             "config_sha256": files["config.json"]},
            {"model_id": "dcgan.pneumoniamnist_28", "metric": "fid", "value": 3.0, "generator_sha256": current,
             "config_sha256": "2" * 64},  # same weights, other sampling settings
            {"model_id": "dcgan.pneumoniamnist_28", "metric": "fid", "value": 9.0, "generator_sha256": "0" * 64},
            {"model_id": "dcgan.pneumoniamnist_28", "metric": "kid_mean", "value": 0.1},  # older rows name no weights
            {"model_id": "real-train.pneumoniamnist", "metric": "fid", "value": 0.5, "generator_sha256": "1" * 64}]
    path = tmp_path / "evaluations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sorted(load_rows(path).value) == [0.1, 0.5, 1.0, 2.0]
    assert len(load_rows(path, current_only=False)) == 6
