"""Tests of recnets.train: the loop, clipping, checkpoints, resume and the run folder."""
