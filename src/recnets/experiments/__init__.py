"""Reproduced experiments, one module each."""
