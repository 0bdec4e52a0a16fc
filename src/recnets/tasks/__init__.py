"""Tasks: data, losses, metrics and trivial baselines."""
