"""Al-Dhabyani et al. 2019 (IJACSA 10(5), the paper that released BUSI): BUSI normal / benign / malignant with a small
CNN, trained without augmentation, with traditional augmentation, with GAN images, and with both (their Table II).

What the paper states (pp. 621-625): 70/15/15% train/validation/test, the validation set for tuning and early stopping;
the CNN is "AlexNet": a convolution and max-pooling layer, repeated once, then two fully connected layers, softmax,
Adam lr 0.0001, 60 epochs with early stopping, dropout 0.30; traditional augmentation by horizontal flip, brightness,
scaling and zooming, each method doubling the images; a DAGAN (WGAN-GP) per class, 700 epochs, 5,000 images per class
at 192x160, added to the data. Not stated: filter counts and kernel sizes, batch size, the augmentation ranges, and
whether the GAN and the augmented images stayed out of the validation and test sets.

    python -m reproductions.evaluate.papers.aldhabyani2019 [--seeds 0,1,2] [--threads 2]
"""
from __future__ import annotations

import torch

from reproductions.evaluate.papers.protocol import CNN, Setting, augmented_copies, concat

PER_CLASS = 500  # synthetic images per class (the paper: 5,000); sized for two CPU cores


def classical(images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One copy of every image per method (each method doubles the set): horizontal flip, brightness x0.8-1.2,
    scaling down to 0.8-0.95 (zero border) and zooming in to 1.05-1.2."""
    from torchvision.transforms import v2

    methods = [v2.RandomHorizontalFlip(p=1.0), v2.ColorJitter(brightness=0.2),
               v2.RandomAffine(degrees=0, scale=(0.8, 0.95)), v2.RandomAffine(degrees=0, scale=(1.05, 1.2))]
    out = torch.cat([augmented_copies(images, m, gen) for m in methods])
    return out, labels.repeat(len(methods))


def synthetic_counts(labels: torch.Tensor, num_classes: int) -> dict[int, int]:
    """PER_CLASS generated images of every class."""
    return {k: PER_CLASS for k in range(num_classes)}


def both(real: dict[str, torch.Tensor], classical_set: dict[str, torch.Tensor], synthetic: dict[str, torch.Tensor]
         ) -> dict[str, torch.Tensor]:
    """Real, augmented and generated images together."""
    return concat(real, classical_set, synthetic)


SETTING = Setting(
    paper="aldhabyani2019-gan-breast-ultrasound-augmentation",
    classifier="CNN (AlexNet)",
    dataset="busi",
    resolution=128,
    cnn=CNN(convs=(32, 64), kernel=5, conv_stride=2, dense=(128,), dropout=0.3),
    lr=1e-4,
    epochs=60,
    batch_size=32,
    paper_selection="val",
    patience=10,
    generator="fastgan.busi_128",
    classical=classical,
    synthetic_counts=synthetic_counts,
    both=both,
    stated=("BUSI, 3 classes; 70/15/15% train/validation/test; validation for tuning and early stopping",
            "CNN: (convolution, max-pooling) x 2, two fully connected layers, softmax; Adam lr 0.0001; 60 epochs with "
            "early stopping; dropout 0.30",
            "traditional: horizontal flip, brightness, scaling, zooming, each doubling the images",
            "DAGAN (WGAN-GP) per class, 5,000 images per class at 192x160"),
    ours=("medzoo's BUSI split: 543/81/156 images (70/10/20%), stratified, near-duplicates on one side",
          "128x128; filters 32 and 64 (5x5, stride 2), dense 128, batch 32: not stated in the paper",
          "early stopping after 10 epochs without a better validation accuracy (patience not stated)",
          f"the class-conditional fastgan.busi_128 (trained on our train split only), {PER_CLASS} images per class",
          "augmentation ranges not stated: brightness x0.8-1.2, scaling 0.8-0.95, zooming 1.05-1.2",
          "3 seeds"),
    extra={"per_class": PER_CLASS},
)



if __name__ == "__main__":
    from reproductions.evaluate.papers.protocol import cli

    cli(SETTING)
