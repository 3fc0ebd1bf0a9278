"""`medzoo app`: a local web app (Gradio, the optional extra `medzoo[app]`) to try the zoo's generators without
writing Python: pick a model, a class, a mask (mask models), a seed and a count, see the grid, download a zip.

It loads only registered zoo models (`zoo.load` with its sha256 checks), listens on 127.0.0.1 by default, and
sends nothing anywhere (Gradio's analytics off). Gradio and torch are imported when the command runs, never by
`medzoo` catalog commands.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    import numpy as np
    import torch

app = typer.Typer(help="A local app to try the zoo's generators.")

BALANCED = "all classes (balanced)"
BANK = "new masks from the model's bank"
MAX_COUNT = 64
GRID_WIDTH = 640  # px: grids of small images are enlarged (nearest neighbour) to about this width


class AppError(ValueError):
    """Bad input in the app: shown to the user as a message, never as a traceback."""


def generators() -> list[str]:
    """Ids of the registered models the app offers: every generator (translation models need input images)."""
    from zoo.registry import entries

    return sorted(k for k, e in entries().items() if e.task.endswith("synthesis"))


def is_mask_model(model_id: str) -> bool:
    """Whether the registered model makes image/mask pairs (judged from the registry, without loading it)."""
    from zoo.registry import get

    e = get(model_id)
    return e.task == "mask-conditional-synthesis" or e.arch == "spade"


def class_choices(model_id: str) -> list[str]:
    """The class menu of a model: balanced first, then 'i: name' per class; empty for unconditional models."""
    from zoo.registry import get

    e = get(model_id)
    names = e.class_names or [str(i) for i in range(e.num_classes)]
    return [BALANCED, *(f"{i}: {n}" for i, n in enumerate(names))] if e.num_classes else []


@dataclass
class Result:
    """What one click makes: uint8 images (N, C, H, W), masks (N, 1, H, W) or None, labels or None."""

    model_id: str
    images: "torch.Tensor"
    masks: "torch.Tensor | None"
    labels: "torch.Tensor | None"
    seed: int


class Generator:
    """Loads zoo models on first use (one at a time is kept) and generates with them."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: tuple[str, Any] | None = None

    def model(self, model_id: str) -> Any:
        if model_id not in generators():  # only registered generators, never a path or an hf:// repo
            raise AppError(f"{model_id!r} is not a generator in the zoo registry")
        if self._model is None or self._model[0] != model_id:
            import zoo

            self._model = (model_id, zoo.load(model_id, device=self.device))
        return self._model[1]

    def run(self, model_id: str, label: Optional[int], seed: int, count: int, mask: "np.ndarray | None" = None) -> Result:
        if not 1 <= count <= MAX_COUNT:
            raise AppError(f"count must be between 1 and {MAX_COUNT}, got {count}")
        if seed < 0:
            raise AppError(f"seed must be 0 or more, got {seed}")
        model = self.model(model_id)
        if not hasattr(model, "iter_pairs"):
            return Result(model_id, model.generate(count, labels=label, seed=seed), None, None if not model.num_classes
                          else model.check_labels(count, label), seed)
        masks = None if mask is None else mask_tensor(mask, model.resolution).expand(count, -1, -1, -1).clone()
        images, masks = model.generate(count, labels=label, seed=seed, masks=masks)
        return Result(model_id, images, masks, model.check_labels(count, label) if model.num_classes else None, seed)


