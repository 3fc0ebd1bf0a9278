"""Image folders (chest_xray/, busi/, or a user's own): verified, split with near-duplicates kept together, resized.

Layouts: `ROOT/<class>/<image>` or `ROOT/<split>/<class>/<image>` (split in train/val/test); an optional
`<name>_mask.png` (or `_mask_1.png`, ...) beside an image is its lesion mask, and an image's mask is the union
of its mask files. A `MANIFEST.csv` with `path` and `sha256` columns, when present, is checked first.
Decoded, resized arrays are cached under `$MEDZOO_CACHE` (default ~/.cache/medzoo/data) by content hash.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.registry import sha256_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SPLIT_NAMES = ("train", "val", "test")
MASK_RE = re.compile(r"^(?P<stem>.+)_mask(?:_\d+)?$")
PHASH_MAX_BITS = 4  # perceptual hashes this close (of 64 bits) count as near-duplicates and stay on one side of a split


class FolderError(ValueError):
    """A folder cannot be read as a dataset; the message names the file and what is wrong."""


@dataclass
class Case:
    """One image of a folder: its path (relative to the root), class, official split if any, and mask files."""

    path: str
    label: int
    split: str | None = None
    masks: list[str] = field(default_factory=list)


@dataclass
class Folder:
    """A scanned folder: its classes (sorted sub-folder names) and cases in path order."""

    root: Path
    class_names: list[str]
    cases: list[Case]

    @property
    def has_masks(self) -> bool:
        return any(c.masks for c in self.cases)

    @property
    def has_official_split(self) -> bool:
        return any(c.split for c in self.cases)


def cache_dir() -> Path:
    """Where decoded arrays and split records are cached: $MEDZOO_CACHE, else ~/.cache/medzoo/data."""
    return Path(os.environ.get("MEDZOO_CACHE") or Path.home() / ".cache" / "medzoo" / "data")


def verify_manifest(root: Path) -> int:
    """Check every file listed in ROOT/MANIFEST.csv exists with its sha256; return how many were checked."""
    manifest = root / "MANIFEST.csv"
    if not manifest.is_file():
        return 0
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "path" not in rows[0] or "sha256" not in rows[0]:
        raise FolderError(f"{manifest}: needs the columns path and sha256")
    for row in rows:
        path = root / row["path"]
        if not path.is_file():
            raise FolderError(f"missing file {path} (listed in {manifest})")
        digest = sha256_file(path)
        if digest != row["sha256"]:
            raise FolderError(f"changed file {path}: sha256 {digest} != {row['sha256']} in {manifest}")
    return len(rows)


def scan(root: str | os.PathLike) -> Folder:
    """Read a folder's layout: classes, images, masks, official split; a clear error for a folder that is not one."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"no such folder: {root}")
    tops = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = [p for p in tops if p.name.lower() in SPLIT_NAMES]
    groups = [(p.name.lower(), p) for p in split_dirs] if split_dirs else [(None, root)]
    class_names = sorted({c.name for _, g in groups for c in g.iterdir() if c.is_dir() and not c.name.startswith(".")})
    if not class_names:
        raise FolderError(f"{root} has no class sub-folders (expected ROOT/<class>/<image> or ROOT/<split>/<class>/<image>)")
    cases: list[Case] = []
    for split, g in groups:
        for label, cls in enumerate(class_names):
            d = g / cls
            if not d.is_dir():
                continue
            files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            images = {p.stem: p for p in files if not MASK_RE.match(p.stem)}
            by_stem: dict[str, Case] = {}
            for stem, p in sorted(images.items()):
                by_stem[stem] = Case(p.relative_to(root).as_posix(), label, split)
            for p in files:
                m = MASK_RE.match(p.stem)
                if not m:
                    continue
                owner = by_stem.get(m.group("stem"))
                if owner is None:
                    raise FolderError(f"mask without an image: {p} (expected {m.group('stem')}.<ext> beside it)")
                owner.masks.append(p.relative_to(root).as_posix())
            cases.extend(by_stem.values())
    if not cases:
        raise FolderError(f"{root} holds no images ({', '.join(IMAGE_SUFFIXES)}) in its class sub-folders")
    return Folder(root, class_names, cases)


