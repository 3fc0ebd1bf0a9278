"""Code shared by every family: data loading, the training loop, checkpoints and export."""
