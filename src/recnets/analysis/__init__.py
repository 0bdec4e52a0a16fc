"""Diagnostics and reference gradients (Book: 10.2.2, 10.7)."""