def mask_tensor(mask: "np.ndarray", size: int) -> "torch.Tensor":
    """An uploaded mask (H, W[, C]) as a {0, 1} float tensor (1, 1, size, size): pixels above half intensity are the
    lesion; another size is resized with nearest neighbour."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2)
    if arr.ndim != 2 or arr.size == 0:
        raise AppError(f"the mask must be a 2-D image, got an array of shape {arr.shape}")
    t = torch.from_numpy(arr.astype("float32"))
    t = (t > (t.max() / 2 if t.max() > 1 else 0.5)).float()[None, None]
    if tuple(t.shape[-2:]) != (size, size):
        t = F.interpolate(t, size=(size, size), mode="nearest")
    return t


def grid_picture(images: "torch.Tensor", nrow: int = 8) -> "np.ndarray":
    """A sample grid (H, W, 3) uint8, enlarged with nearest neighbour to about GRID_WIDTH px."""
    from torchvision.utils import make_grid

    grid = make_grid(images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1), nrow=min(nrow, len(images)),
                     padding=2, pad_value=255)
    scale = max(1, GRID_WIDTH // grid.shape[-1])
    grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return grid.permute(1, 2, 0).numpy()


def _png(image: "torch.Tensor") -> bytes:
    from PIL import Image

    arr = image.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
    return buf.getvalue()


def write_zip(result: Result, folder: Path) -> Path:
    """images/<i>[_label<k>].png, their <name>_mask.png for mask models, and generation.json, as one zip file."""
    from zoo.registry import get

    e = get(result.model_id)
    path = folder / f"{result.model_id}_seed{result.seed}_n{len(result.images)}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, img in enumerate(result.images):
            name = f"{i:06d}" + (f"_label{int(result.labels[i])}" if result.labels is not None else "")
            z.writestr(f"images/{name}.png", _png(img))
            if result.masks is not None:
                z.writestr(f"images/{name}_mask.png", _png(result.masks[i] * 255))
        z.writestr("generation.json", json.dumps({
            "model_id": result.model_id, "model_sha256": e.files.get("model.safetensors"), "revision": e.revision,
            "seed": result.seed, "n": len(result.images), "masks": result.masks is not None,
            "labels": None if result.labels is None else result.labels.tolist(),
            "class_names": e.class_names, "code": f"zoo.load({result.model_id!r}).generate({len(result.images)}, seed={result.seed})",
        }, indent=1) + "\n")
    return path


def parse_label(choice: Optional[str]) -> Optional[int]:
    """The class index of a menu entry ('1: malignant' -> 1); None for balanced or unconditional."""
    if not choice or choice == BALANCED:
        return None
    try:
        return int(str(choice).split(":", 1)[0])
    except ValueError:
        raise AppError(f"unknown class {choice!r}") from None


def build(device: str = "cpu") -> Any:
    """The Gradio Blocks of the app."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    gen = Generator(device)
    models = generators()
    if not models:
        raise AppError("the zoo registry has no generator to offer")
    out_dir = Path(tempfile.mkdtemp(prefix="medzoo-app-"))

    def on_model(model_id: str) -> tuple[Any, Any, str]:
        from zoo.registry import get

        e = get(model_id)
        classes = class_choices(model_id)
        info = (f"**{model_id}**: {e.summary or e.family}. {e.resolution}x{e.resolution} px, {e.organ} / {e.modality}, "
                f"trained on {e.dataset}; licence {e.license}.")
        return (gr.update(choices=classes, value=classes[0] if classes else None, visible=bool(classes)),
                gr.update(visible=is_mask_model(model_id), value=None), info)

    def on_generate(model_id: str, label: Optional[str], mask: "np.ndarray | None", seed: float, count: float
                    ) -> tuple[Any, Any, Any, str]:
        try:
            result = gen.run(model_id, parse_label(label), int(seed), int(count), mask)
        except Exception as e:  # the app shows every failure as a message: input errors and model errors alike
            raise gr.Error(f"{type(e).__name__}: {e}" if not isinstance(e, AppError) else str(e)) from None
        zip_path = write_zip(result, out_dir)
        masks = grid_picture(result.masks * 255) if result.masks is not None else None
        what = f"{len(result.images)} images from {model_id}, seed {result.seed}" + (
            ", with their masks" if result.masks is not None else "")
        return grid_picture(result.images), gr.update(value=masks, visible=masks is not None), str(zip_path), what

    first = models[0]
    classes = class_choices(first)
    with gr.Blocks(title="medzoo: try an augmenter", analytics_enabled=False) as demo:
        gr.Markdown("# medzoo: try an augmenter\nPick a zoo model, a class, a seed and a count; **Generate** shows "
                    "the grid, and the zip holds the PNG files (and the masks of mask models). Research use only, "
                    "not for diagnosis.")
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown(models, value=first, label="Model", elem_id="model")
                label = gr.Dropdown(classes, value=classes[0] if classes else None, label="Class", visible=bool(classes),
                                    elem_id="label")
                mask = gr.Image(label=f"Mask (optional; empty: {BANK})", type="numpy", image_mode="L",
                                visible=is_mask_model(first), elem_id="mask", sources=["upload"], height=200,
                                buttons=["fullscreen"])
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="seed")
                count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="Count", elem_id="count")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
                about = gr.Markdown(on_model(first)[2], elem_id="about")
            with gr.Column(scale=2):
                status = gr.Markdown("", elem_id="status")
                grid = gr.Image(label="Images", type="numpy", interactive=False, elem_id="grid", buttons=["fullscreen"])
                masks = gr.Image(label="Masks", type="numpy", interactive=False, visible=False, elem_id="masks",
                                 buttons=["fullscreen"])
                download = gr.File(label="Download (zip)", interactive=False, elem_id="download")
        model.change(on_model, model, [label, mask, about])
        button.click(on_generate, [model, label, mask, seed, count], [grid, masks, download, status])
    demo.out_dir = out_dir  # type: ignore[attr-defined]
    return demo


@app.command("app")
def app_cmd(host: str = typer.Option("127.0.0.1", help="address to listen on (127.0.0.1: this machine only)"),
            port: int = typer.Option(7860, help="port to listen on"),
            device: str = typer.Option("cpu", help="torch device for generation")) -> None:
    """Open a local web app to pick a zoo generator, class, mask, seed and count, see the grid and download a zip."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: `medzoo app` needs Gradio: pip install 'medzoo[app]'", file=sys.stderr)
        raise typer.Exit(2) from None
    demo = build(device)
    print(f"medzoo app on http://{host}:{port} (Ctrl+C stops it)", flush=True)
    demo.launch(server_name=host, server_port=port, share=False, ssr_mode=False, quiet=True,
                allowed_paths=[str(demo.out_dir)], footer_links=[])
