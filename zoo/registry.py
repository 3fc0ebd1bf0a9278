"""The model registry: every zoo model's facts, Hub repo, pinned revision and file checksums, in zoo/models.json.

Reading it never imports torch, so `medzoo models` and `zoo.list_models` are fast.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError

if TYPE_CHECKING:  # pandas is imported on use: `medzoo` catalog commands never need it
    import pandas as pd

ZOO_DIR = Path(__file__).resolve().parent


def registry_path() -> Path:
    """The registry file: $MEDZOO_REGISTRY (a private zoo, or a test's), else zoo/models.json in the package."""
    return Path(os.environ.get("MEDZOO_REGISTRY") or ZOO_DIR / "models.json")


def pretrained_dir() -> Path:
    """Folder of bundled model folders: `pretrained/` beside the registry file."""
    return registry_path().parent / "pretrained"


def local_models_dir() -> Path:
    """Folder of model folders fetched by the user (`hf download REPO --local-dir <this>/<id>`): the `models` folder
    of the medzoo user-data folder ($MEDZOO_USER_DATA, else the platform's, e.g. ~/.local/share/medzoo)."""
    from catalog.sources import user_data_root  # the one place that says where medzoo's user data lives

    return user_data_root() / "models"


MODEL_FILES = ("config.json", "model.safetensors", "README.md")
# The size rule of the wheel (README "Installing"): a model whose model.safetensors is at most this size is bundled in
# the package (offline by default); a larger one is resolved through the Hugging Face cache or a pinned download. The
# bundled folders together must stay under BUNDLE_BUDGET so the wheel stays under PyPI's 100 MB per file
# (tests/test_install.py checks both against the registry and the built wheel).
BUNDLE_MAX_BYTES = 20 * 1024 * 1024  # issue 19: every generator <= 20 MB in fp16 ships bundled
BUNDLE_BUDGET = 80 * 1024 * 1024
HUB_ORG = "medzoo"
FILTERS = ("family", "dataset", "organ", "modality", "task")


@dataclass
class ModelEntry:
    """One registered model."""

    model_id: str
    family: str
    arch: str
    dataset: str
    organ: str
    modality: str
    task: str
    resolution: int
    channels: int
    num_classes: int
    class_names: list[str]
    license: str
    papers: list[str]
    params: int
    hub_repo: str
    revision: str | None
    files: dict[str, str]  # file name -> sha256
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    bundled: bool = True  # shipped inside the wheel (zoo/pretrained/<id>/); False: Hugging Face cache or download


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read() -> dict[str, dict[str, Any]]:
    path = registry_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def entries() -> dict[str, ModelEntry]:
    """Every registered model, by id (an entry with an unsafe id is refused, naming the registry file)."""
    out = {}
    for k, v in _read().items():
        try:
            out[check_model_id(k)] = ModelEntry(**v)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{registry_path()}: entry {k!r} is invalid: {e}") from None
    return out


class UnknownModelError(KeyError):
    """A model id that is not registered: names close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*\.[a-z0-9][a-z0-9_\-]*$")


def check_model_id(model_id: str) -> str:
    """Refuse ids that could name a path: only `arch.tag` with lower-case letters, digits, '_' and '-'."""
    if not isinstance(model_id, str) or not MODEL_ID.match(model_id):
        raise InputError(f"model id {model_id!r} is not of the form arch.tag (lower-case letters, digits, '_', '-')")
    return model_id


def get(model_id: str) -> ModelEntry:
    """The entry of `model_id`; UnknownModelError with close matches otherwise."""
    check_model_id(model_id)
    known = entries()
    if model_id in known:
        return known[model_id]
    close = difflib.get_close_matches(str(model_id), known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"unknown model {model_id!r}.{hint} `medzoo models` lists the {len(known)} registered models.")


def list_models(**filters: str | None) -> "pd.DataFrame":
    """Registered models as a DataFrame, filtered by family, dataset, organ, modality and task (case-insensitive)."""
    import pandas as pd

    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise InputError(f"unknown filter {sorted(unknown)[0]!r}; filter by {', '.join(FILTERS)}")
    rows = [asdict(e) for e in entries().values()]
    cols = ["model_id", "family", "dataset", "organ", "modality", "task", "resolution", "channels", "num_classes",
            "params", "license", "papers", "hub_repo", "revision", "bundled"]
    df = pd.DataFrame(rows, columns=[*cols, "class_names", "files", "summary", "arch", "extra"])
    for k, v in filters.items():
        if v is not None:
            df = df[df[k].str.lower() == str(v).lower()]
    return df[cols].sort_values("model_id").reset_index(drop=True)


def models_for(doi: str) -> "pd.DataFrame":
    """Models that reproduce the paper with this DOI."""
    d = str(doi).strip().lower().removeprefix("https://doi.org/")
    df = list_models()
    return df[df["papers"].apply(lambda ps: d in [p.lower() for p in ps])].reset_index(drop=True)


def entry_from_folder(folder: Path, revision: str | None = None, hub_repo: str | None = None) -> ModelEntry:
    """A registry entry describing an exported model folder, with the sha256 of each of its files."""
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}; export the model again")
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as f:
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    known = {"model_id", "arch", "family", "dataset", "organ", "modality", "task", "resolution", "channels",
             "num_classes", "class_names", "license", "papers", "summary", "training", "arch_kwargs"}
    return ModelEntry(
        model_id=cfg["model_id"], family=cfg["family"], arch=cfg["arch"], dataset=cfg["dataset"], organ=cfg["organ"],
        modality=cfg["modality"], task=cfg["task"], resolution=int(cfg["resolution"]), channels=int(cfg["channels"]),
        num_classes=int(cfg.get("num_classes") or 0), class_names=list(cfg.get("class_names") or []),
        license=cfg["license"], papers=list(cfg.get("papers") or []), params=params,
        hub_repo=hub_repo or f"{HUB_ORG}/{cfg['model_id']}", revision=revision,
        files={name: sha256_file(folder / name) for name in MODEL_FILES}, summary=cfg.get("summary", ""),
        extra={k: v for k, v in cfg.items() if k not in known}, bundled=bundle_rule(folder),
    )


def bundle_rule(folder: Path) -> bool:
    """Whether a model folder is shipped in the wheel: its model.safetensors is at most BUNDLE_MAX_BYTES."""
    return (folder / "model.safetensors").stat().st_size <= BUNDLE_MAX_BYTES


def register(entry: ModelEntry) -> None:
    """Add or replace an entry in zoo/models.json (written to a temporary file, then renamed)."""
    check_model_id(entry.model_id)
    data = _read()
    data[entry.model_id] = asdict(entry)
    path = registry_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
