"""Manaf & Mughal 2025 (arXiv 2507.09759): paediatric pneumonia on the Guangzhou chest X-rays, a small CNN with the
normal class balanced by traditional augmentation, by DCGAN images, or by both.

What their code states (github.com/AbdulManaf12/Pediatric-Chest-Pneumonia-Classification, README and
notebooks/Project.ipynb): 148x148 grey images; Conv(32, 3x3) -> MaxPool -> BatchNorm -> Conv(64, 3x3) -> MaxPool ->
Dense(1, sigmoid), Adam (Keras default lr 0.001), batch 132, 15 epochs; the normal training images augmented offline
(rotation 35 degrees, shifts 0.1 / 0.08, shear 0.2, zoom 0.2) or replaced by 2,534 DCGAN images until the classes
balance; every configuration chosen by its accuracy on the official test split.

    python -m reproductions.evaluate.papers.manaf2025 [--seeds 0,1,2] [--threads 2]
"""
from __future__ import annotations

import torch

from reproductions.evaluate.papers.protocol import CNN, Setting, augmented_copies, concat

NORMAL, PNEUMONIA = 0, 1


def _missing(labels: torch.Tensor) -> int:
    return int((labels == PNEUMONIA).sum() - (labels == NORMAL).sum())


def classical(images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """As many augmented normal images as the normal class lacks, each from a normal image drawn at random, with the
    paper's Keras ImageDataGenerator ranges (rotation 35 degrees, shifts 0.1 / 0.08 of width / height, shear 0.2
    degrees, zoom 0.8-1.2, here isotropic)."""
    from torchvision.transforms import v2

    aug = v2.RandomAffine(degrees=35, translate=(0.1, 0.08), shear=0.2, scale=(0.8, 1.2))
    normal = images[labels == NORMAL]
    out = augmented_copies(normal[torch.randint(len(normal), (max(0, _missing(labels)),), generator=gen)], aug, gen)
    return out, torch.full((len(out),), NORMAL, dtype=torch.long)


def synthetic_counts(labels: torch.Tensor, num_classes: int) -> dict[int, int]:
    """Generated normal images until the classes balance (their 2,534 DCGAN images did the same)."""
    return {NORMAL: max(0, _missing(labels))}


def both(real: dict[str, torch.Tensor], classical_set: dict[str, torch.Tensor], synthetic: dict[str, torch.Tensor]
         ) -> dict[str, torch.Tensor]:
    """Half the missing normal images from each source, so that the classes still balance."""
    h = len(classical_set["labels"]) // 2
    return concat(real, {k: v[:h] for k, v in classical_set.items()},
                {k: v[: len(synthetic["labels"]) - h] for k, v in synthetic.items()})


SETTING = Setting(
    paper="2025-ai-enhanced-pediatric-pneumonia-detection-cnn-gan",
    classifier="CNN",
    dataset="chestxray",
    resolution=128,
    cnn=CNN(convs=(32, 64), kernel=3, batch_norm=(True, False)),
    lr=1e-3,
    epochs=15,
    batch_size=132,
    paper_selection="test",
    bf16=True,
    generator="fastgan.chestxray_128",
    classical=classical,
    synthetic_counts=synthetic_counts,
    both=both,
    stated=("official test split (624 images); validation 20% of the train folder",
            "148x148 grey; Conv32-MaxPool-BatchNorm-Conv64-MaxPool-Dense(1, sigmoid); Adam lr 0.001; batch 132; 15 epochs",
            "normal training images augmented offline (rotation 35, shifts 0.1/0.08, shear 0.2, zoom 0.2) to balance",
            "2,534 DCGAN normal images at 148x148 to balance; configurations chosen on test accuracy"),
    ours=("medzoo's split: official test kept, validation 10% of train (stratified, near-duplicates together)",
          "128x128 (the resolution of the zoo's chest X-ray generator), two-way softmax instead of one sigmoid",
          "the class-conditional fastgan.chestxray_128 (trained on our train split only) instead of their DCGAN",
          "the combined arm: half the missing normals from each source (theirs reached 5,000 per class, unexplained)",
          "isotropic zoom; Keras zooms each axis on its own",
          "3 seeds; their test-selected figure beside the validation-selected one",
          "bf16 autocast with channels-last tensors, to fit 21 runs on 2 CPU cores (their Keras ran in fp32)"),
)



if __name__ == "__main__":
    from reproductions.evaluate.papers.protocol import cli

    cli(SETTING)