def _open(path: Path, mode: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise FolderError(f"unreadable image {path}: {e}") from None


def _resize(im, size: int | None):
    from PIL import Image

    if size is None or im.size == (size, size):
        return im
    return im.resize((size, size), Image.Resampling.BILINEAR)  # antialiased when shrinking


def decode_images(folder: Folder, resolution: int | None, channels: int = 1) -> dict[str, np.ndarray]:
    """uint8 images (N, C, R, R), labels (N,) and masks (N, 1, R, R) when the folder has masks, in case order.

    Without a resolution every image must have the same size; an error names two files that differ.
    """
    mode = "L" if channels == 1 else "RGB"
    imgs, masks = [], []
    first: tuple[str, tuple[int, int]] | None = None
    for case in folder.cases:
        im = _open(folder.root / case.path, mode)
        if resolution is None:
            if first is None:
                first = (case.path, im.size)
            elif im.size != first[1]:
                raise FolderError(
                    f"images differ in size: {folder.root / first[0]} is {first[1][0]}x{first[1][1]}, "
                    f"{folder.root / case.path} is {im.size[0]}x{im.size[1]}; pass --resolution R to resize them"
                )
        arr = np.asarray(_resize(im, resolution), dtype=np.uint8)
        imgs.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        if folder.has_masks:
            union = np.zeros(arr.shape[:2], dtype=bool)
            for mp in case.masks:
                mk = _open(folder.root / mp, "L")
                if mk.size != im.size and resolution is None:
                    raise FolderError(f"mask {folder.root / mp} is {mk.size[0]}x{mk.size[1]}, its image is {im.size[0]}x{im.size[1]}")
                # binarise at full size, then resize the 0/255 mask and threshold: the union of all lesion files
                mk = mk.point(lambda v: 255 if v > 0 else 0)
                union |= np.asarray(_resize(mk, resolution)) > 127
            masks.append(union[None].astype(np.uint8))
    out = {"images": np.stack(imgs), "labels": np.array([c.label for c in folder.cases], dtype=np.int64)}
    if folder.has_masks:
        out["masks"] = np.stack(masks)
    return out


def phash(image: np.ndarray) -> int:
    """64-bit perceptual hash (DCT of a 32x32 thumbnail, 8x8 low frequencies above their median)."""
    from PIL import Image

    small = np.asarray(Image.fromarray(image).resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float64)
    k = np.arange(32)
    basis = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 64)
    low = (basis @ small @ basis.T)[:8, :8].reshape(-1)
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def duplicate_groups(hashes: list[int], max_bits: int = PHASH_MAX_BITS) -> np.ndarray:
    """Group id per image: images whose hashes differ in <= max_bits bits (transitively) share a group."""
    n = len(hashes)
    h = np.array(hashes, dtype=np.uint64)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        x = np.bitwise_xor(h[i + 1 :], h[i])
        dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        for j in np.nonzero(dist <= max_bits)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)])


