"""Diagnostics and reference gradients (Book: 10.2.2, 10.7)."""
from recnets.analysis.bptt import BPTTGradients, bptt_gradients

__all__ = ["BPTTGradients", "bptt_gradients"]
