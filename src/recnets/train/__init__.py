"""Training: the loop, clipping, checkpoints, logging."""