def stratified_group_split(labels: np.ndarray, groups: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Indices per split: whole groups assigned, per class (a group's class is its most common label), to the split
    furthest below its target share; group order is a seeded permutation, so the split is a function of the seed."""
    rng = np.random.default_rng(seed)
    names = list(fractions)
    out: dict[str, list[int]] = {s: [] for s in names}
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(int(g), []).append(i)
    group_ids = np.array(sorted(members))
    group_ids = group_ids[rng.permutation(len(group_ids))]
    group_class = {g: int(np.bincount(labels[members[g]]).argmax()) for g in group_ids}
    for cls in sorted(set(group_class.values())):
        gs = [g for g in group_ids if group_class[g] == cls]
        total = sum(len(members[g]) for g in gs)
        have = {s: 0 for s in names}
        for g in gs:
            s = min(names, key=lambda s: (have[s] - fractions[s] * total) / max(fractions[s], 1e-9))
            out[s].extend(members[g])
            have[s] += len(members[g])
    return {s: np.array(sorted(v), dtype=np.int64) for s, v in out.items()}


@dataclass
class SplitRecord:
    """A recorded split: which case paths each split holds, how it was made, and its sha256."""

    seed: int
    method: str
    splits: dict[str, list[str]]
    duplicate_groups: int
    cross_split_duplicates: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.splits, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "method": self.method, "sha256": self.sha256,
                           "duplicate_groups": self.duplicate_groups, "cross_split_duplicates": self.cross_split_duplicates,
                           "counts": {k: len(v) for k, v in self.splits.items()}, "splits": self.splits}, indent=1)


def make_split(folder: Folder, images: np.ndarray, seed: int = 0, val: float = 0.1, test: float = 0.2) -> SplitRecord:
    """Seeded stratified split with near-duplicates (perceptual hash) on one side.

    A folder with an official split keeps its test (and val, if present) and carves a validation set from train;
    otherwise train/val/test = 1 - val - test / val / test.
    """
    labels = np.array([c.label for c in folder.cases])
    groups = duplicate_groups([phash(im[0]) for im in images])
    n_groups = len(set(groups.tolist()))
    paths = [c.path for c in folder.cases]
    if folder.has_official_split:
        official = np.array([c.split or "train" for c in folder.cases])
        train_idx = np.nonzero(official == "train")[0]
        splits = {s: [paths[i] for i in np.nonzero(official == s)[0]] for s in ("val", "test") if (official == s).any()}
        if "val" not in splits:
            part = stratified_group_split(labels[train_idx], groups[train_idx], {"train": 1 - val, "val": val}, seed)
            splits = {"train": [paths[train_idx[i]] for i in part["train"]], "val": [paths[train_idx[i]] for i in part["val"]],
                      **splits}
        else:
            splits["train"] = [paths[i] for i in train_idx]
        method = f"official test split kept; validation {val:.0%} of train, stratified, near-duplicate groups kept together"
    else:
        part = stratified_group_split(labels, groups, {"train": 1 - val - test, "val": val, "test": test}, seed)
        splits = {s: [paths[i] for i in idx] for s, idx in part.items()}
        method = f"stratified train/val/test {1 - val - test:.0%}/{val:.0%}/{test:.0%}, near-duplicate groups kept together"
    where = {p: s for s, ps in splits.items() for p in ps}
    by_group: dict[int, set[str]] = {}
    for p, g in zip(paths, groups):
        by_group.setdefault(int(g), set()).add(where[p])
    crossing = sum(1 for s in by_group.values() if len(s) > 1)
    return SplitRecord(seed, f"{method}; perceptual hash <= {PHASH_MAX_BITS} of 64 bits", splits, n_groups, crossing)


def _content_key(folder: Folder, resolution: int | None, channels: int) -> str:
    h = hashlib.sha256(f"{resolution}:{channels}:{folder.class_names}".encode())
    for c in folder.cases:
        for rel in (c.path, *c.masks):
            st = (folder.root / rel).stat()
            h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:20]


def load_folder(root: str | os.PathLike, resolution: int | None, channels: int = 1, seed: int = 0,
                verify: bool = True) -> tuple[Folder, dict[str, np.ndarray], SplitRecord]:
    """Scan, verify, decode (cached) and split a folder: (folder, arrays in case order, split record)."""
    root = Path(root)
    if verify:
        verify_manifest(root)
    folder = scan(root)
    key = _content_key(folder, resolution, channels)
    cached = cache_dir() / f"{root.name}-{key}.npz"
    if cached.is_file():
        with np.load(cached) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        arrays = decode_images(folder, resolution, channels)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cached)
    split_file = cache_dir() / f"{root.name}-{key}-split{seed}.json"
    if split_file.is_file():
        raw = json.loads(split_file.read_text())
        record = SplitRecord(raw["seed"], raw["method"], raw["splits"], raw["duplicate_groups"], raw["cross_split_duplicates"])
    else:
        record = make_split(folder, arrays["images"], seed)
        tmp = split_file.with_name(f".{split_file.name}.{os.getpid()}.tmp")
        tmp.write_text(record.to_json())
        os.replace(tmp, split_file)
    return folder, arrays, record


def split_arrays(folder: Folder, arrays: dict[str, np.ndarray], record: SplitRecord, split: str) -> dict[str, np.ndarray]:
    """The arrays of one split, in the record's order."""
    if split not in record.splits:
        raise FolderError(f"no {split!r} split in {folder.root}; splits: {', '.join(record.splits)}")
    index = {c.path: i for i, c in enumerate(folder.cases)}
    idx = np.array([index[p] for p in record.splits[split]], dtype=np.int64)
    return {k: v[idx] for k, v in arrays.items()}
